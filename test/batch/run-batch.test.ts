import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { QualityGateError } from '../../functions/batch/quality-gates.ts';
import { runBatchRange, scheduledDays } from '../../functions/batch/run-batch.ts';
import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { readPublished } from '../../functions/pipeline/batch-published.ts';
import { dataset } from '../../functions/pipeline/datasets.ts';
import { writeDatasetLandingExport, writeLandingExport } from '../../local/landing-export.ts';
import { parquetRows, testDeps, writeJsonlExport } from '../support/lake.ts';
import { order } from '../support/orders.ts';
import { useTempDirs } from '../support/temp-dir.ts';

const DAY = '2026-11-20';
const tempDir = useTempDirs();

async function publishedRows(dir: string, day = DAY) {
  const { index } = await readPublished(testDeps(dir).store);
  const entry = index.days[day];
  if (!entry) return undefined;
  return {
    minutes: await parquetRows(path.join(dir, entry.files['sales_minute'] ?? ''), 'window_start, product_id'),
    daily: await parquetRows(path.join(dir, entry.files['daily_sales'] ?? ''), 'product_id'),
  };
}

describe('batch layer', () => {
  it('re-running a day or overlapping backfills never double counts', async () => {
    // Prepare
    const dir = tempDir();
    const deps = testDeps(dir);
    for (const day of ['2026-11-18', '2026-11-19', DAY]) {
      await writeLandingExport({ day, orders: 500, seed: 7 }, deps.store);
    }
    // Act
    await runBatchDay({ day: DAY }, deps);
    const once = await publishedRows(dir);
    await runBatchDay({ day: DAY }, deps);
    await Promise.all([
      runBatchRange({ days: ['2026-11-18', '2026-11-19', DAY], force: true, concurrency: 3 }, deps),
      runBatchRange({ days: ['2026-11-19', DAY], force: true, concurrency: 2 }, deps),
    ]);
    // Assess
    const again = await publishedRows(dir);
    expect(again).toEqual(once);
    const totalOrders = once?.daily.reduce((sum, row) => sum + Number(row['orders']), 0);
    expect(totalOrders).toBe(500);
    const { index } = await readPublished(deps.store);
    expect(Object.keys(index.days).sort()).toEqual(['2026-11-18', '2026-11-19', DAY]);
  });

  it('quarantines 5 % malformed rows with reasons and publishes the rest', async () => {
    const dir = tempDir();
    const deps = testDeps(dir);
    const good = Array.from({ length: 95 }, (_, i) =>
      order({ order_id: `o${i}`, event_time: `${DAY}T10:${String(i % 60).padStart(2, '0')}:00Z` }),
    );
    const bad = [
      '{"order_id": "broken',
      order({ order_id: 'b1', quantity: -2 }),
      order({ order_id: 'b2', unit_price: '12.345' }),
      order({ order_id: 'b3', event_time: '2026-11-19T23:59:59Z' }),
      order({ order_id: 'b4', product_id: '' }),
    ];
    writeJsonlExport(dir, DAY, 'orders.jsonl', [...good.slice(0, 50), ...bad, ...good.slice(50)]);

    const report = await runBatchDay({ day: DAY }, deps);

    expect(report.status).toBe('published');
    expect(report.counts).toMatchObject({ received: 100, valid: 95, quarantined: 5, orders: 95 });
    const quarantined = readFileSync(path.join(dir, report.quarantineKey ?? ''), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { reasons: string[]; raw: string; record_ref: string });
    expect(quarantined.map((q) => q.reasons)).toEqual([
      ['record: not valid JSON'],
      ['quantity: must be greater than 0'],
      ['unit_price: more than 2 decimal places'],
      ['event_time: not in the export day 2026-11-20'],
      ['product_id: required'],
    ]);
    expect(quarantined[0]?.raw).toBe('{"order_id": "broken');
    expect(quarantined[0]?.record_ref).toBe(`landing/orders/dt=${DAY}/orders.jsonl:51`);
    const rows = await publishedRows(dir);
    expect(rows?.daily.reduce((sum, row) => sum + Number(row['orders']), 0)).toBe(95);
  });

  it('a zero-row day publishes nothing and names the gate', async () => {
    const dir = tempDir();
    const deps = testDeps(dir);
    writeJsonlExport(dir, DAY, 'orders.jsonl', []);

    const run = runBatchDay({ day: DAY }, deps);

    await expect(run).rejects.toThrow(QualityGateError);
    await expect(run).rejects.toThrow('zero_rows: 0 valid orders from 0 records for 2026-11-20');
    expect(await publishedRows(dir)).toBeUndefined();
  });

  it('a 4x row-count spike publishes nothing unless forced', async () => {
    const dir = tempDir();
    const deps = testDeps(dir);
    for (const day of ['2026-11-17', '2026-11-18', '2026-11-19']) {
      await writeLandingExport({ day, orders: 100, seed: 1 }, deps.store);
      await runBatchDay({ day }, deps);
    }
    await writeLandingExport({ day: DAY, orders: 400, seed: 1 }, deps.store);

    const run = runBatchDay({ day: DAY }, deps);

    await expect(run).rejects.toThrow(
      'row_count_spike: 400 orders vs 3x the trailing 3-day median 100 (limit 300)',
    );
    expect(await publishedRows(dir)).toBeUndefined();
    const forced = await runBatchDay({ day: DAY, thresholds: { force: true } }, deps);
    expect(forced.status).toBe('published');
    expect(forced.counts.orders).toBe(400);
  });

  it('a malformed share above the limit publishes nothing', async () => {
    const dir = tempDir();
    const deps = testDeps(dir);
    await writeLandingExport(
      { day: DAY, orders: 400, seed: 3, malformedShare: 0.3, format: 'csv' },
      deps.store,
    );

    await expect(runBatchDay({ day: DAY }, deps)).rejects.toThrow(
      /malformed_share: \d+ of 400 records invalid/,
    );
    expect(await publishedRows(dir)).toBeUndefined();
  });

  it('an export missing required columns fails the schema gate', async () => {
    const dir = tempDir();
    const deps = testDeps(dir);
    await deps.store.put(`landing/orders/dt=${DAY}/orders.csv`, 'order_id,product_id\no1,p1\n');

    await expect(runBatchDay({ day: DAY }, deps)).rejects.toThrow(
      `schema: landing/orders/dt=${DAY}/orders.csv lacks user_id, quantity, unit_price, event_time`,
    );
  });

  it('Parquet, CSV and JSONL exports of the same orders produce identical views', async () => {
    const results = [];
    for (const format of ['parquet', 'csv', 'jsonl'] as const) {
      const dir = tempDir();
      const deps = testDeps(dir);
      await writeLandingExport({ day: DAY, orders: 2000, seed: 11, format }, deps.store);
      await runBatchDay({ day: DAY }, deps);
      results.push(await publishedRows(dir));
    }
    expect(results[0]?.minutes.length).toBeGreaterThan(500);
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
  });

  it('keeps CSV lines that cannot be parsed, in quarantine', async () => {
    const dir = tempDir();
    const deps = testDeps(dir);
    const header = 'event_id,order_id,user_id,product_id,quantity,unit_price,currency,event_time';
    const lines = Array.from({ length: 40 }, (_, i) => `e${i},o${i},u1,p1,1,2.50,USD,${DAY}T08:00:00Z`);
    lines.splice(10, 0, 'e-bad,o-bad,"unterminated,1');
    await deps.store.put(`landing/orders/dt=${DAY}/orders.csv`, [header, ...lines].join('\n') + '\n');

    const report = await runBatchDay({ day: DAY }, deps);

    expect(report.counts.orders).toBe(40);
    expect(report.counts).toMatchObject({ received: 41, quarantined: 1 });
    const quarantined = readFileSync(path.join(dir, report.quarantineKey ?? ''), 'utf8');
    expect(JSON.parse(quarantined).reasons).toEqual(['record: malformed CSV line (missing columns)']);
  });

  it('backfill skips unchanged days, so a rerun after a crash resumes', async () => {
    const dir = tempDir();
    const deps = testDeps(dir);
    const days = ['2026-11-15', '2026-11-16', '2026-11-17'];
    for (const day of days) await writeLandingExport({ day, orders: 50, seed: 2 }, deps.store);
    // The "crash": the first attempt only got through the first day.
    await runBatchRange({ days: days.slice(0, 1) }, deps);

    const progress: string[] = [];
    const result = await runBatchRange(
      { days, onProgress: ({ outcome }) => progress.push(`${outcome.day}:${outcome.status}`) },
      deps,
    );

    expect(result).toMatchObject({ published: 2, skipped: 1, failed: 0 });
    expect(progress.sort()).toEqual(['2026-11-15:skipped', '2026-11-16:published', '2026-11-17:published']);
  });

  it("backfill skips a day whose models read its neighbours until its own or a neighbour's export changes", async () => {
    // Prepare
    const dir = tempDir();
    const deps = testDeps(dir);
    const clicks = dataset('clicks');
    const days = ['2026-11-15', '2026-11-16', '2026-11-17'];
    for (const day of days)
      await writeDatasetLandingExport({ dataset: clicks, day, rows: 200, seed: 2 }, deps.store);
    const statuses = async () =>
      (await runBatchRange({ days, dataset: 'clicks' }, deps)).outcomes.map((o) => `${o.day}:${o.status}`);

    // Act
    const first = await statuses();
    const again = await statuses();
    await writeDatasetLandingExport(
      { dataset: clicks, day: '2026-11-17', rows: 30, seed: 5, name: 'late.jsonl', format: 'jsonl' },
      deps.store,
    );
    const afterLateExport = await statuses();

    // Assess
    expect(first).toEqual(['2026-11-15:published', '2026-11-16:published', '2026-11-17:published']);
    expect(again).toEqual(['2026-11-15:skipped', '2026-11-16:skipped', '2026-11-17:skipped']);
    expect(afterLateExport).toEqual(['2026-11-15:skipped', '2026-11-16:published', '2026-11-17:published']);
  });

  it('the scheduled run takes yesterday and every changed day in the look-back', async () => {
    const dir = tempDir();
    const deps = testDeps(dir);
    for (const day of ['2026-11-01', '2026-11-17', '2026-11-19']) {
      await writeLandingExport({ day, orders: 10, seed: 2 }, deps.store);
    }
    const days = await scheduledDays(new Date('2026-11-21T02:00:00Z'), 7, deps);
    expect(days).toEqual(['2026-11-17', '2026-11-19', '2026-11-20']);

    const result = await runBatchRange({ days }, deps);
    expect(result.outcomes.map((o) => [o.day, o.status])).toEqual([
      ['2026-11-17', 'published'],
      ['2026-11-19', 'published'],
      ['2026-11-20', 'failed'],
    ]);
    expect(result.outcomes[2]?.detail).toContain('zero_rows');
    // Incremental: nothing changed, so the next scheduled run re-processes only the failing day.
    const rerun = await runBatchRange({ days }, deps);
    expect(rerun).toMatchObject({ published: 0, skipped: 2, failed: 1 });
    // A changed export is picked up again.
    await writeLandingExport(
      { day: '2026-11-17', orders: 12, seed: 9, name: 'late-corrections.parquet' },
      deps.store,
    );
    const changed = await runBatchRange({ days }, deps);
    expect(changed.outcomes.find((o) => o.day === '2026-11-17')?.status).toBe('published');
  });
});
