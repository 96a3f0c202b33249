import { describe, expect, it } from 'vitest';
import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { readPublished } from '../../functions/pipeline/batch-published.ts';
import { reconcile } from '../../functions/reconcile/reconcile.ts';
import { querySales } from '../../functions/serving/sales.ts';
import { salesWindows } from '../../functions/serving/windows.ts';
import { compactRealtime } from '../../functions/stream/compaction.ts';
import { DAY, makeOrders, NOW, reconcileDeps, streamIn } from '../reconcile/lake-builder.ts';
import { testDeps, writeJsonlExport } from '../support/lake.ts';
import { useTempDirs } from '../support/temp-dir.ts';

const tempDir = useTempDirs();
const at = (iso: string) => new Date(iso);

/** One USD and one JPY order in the same minute and product, plus a second JPY order in the next hour. */
function mixedOrders() {
  const [usd, jpy, jpyLater] = makeOrders(3, { hours: [10, 10, 11], product: 'p-1' });
  return [
    { ...usd, unit_price: '10.00', quantity: 1, currency: 'USD', event_time: `${DAY}T10:00:10Z` },
    { ...jpy, unit_price: '15000.00', quantity: 1, currency: 'JPY', event_time: `${DAY}T10:00:20Z` },
    { ...jpyLater, unit_price: '500.00', quantity: 2, currency: 'JPY', event_time: `${DAY}T11:30:00Z` },
  ] as NonNullable<typeof usd>[];
}

describe('money never mixes currencies', () => {
  it('a 10.00 USD and a 15,000 JPY order are two amounts in every layer, not 15010.00', async () => {
    // Prepare
    const dir = tempDir();
    const deps = testDeps(dir, NOW);
    const orders = mixedOrders();
    await streamIn(deps, orders, 10);
    await compactRealtime(deps, { now: NOW, days: [DAY] });
    const range = { start: at(`${DAY}T00:00:00Z`), end: at(`${DAY}T12:00:00Z`) };

    // Act: realtime only, then batch published for the day
    const realtime = await querySales({ ...range, granularity: 'hour' }, deps);
    writeJsonlExport(dir, DAY, 'orders.jsonl', orders);
    const report = await runBatchDay({ day: DAY }, deps);
    const batch = await querySales({ ...range, granularity: 'hour' }, deps);
    const byDay = await querySales({ ...range, granularity: 'day' }, deps);
    const windows = await salesWindows({ at: at(`${DAY}T10:00:30Z`), sizes: [1] }, deps);

    // Assess
    for (const answer of [realtime, batch]) {
      expect(answer.totals).toEqual({
        orders: 3,
        units: 4,
        revenue_by_currency: { JPY: '16000.00', USD: '10.00' },
      });
      expect(answer.rows).toEqual([
        {
          window_start: `${DAY}T10:00:00Z`,
          orders: 2,
          units: 2,
          revenue_by_currency: { JPY: '15000.00', USD: '10.00' },
        },
        {
          window_start: `${DAY}T11:00:00Z`,
          orders: 1,
          units: 2,
          revenue: '1000.00',
          revenue_by_currency: { JPY: '1000.00' },
        },
      ]);
    }
    expect(realtime.segments.map((s) => s.source)).toEqual(['realtime']);
    expect(batch.segments.map((s) => s.source)).toEqual(['batch']);
    expect(byDay.rows[0]?.revenue_by_currency).toEqual({ JPY: '16000.00', USD: '10.00' });
    expect(byDay.rows[0]).not.toHaveProperty('revenue');
    expect(windows.windows[0]).toMatchObject({
      orders: 2,
      revenue_by_currency: { JPY: '15000.00', USD: '10.00' },
    });
    expect(windows.windows[0]).not.toHaveProperty('revenue');
    expect(report.revenue_by_currency).toEqual({ JPY: '16000.00', USD: '10.00' });
    const { index } = await readPublished(deps.store);
    expect(index.days[DAY]?.revenue_by_currency).toEqual({ JPY: '16000.00', USD: '10.00' });
  });

  it('reconciliation compares revenue currency by currency and finds exactly 0 when both layers agree', async () => {
    // Prepare
    const dir = tempDir();
    const deps = testDeps(dir, NOW);
    const orders = mixedOrders();
    writeJsonlExport(dir, DAY, 'orders.jsonl', orders);
    await runBatchDay({ day: DAY }, deps);
    await streamIn(deps, orders, 2);
    await compactRealtime(deps, { now: NOW, days: [DAY] });

    // Act
    const { record } = await reconcile({ now: NOW }, reconcileDeps(deps.store));

    // Assess
    const totals = record.days[0]?.after.totals;
    expect(totals?.batch.revenue_by_currency).toEqual({ JPY: '16000.00', USD: '10.00' });
    expect(totals?.realtime.revenue_by_currency).toEqual({ JPY: '16000.00', USD: '10.00' });
    expect(totals?.deviation.revenue_by_currency).toEqual({ JPY: '0.000000', USD: '0.000000' });
    expect(totals?.max_abs_deviation).toBe('0.000000');
  });

  it('a USD order missing from the stream shows as a USD deviation, not hidden in a bigger JPY total', async () => {
    // Prepare: the stream lost the 10.00 USD order; the JPY orders arrived.
    const dir = tempDir();
    const deps = testDeps(dir, NOW);
    const orders = mixedOrders();
    writeJsonlExport(dir, DAY, 'orders.jsonl', orders);
    await runBatchDay({ day: DAY }, deps);
    await streamIn(deps, orders.slice(1), 5);
    await compactRealtime(deps, { now: NOW, days: [DAY] });

    // Act
    const { record } = await reconcile({ now: NOW, threshold: 0.1 }, reconcileDeps(deps.store));

    // Assess: summed, 16000.00 vs 16010.00 would be a 0.06 % deviation; per currency USD is 100 % short.
    const totals = record.days[0]?.after.totals;
    expect(totals?.deviation.revenue_by_currency).toEqual({ JPY: '0.000000', USD: '-1.000000' });
    expect(totals?.deviation.revenue).toBe('-1.000000');
    expect(record.status).toBe('deviation');
  });
});
