import { describe, expect, it } from 'vitest';
import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { reconcile } from '../../functions/reconcile/reconcile.ts';
import { querySales } from '../../functions/serving/sales.ts';
import { compactRealtime } from '../../functions/stream/compaction.ts';
import { consumeMicroBatch } from '../../functions/stream/micro-batch.ts';
import { testDeps, writeJsonlExport } from '../support/lake.ts';
import { useTempDirs } from '../support/temp-dir.ts';
import { makeOrders, reconcileDeps } from './lake-builder.ts';

const tempDir = useTempDirs();
const D1 = '2026-11-19';
const D2 = '2026-11-20';
const NOW = new Date('2026-11-21T03:00:00Z');

/** `o-retry`: three copies on D2 (14:05, 09:30, 09:30 with another event id) and one on D1; plus 20 other orders. */
function scenario() {
  const others = makeOrders(20, { day: D2, hours: [8, 12, 16] });
  const base = { ...others[0], order_id: 'o-retry', product_id: 'p-x', quantity: 2, unit_price: '5.00' };
  const copies = {
    lateHour: { ...base, event_id: 'e-late', event_time: `${D2}T14:05:00Z` },
    earliest: { ...base, event_id: 'e-b', event_time: `${D2}T09:30:00Z` },
    tie: { ...base, event_id: 'e-a', event_time: `${D2}T09:30:00Z`, product_id: 'p-tie' },
    previousDay: { ...base, event_id: 'e-d1', event_time: `${D1}T23:50:00Z` },
  };
  return { others, copies };
}

describe('one dedup rule in every layer: per UTC day, the earliest copy wins', () => {
  it('copies in different hours and on two days, arriving out of order, count once per day in batch and realtime', async () => {
    // Prepare: the latest copy arrives first, in its own micro-batch; the previous day's copy arrives last.
    const dir = tempDir();
    const deps = testDeps(dir, NOW);
    const { others, copies } = scenario();
    const send = async (id: string, bodies: object[]) =>
      consumeMicroBatch(
        {
          messages: bodies.map((b, i) => ({ messageId: `${id}-${i}`, body: JSON.stringify(b), sentAt: NOW })),
        },
        deps,
      );
    await send('a', [copies.lateHour, ...others.slice(0, 10)]);
    await compactRealtime(deps, { now: NOW, days: [D1, D2] });
    await send('b', [copies.tie, ...others.slice(10)]);
    await send('c', [copies.earliest]);
    await send('d', [copies.previousDay]);
    await compactRealtime(deps, { now: NOW, days: [D1, D2] });
    writeJsonlExport(dir, D2, 'orders.jsonl', [copies.lateHour, copies.tie, ...others, copies.earliest]);
    writeJsonlExport(dir, D1, 'orders.jsonl', [copies.previousDay]);
    const range = {
      start: new Date(`${D1}T00:00:00Z`),
      end: new Date(`${D2}T23:59:00Z`),
      granularity: 'hour' as const,
    };

    // Act
    const realtime = await querySales({ ...range, groupBy: 'product' }, deps);
    await runBatchDay({ day: D1 }, deps);
    const report = await runBatchDay({ day: D2, thresholds: { force: true } }, deps);
    const batch = await querySales({ ...range, groupBy: 'product' }, deps);
    const { record } = await reconcile({ now: NOW, lookbackDays: 3 }, reconcileDeps(deps.store));

    // Assess: on D2 the 09:30 copy wins, and of the two 09:30 copies the smaller event_id (e-a, product p-tie).
    for (const answer of [realtime, batch]) {
      const retry = answer.rows.filter((r) => r.product_id === 'p-tie' || r.product_id === 'p-x');
      expect(retry).toEqual([
        expect.objectContaining({ window_start: `${D1}T23:00:00Z`, product_id: 'p-x', orders: 1 }),
        expect.objectContaining({ window_start: `${D2}T09:00:00Z`, product_id: 'p-tie', orders: 1 }),
      ]);
      expect(answer.totals.orders).toBe(22);
    }
    expect(batch.segments.map((s) => s.source)).toEqual(['batch']);
    expect(report.counts).toMatchObject({ received: 23, orders: 21, duplicates: 2 });
    expect(report.cross_day_duplicates).toEqual({ [D1]: 1 });
    const day2 = record.days.find((d) => d.day === D2);
    expect(day2?.after.max_abs_deviation).toBe('0.000000');
    expect(day2?.before.max_abs_deviation).toBe('0.000000');
    expect(day2?.explanation.cross_day_duplicates).toEqual({ [D1]: 1 });
    expect(day2?.explanation.summary).toContain(`1 order_id(s) also counted on ${D1}`);
    expect(record.days.find((d) => d.day === D1)?.after.max_abs_deviation).toBe('0.000000');
  });
});
