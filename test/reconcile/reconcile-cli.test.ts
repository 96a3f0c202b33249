import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ReconciliationRun } from '../../functions/reconcile/run-record.ts';
import type { ReconciliationTrend } from '../../functions/reconcile/trend.ts';
import { twinflow } from '../support/cli.ts';
import { testDeps } from '../support/lake.ts';
import { useTempDirs } from '../support/temp-dir.ts';
import { DAY, makeOrders, NOW, publishBatch, streamIn } from './lake-builder.ts';

const tempDir = useTempDirs();

describe('twinflow reconcile CLI', () => {
  it('prints a readable summary, the record with --json, and the trend', async () => {
    // Prepare: the stream missed 5 of 50 orders.
    const lake = tempDir();
    const deps = testDeps(lake, NOW);
    const orders = makeOrders(50);
    await publishBatch(lake, deps, orders);
    await streamIn(deps, orders.slice(0, 45), 15);

    // Act
    const text = await twinflow('reconcile', '--lake', lake, '--now', '2026-11-21T03:00:00Z');
    const json = await twinflow(
      'reconcile',
      '--lake',
      lake,
      '--now',
      '2026-11-21T04:00:00Z',
      '--json',
      '--threshold',
      '0.5',
    );
    const trend = await twinflow(
      'reconcile',
      'trend',
      '--lake',
      lake,
      '--days',
      '1',
      '--now',
      '2026-11-21T05:00:00Z',
      '--json',
    );
    const trendText = await twinflow(
      'reconcile',
      'trend',
      '--days',
      '1',
      '--lake',
      lake,
      '--now',
      '2026-11-21T05:00:00Z',
    );

    // Assess
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('DEVIATION');
    expect(text.stdout).toContain(`${DAY}  batch 50 orders`);
    expect(text.stdout).toContain('5 orders in batch are missing from the stream archive');
    expect(text.stderr).toContain('reconciliation alert');
    expect(json.code).toBe(0);
    const record = JSON.parse(json.stdout) as ReconciliationRun;
    expect(record.threshold).toBe('0.500000');
    expect(record.status).toBe('ok');
    expect(record.days[0]?.explanation.missing_from_stream.count).toBe(5);
    expect(trend.code).toBe(0);
    const body = JSON.parse(trend.stdout) as ReconciliationTrend;
    expect(body.runs.map((r) => r.status)).toEqual(['deviation', 'ok']);
    expect(body.latest?.run_id).toBe(record.run_id);
    expect(trendText.stdout).toMatch(/2026-11-21T03:00:00.000Z\s+deviation/);
  });

  it('rejects bad flags with a message naming the flag (exit 2, nothing written)', async () => {
    const cases: [string[], RegExp][] = [
      [['reconcile', '--now', 'yesterday'], /--now must be an ISO-8601 instant/],
      [['reconcile', '--threshold', '0'], /--threshold must be a fraction > 0/],
      [['reconcile', '--lookback-days', '40'], /--lookback-days must be a whole number 0\.\.31/],
      [['reconcile', 'trend', '--days', '91'], /--days must be a whole number 1\.\.90/],
    ];
    const lake = tempDir();
    // In parallel: each case is a separate process.
    const results = await Promise.all(cases.map(([args]) => twinflow(...args, '--lake', lake)));
    for (const [i, result] of results.entries()) {
      expect(result.code, cases[i]?.[0].join(' ')).toBe(2);
      expect(result.stderr).toMatch(cases[i]?.[1] ?? /never/);
    }
    expect(existsSync(path.join(lake, 'reconciliation'))).toBe(false);
  });
});
