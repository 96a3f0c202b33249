import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { testDeps, writeJsonlExport } from '../support/lake.ts';
import { order } from '../support/orders.ts';
import { useTempDirs } from '../support/temp-dir.ts';

const DAY = '2026-11-20';
const tempDir = useTempDirs();

/** Orders at distinct minutes of DAY, so every one is valid and counted. */
function orders(n: number, prefix = 'o'): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) =>
    order({ order_id: `${prefix}${i}`, event_time: `${DAY}T10:${String(i % 60).padStart(2, '0')}:00Z` }),
  );
}

describe('batch exports as real producers write them', () => {
  it('a UTF-8 BOM at the start of a JSONL export keeps its first order', async () => {
    // Prepare
    const dir = tempDir();
    const file = writeJsonlExport(dir, DAY, 'orders.jsonl', orders(20));
    writeFileSync(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), readFileSync(file)]));
    // Act
    const report = await runBatchDay({ day: DAY }, testDeps(dir));
    // Assess
    expect(report.counts).toMatchObject({ received: 20, valid: 20, quarantined: 0, orders: 20 });
    expect(report.quarantineKey).toBeNull();
  });
});
