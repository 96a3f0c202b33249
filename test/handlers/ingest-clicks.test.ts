import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StreamQuarantineRecord } from '../../functions/stream/micro-batch.ts';
import { twinflow } from '../support/cli.ts';
import { useTempDirs } from '../support/temp-dir.ts';

/**
 * events/sqs-clicks.json through the clicks ingest function as an operator runs it (`twinflow invoke ingest-clicks`,
 * a fresh worker told TWINFLOW_DATASET=clicks), then compaction and the served funnel and sessions. Seven
 * messages: a page view without a product (valid), a product view without one (poison), a producer retry of a
 * product view (a duplicate) and four other valid clicks.
 */
const tempDir = useTempDirs();
const DAY = '2026-11-21';

/** `twinflow <args> --json`, parsed; fails the test with stderr when the command fails. */
async function json(...args: string[]): Promise<Record<string, unknown>> {
  const result = await twinflow(...args);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

const query = (data: string, model: string, ...more: string[]) =>
  json(
    'query',
    '--model',
    model,
    '--start',
    DAY,
    '--granularity',
    'day',
    ...more,
    '--json',
    '--lake',
    path.join(data, 'lake'),
  );

describe('ingest-clicks (events/sqs-clicks.json)', () => {
  it('acknowledges every message, quarantines the product view without a product, counts the retry once', async () => {
    // Prepare
    const data = tempDir();
    const lake = path.join(data, 'lake');

    // Act
    const response = await json(
      'invoke',
      'ingest-clicks',
      '--event',
      'events/sqs-clicks.json',
      '--data',
      data,
    );
    const funnel = await query(data, 'funnel_minute', '--group-by', 'product_id');

    // Assess: poison records are acknowledged (quarantined with their reason), never retried.
    expect(response).toEqual({ batchItemFailures: [] });
    const quarantineDir = path.join(lake, 'quarantine', 'clicks', `dt=${DAY}`);
    const quarantined = readdirSync(quarantineDir).flatMap((file) =>
      readFileSync(path.join(quarantineDir, file), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as StreamQuarantineRecord),
    );
    expect(quarantined.map((r) => [JSON.parse(r.raw).event_id, r.reasons])).toEqual([
      ['clk-0004', ['product_id: required unless event_type is page_view']],
    ]);
    const statsDir = path.join(lake, 'state', 'stream', 'clicks', 'batches', `dt=${DAY}`);
    const [stats] = readdirSync(statsDir).map((file) =>
      JSON.parse(readFileSync(path.join(statsDir, file), 'utf8')),
    );
    expect(stats).toMatchObject({
      hours: { '10': { valid: 6, orders: 5, duplicates: 1, late: 0 } },
      quarantined: { hour: '10', count: 1 },
    });
    // The page view is valid but outside the funnel; the retried product view counts once.
    expect(funnel['rows']).toEqual([
      expect.objectContaining({
        product_id: 'p-1',
        product_views: 1,
        add_to_carts: 1,
        checkouts: 0,
        purchases: 1,
      }),
      expect.objectContaining({ product_id: 'p-2', product_views: 1, add_to_carts: 0, purchases: 0 }),
    ]);
    expect(funnel['totals']).toMatchObject({
      product_views: 2,
      add_to_carts: 1,
      view_to_purchase: '0.500000',
    });
    // sessions_minute is compaction-only: the consumer wrote no partial of it.
    expect(readdirSync(path.join(lake, 'views', 'realtime'))).toEqual(['funnel_minute']);
  });

  it('compaction then serves the sessions of the clicks: one converted, one bounced', async () => {
    // Prepare
    const data = tempDir();
    await json('invoke', 'ingest-clicks', '--event', 'events/sqs-clicks.json', '--data', data);

    // Act
    const compaction = await json(
      'invoke',
      'compact-realtime',
      '--event',
      'events/scheduled-compaction.json',
      '--data',
      data,
    );
    const sessions = await query(data, 'sessions_minute');

    // Assess: user-1's four clicks are one session ending in a purchase; user-2's one valid click bounced.
    expect(compaction['days']).toEqual([expect.objectContaining({ dataset: 'clicks', day: DAY, orders: 5 })]);
    expect(sessions['totals']).toEqual({
      sessions: 2,
      bounced_sessions: 1,
      converted_sessions: 1,
      unique_users: 2,
      bounce_rate: '0.500000',
      session_conversion: '0.500000',
    });
  });
});
