import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBatchRange } from '../../functions/batch/run-batch.ts';
import { dataset } from '../../functions/pipeline/datasets.ts';
import { lake } from '../../functions/pipeline/lake-layout.ts';
import { reconcile } from '../../functions/reconcile/reconcile.ts';
import type { ReconciliationRun } from '../../functions/reconcile/run-record.ts';
import { compactRealtime } from '../../functions/stream/compaction.ts';
import { writeDatasetLandingExport } from '../../local/landing-export.ts';
import { testDeps, writeJsonlExport } from '../support/lake.ts';
import { useTempDirs } from '../support/temp-dir.ts';
import { DAY, fixedDlq, makeOrders, NOW, publishBatch, reconcileDeps, streamIn } from './lake-builder.ts';

const tempDir = useTempDirs();
const ZERO = '0.000000';

function storedRun(dir: string, key: string): ReconciliationRun {
  return JSON.parse(readFileSync(path.join(dir, key), 'utf8')) as ReconciliationRun;
}

describe('reconcile', () => {
  it('with no faults the deviation is exactly 0 for on-time and late events (DECIMAL money, exact counts)', async () => {
    // Prepare: 400 orders; the stream gets them out of order, the 09:xx ones after 12:xx (late, behind the
    // watermark), some hours compacted and some still partials.
    const dir = tempDir();
    const deps = testDeps(dir, NOW);
    const orders = makeOrders(400);
    await publishBatch(dir, deps, orders);
    const early = orders
      .filter((o) => !o.event_time.includes('T09:'))
      .sort((a, b) => a.event_time.localeCompare(b.event_time));
    const late = orders.filter((o) => o.event_time.includes('T09:'));
    await streamIn(deps, early.slice(0, 200), 25);
    await compactRealtime(deps, { now: NOW, days: [DAY], graceMs: 0 });
    await streamIn(deps, early.slice(200), 25);
    await streamIn(deps, late, 30);

    // Act
    const result = await reconcile({ now: NOW }, reconcileDeps(deps.store, { dlq: fixedDlq(0) }));

    // Assess
    const day = result.record.days.find((d) => d.day === DAY);
    expect(day?.after.totals.batch).toEqual(day?.after.totals.realtime);
    expect(day?.after.totals.batch.orders).toBe(400);
    expect(day?.after.totals.deviation).toEqual({
      orders: ZERO,
      units: ZERO,
      revenue: ZERO,
      revenue_by_currency: { USD: ZERO },
    });
    expect(day?.after.hours.map((h) => h.max_abs_deviation)).toEqual(Array(5).fill(ZERO));
    expect(day?.after.products_compared).toBe(5);
    expect(day?.after.products_deviating).toBe(0);
    expect(day?.after.cells_deviating).toBe(0);
    expect(result.record.max_abs_deviation).toEqual({ before: ZERO, after: ZERO });
    expect(result.deviationRatio).toBe(0);
    expect(result.record.corrections).toEqual([]);
    expect(result.record.alerts).toEqual([]);
    expect(day?.explanation.late).toBe(late.length);
    expect(day?.explanation.missing_from_stream.count).toBe(0);
    expect(day?.explanation.dlq_messages).toBe(0);
    expect(storedRun(dir, result.key)).toEqual(result.record);
    expect(result.key).toBe(lake.reconciliationRun('2026-11-21', result.record.run_id));
  });

  it('a micro-batch lost from the stream is reported for its hour and product, alerted, with the missing orders', async () => {
    // Prepare: hour 10 has 20 orders; a micro-batch of 5 orders of product p-lost never reached the stream
    // (dead-lettered).
    const dir = tempDir();
    const deps = testDeps(dir, NOW);
    const lost = makeOrders(5, { hours: [10], prefix: 'lost', product: 'p-lost' });
    const orders = [...makeOrders(75, { hours: [9, 10, 11] }), ...lost];
    await publishBatch(dir, deps, orders);
    await streamIn(deps, orders.slice(0, 75), 15);
    const rdeps = reconcileDeps(deps.store, { dlq: fixedDlq(5) });

    // Act
    const { record } = await reconcile({ now: NOW, threshold: 0.1 }, rdeps);

    // Assess
    const day = record.days[0];
    expect(day?.day).toBe(DAY);
    const hour10 = day?.after.hours.find((h) => h.hour === '10');
    expect(hour10?.batch.orders).toBe(30);
    expect(hour10?.realtime.orders).toBe(25);
    expect(hour10?.deviation.orders).toBe('-0.166667');
    expect(day?.after.cells[0]).toMatchObject({
      hour: '10',
      product_id: 'p-lost',
      realtime: { orders: 0, units: 0, revenue_by_currency: {} },
      deviation: { orders: '-1.000000', units: '-1.000000', revenue: '-1.000000' },
    });
    expect(day?.explanation.missing_from_stream).toEqual({
      count: 5,
      sample_ids: ['lost-0', 'lost-1', 'lost-2', 'lost-3', 'lost-4'],
      by_hour: { '10': 5 },
    });
    expect(day?.explanation.dlq_messages).toBe(5);
    expect(rdeps.alerts.published).toHaveLength(1);
    const alert = rdeps.alerts.published[0];
    expect(alert?.where).toEqual({ day: DAY, hour: '10', product_id: 'p-lost' });
    expect(alert?.how_much.max_abs_deviation).toBe('1.000000');
    expect(alert?.message).toContain('5 orders in batch are missing from the stream archive');
    expect(alert?.breaches).toContainEqual(expect.objectContaining({ level: 'hour', hour: '10' }));
    expect(record.status).toBe('deviation');
    expect(record.alerts[0]?.alert_id).toBe(alert?.alert_id);
    // The archive lacks these orders too: nothing to recompute from, so no correction is claimed.
    expect(record.corrections).toEqual([]);
  });

  it('a realtime hour short of the archive is recomputed; the record shows before and after', async () => {
    // Prepare: the consumer archived a batch but its partial never landed.
    const dir = tempDir();
    const deps = testDeps(dir, NOW);
    const orders = makeOrders(60, { hours: [9, 10, 11] });
    await publishBatch(dir, deps, orders);
    const results = await streamIn(deps, orders, 12);
    const victim = results[1];
    const partials = Object.keys(victim?.hours ?? {}).map((dayHour) => {
      const [d = '', hh = ''] = dayHour.split('/');
      return lake.realtimePartial(d, hh, victim?.batchId ?? '');
    });
    for (const key of partials) rmSync(path.join(dir, key));
    const rdeps = reconcileDeps(deps.store);

    // Act
    const { record } = await reconcile({ now: NOW }, rdeps);

    // Assess
    const day = record.days[0];
    expect(Number(day?.before.max_abs_deviation)).toBeGreaterThan(0.1);
    expect(day?.explanation.realtime_gaps.map((g) => g.hour)).toEqual(['09', '10', '11']);
    expect(record.corrections.map((c) => [c.kind, c.status, 'hour' in c ? c.hour : ''])).toEqual([
      ['realtime_recompute', 'applied', '09'],
      ['realtime_recompute', 'applied', '10'],
      ['realtime_recompute', 'applied', '11'],
    ]);
    expect(record.corrections[0]).toMatchObject({ served_from: 'batch' });
    expect(record.corrections[0]?.detail).toContain('answered from batch');
    expect(day?.after.max_abs_deviation).toBe(ZERO);
    expect(record.max_abs_deviation.after).toBe(ZERO);
    expect(rdeps.alerts.published).toEqual([]);
    expect(day?.explanation.dlq_messages).toBe('unknown');
  });

  it('a landing export that changes after publish triggers a batch re-run; the next run reports 0', async () => {
    // Prepare: batch published from an incomplete export; the stream has every order.
    const dir = tempDir();
    const deps = testDeps(dir, NOW);
    const orders = makeOrders(100);
    const first = await publishBatch(dir, deps, orders.slice(0, 80));
    await streamIn(deps, orders, 25);
    writeJsonlExport(dir, DAY, 'late-corrections.jsonl', orders.slice(80));
    const rdeps = reconcileDeps(deps.store);

    // Act
    const { record } = await reconcile({ now: NOW }, rdeps);
    const next = await reconcile(
      { now: new Date('2026-11-21T04:00:00Z') },
      reconcileDeps(deps.store, { clock: () => new Date('2026-11-21T04:00:00Z') }),
    );

    // Assess
    const rerun = record.corrections.find((c) => c.kind === 'batch_rerun');
    expect(rerun).toMatchObject({
      day: DAY,
      status: 'published',
      previous_version: first.version,
      reason: `landing export changed since batch run ${first.runId}`,
    });
    expect(rerun?.version).not.toBe(first.version);
    expect(record.days[0]?.before.totals.deviation.orders).toBe('0.250000');
    expect(record.days[0]?.before.totals.batch.orders).toBe(80);
    expect(record.days[0]?.after.totals.batch.orders).toBe(100);
    expect(record.max_abs_deviation.after).toBe(ZERO);
    expect(rdeps.alerts.published).toEqual([]);
    expect(next.record.corrections).toEqual([]);
    expect(next.record.max_abs_deviation).toEqual({ before: ZERO, after: ZERO });
  });

  it("a day whose models read its neighbours (clicks' sessions) is re-run when a neighbour's export changes, and left alone while none does", async () => {
    // Prepare: three published days of clicks, the look-back of NOW.
    const dir = tempDir();
    const deps = testDeps(dir, NOW);
    const clicks = dataset('clicks');
    const days = ['2026-11-18', '2026-11-19', '2026-11-20'];
    for (const day of days)
      await writeDatasetLandingExport({ dataset: clicks, day, rows: 300, seed: 3 }, deps.store);
    await runBatchRange({ dataset: 'clicks', days }, deps);
    const later = new Date('2026-11-21T04:00:00Z');
    const reruns = (record: ReconciliationRun) =>
      record.corrections.filter((c) => c.kind === 'batch_rerun').map((c) => [c.day, c.status]);

    // Act: an hourly run with nothing new, then one after a late export of the last day.
    const unchanged = await reconcile({ now: NOW, model: 'funnel_minute' }, reconcileDeps(deps.store));
    await writeDatasetLandingExport(
      { dataset: clicks, day: '2026-11-20', rows: 40, seed: 4, name: 'late.jsonl', format: 'jsonl' },
      deps.store,
    );
    const changed = await reconcile(
      { now: later, model: 'funnel_minute' },
      reconcileDeps(deps.store, { clock: () => later }),
    );

    // Assess: the day itself and the day before it, whose sessions may end in it; not the day before that.
    expect(reruns(unchanged.record)).toEqual([]);
    expect(reruns(changed.record)).toEqual([
      ['2026-11-19', 'published'],
      ['2026-11-20', 'published'],
    ]);
  });

  it('a changed export that fails its quality gates is re-run once, then left alone until it changes again', async () => {
    const dir = tempDir();
    const deps = testDeps(dir, NOW);
    const orders = makeOrders(40);
    await publishBatch(dir, deps, orders);
    await streamIn(deps, orders, 20);
    writeJsonlExport(dir, DAY, 'broken.jsonl', ['{"order_id": "x', 'not json', '{}']);
    const later = new Date('2026-11-21T04:00:00Z');

    const first = await reconcile({ now: NOW }, reconcileDeps(deps.store));
    const second = await reconcile({ now: later }, reconcileDeps(deps.store, { clock: () => later }));

    expect(first.record.corrections).toEqual([
      expect.objectContaining({
        kind: 'batch_rerun',
        status: 'failed',
        detail: expect.stringMatching(/malformed_share/),
      }),
    ]);
    expect(second.record.corrections).toEqual([
      expect.objectContaining({
        kind: 'batch_rerun',
        status: 'skipped',
        detail: expect.stringMatching(/^these exports failed batch run .*malformed_share/),
      }),
    ]);
    // The published view stays the last good one, and it still agrees with the stream.
    expect(second.record.max_abs_deviation.after).toBe(ZERO);
  });

  it('explains with stream quarantine by reason and skips days without both layers', async () => {
    const dir = tempDir();
    const deps = testDeps(dir, NOW);
    const orders = makeOrders(30);
    await publishBatch(dir, deps, orders);
    await streamIn(
      deps,
      [...orders, '{"order_id": "broken', JSON.stringify({ ...orders[0], order_id: 'neg', quantity: -1 })],
      40,
    );

    const { record } = await reconcile({ now: NOW, lookbackDays: 2 }, reconcileDeps(deps.store));

    expect(record.days.map((d) => d.day)).toEqual([DAY]);
    expect(record.skipped_days).toEqual([
      { day: '2026-11-19', reason: 'batch has not published this day' },
      { day: '2026-11-21', reason: 'batch has not published this day' },
    ]);
    expect(record.days[0]?.explanation.quarantined).toMatchObject({
      records: 2,
      by_reason: { 'record: not valid JSON': 1, 'quantity: must be greater than 0': 1 },
    });
    expect(record.days[0]?.explanation.missing_from_batch.count).toBe(0);
  });

  it('explains orders only the stream has and producer retries removed by compaction', async () => {
    // Prepare: the export lacks 3 orders the stream saw; 4 orders were sent twice by the producer (new event_id)
    const dir = tempDir();
    const deps = testDeps(dir, NOW);
    const orders = makeOrders(30);
    const streamOnly = makeOrders(3, { prefix: 'not-exported', hours: [11] });
    const retries = orders.slice(0, 4).map((o) => ({ ...o, event_id: `${o.event_id}-retry` }));
    await publishBatch(dir, deps, orders);
    await streamIn(deps, [...orders, ...streamOnly], 40);
    await streamIn(deps, retries, 10);
    await compactRealtime(deps, { now: NOW, days: [DAY], graceMs: 0 });

    // Act
    const { record } = await reconcile({ now: NOW }, reconcileDeps(deps.store, { dlq: fixedDlq(0) }));

    // Assess
    const day = record.days.find((d) => d.day === DAY);
    expect(day?.explanation.missing_from_batch.count).toBe(streamOnly.length);
    expect(day?.explanation.missing_from_stream.count).toBe(0);
    expect(day?.explanation.duplicates).toBe(retries.length);
    const totals = day?.before.totals;
    expect(Number(totals?.realtime.orders ?? 0) - Number(totals?.batch.orders ?? 0)).toBe(streamOnly.length);
  });

  it('hours only batch has (the stream started later) are noted as served from batch, not recomputed', async () => {
    const dir = tempDir();
    const deps = testDeps(dir, NOW);
    const orders = makeOrders(50);
    await publishBatch(dir, deps, orders);
    await streamIn(
      deps,
      orders.filter((o) => o.event_time >= `${DAY}T10:00:00Z`),
      25,
    );

    const { record } = await reconcile({ now: NOW, threshold: 0.5 }, reconcileDeps(deps.store));

    expect(record.corrections).toEqual([
      expect.objectContaining({
        kind: 'served_from_batch',
        day: DAY,
        hours: ['08', '09'],
        served_from: 'batch',
      }),
    ]);
    const hours = record.days[0]?.after.hours ?? [];
    expect(hours.map((h) => [h.hour, h.deviation.orders])).toEqual([
      ['08', '-1.000000'],
      ['09', '-1.000000'],
      ['10', '0.000000'],
      ['11', '0.000000'],
      ['12', '0.000000'],
    ]);
    expect(record.days[0]?.after.totals.deviation.orders).toBe('-0.400000');
  });

  it('rejects a threshold or look-back it cannot use, naming it', async () => {
    const deps = reconcileDeps(testDeps(tempDir()).store);
    await expect(reconcile({ now: NOW, threshold: 0 }, deps)).rejects.toThrow(/threshold must be a fraction/);
    await expect(reconcile({ now: NOW, lookbackDays: -1 }, deps)).rejects.toThrow(/lookback days must be/);
    expect(existsSync(path.join(tempDir(), 'reconciliation'))).toBe(false);
  });
});
