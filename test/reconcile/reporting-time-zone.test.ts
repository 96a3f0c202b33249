import { describe, expect, it } from 'vitest';
import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { readPublished } from '../../functions/pipeline/batch-published.ts';
import { addDays, dayRange } from '../../functions/pipeline/dates.ts';
import type { CoreDeps } from '../../functions/pipeline/ports.ts';
import { reconcile } from '../../functions/reconcile/reconcile.ts';
import { BatchCache } from '../../functions/serving/batch-cache.ts';
import { health } from '../../functions/serving/health.ts';
import { parseSalesParams } from '../../functions/serving/query-params.ts';
import { querySales, type SalesResponse } from '../../functions/serving/sales.ts';
import { compactRealtime } from '../../functions/stream/compaction.ts';
import { type OrderEvent, ordersForDay } from '../../local/order-generator.ts';
import { testDeps, writeJsonlExport } from '../support/lake.ts';
import { useTempDirs } from '../support/temp-dir.ts';
import { reconcileDeps, streamIn } from './lake-builder.ts';

/**
 * A shop that reports in its own zone (issue 13, item 13): a landing folder's day is a day of the stage's zone,
 * both layers dedupe and roll up by that day, and any range answers the same from either layer and in any zone.
 */

const tempDir = useTempDirs();

function zoneDeps(dir: string, timeZone: string, now: Date): CoreDeps & ReturnType<typeof testDeps> {
  return { ...testDeps(dir, now), timeZone };
}

/** What an answer must total: every order once. */
function totalsOf(orders: readonly OrderEvent[]) {
  let units = 0;
  let cents = 0n;
  for (const o of orders) {
    units += o.quantity;
    cents += BigInt(o.quantity) * BigInt(o.unit_price.replace('.', ''));
  }
  const revenue = `${cents / 100n}.${String(cents % 100n).padStart(2, '0')}`;
  return { orders: orders.length, units, revenue, revenue_by_currency: { USD: revenue } };
}

function within(orders: readonly OrderEvent[], start: Date, end: Date): OrderEvent[] {
  return orders.filter(
    (o) => Date.parse(o.event_time) >= start.getTime() && Date.parse(o.event_time) < end.getTime(),
  );
}

async function sales(deps: CoreDeps, params: Record<string, string>): Promise<SalesResponse> {
  return querySales(parseSalesParams(params, deps.clock(), deps.timeZone), {
    ...deps,
    cache: new BatchCache(),
  });
}

const CASES = [
  { zone: 'Asia/Taipei', day: '2026-11-20', hours: 24 },
  { zone: 'Asia/Kolkata', day: '2026-11-20', hours: 24 },
  // The day New York falls back: 25 hours.
  { zone: 'America/New_York', day: '2026-11-01', hours: 25 },
] as const;

describe('reporting time zone', () => {
  for (const { zone, day, hours } of CASES) {
    it(`${zone}: a local day's export publishes whole, both layers agree per day, any zone answers the same`, async () => {
      // Prepare: the local day's orders, a producer retry of one on the other UTC day of the same local day,
      // and a row of the day before (it belongs to another folder).
      const dir = tempDir();
      const { start, end } = dayRange(day, zone);
      expect(end.getTime() - start.getTime()).toBe(hours * 3_600_000);
      const now = new Date(end.getTime() + 3 * 3_600_000);
      const deps = zoneDeps(dir, zone, now);
      const orders = [...ordersForDay(day, 600, 7, zone)];
      expect(Date.parse(orders[0]?.event_time ?? '')).toBeLessThan(start.getTime() + 3_600_000);
      expect(Date.parse(orders.at(-1)?.event_time ?? '')).toBeGreaterThanOrEqual(end.getTime() - 3_600_000);
      const first = orders[0] as OrderEvent;
      const retry = {
        ...first,
        event_id: 'retry',
        event_time: new Date(end.getTime() - 60_000).toISOString(),
      };
      const dayBefore = {
        ...first,
        order_id: 'day-before',
        event_time: new Date(start.getTime() - 1).toISOString(),
      };
      writeJsonlExport(dir, day, 'orders.jsonl', [...orders, retry, dayBefore]);

      // Act 1: realtime only (same events, through the consumer and compaction).
      await streamIn(deps, [...orders, retry], 50);
      await compactRealtime(deps, { now, days: [day], graceMs: 0 });
      const realtime = await sales(deps, { start: day, granularity: 'day' });

      // Assess 1: one day bucket at the zone's midnight, every order once (the retry deduped across UTC days).
      expect(realtime.rows.map((r) => r.window_start)).toEqual([start.toISOString().replace('.000Z', 'Z')]);
      expect(realtime.totals).toEqual(totalsOf(orders));
      expect(realtime.query.tz).toBe(zone);
      const realtimeDays = (await deps.store.list('views/realtime/sales_minute/')).map(
        (i) => i.key.split('/')[3],
      );
      expect(new Set(realtimeDays)).toEqual(new Set([`dt=${day}`]));

      // Act 2: batch publishes the folder.
      const report = await runBatchDay({ day }, deps);

      // Assess 2: all of the local day is valid; only the other day's row is quarantined, naming the zone.
      expect(report.counts).toMatchObject({ received: 602, valid: 601, quarantined: 1, orders: 600 });
      expect(report.topReasons).toEqual([
        { reason: `event_time: not in the export day ${day} (${zone})`, count: 1 },
      ]);
      expect(report.revenue_by_currency).toEqual({ USD: totalsOf(orders).revenue });
      const { index } = await readPublished(deps.store);
      expect(index.timeZone).toBe(zone);
      const batch = await sales(deps, { start: day, granularity: 'day' });
      expect(batch.rows).toEqual(realtime.rows);
      expect(batch.segments).toEqual([
        { start: start.toISOString(), end: end.toISOString(), source: 'batch' },
      ]);
      expect(batch.batch_boundary).toBe(end.toISOString());
      expect((await health({ ...deps })).batch_boundary).toBe(end.toISOString());
      expect((await health({ ...deps })).time_zone).toBe(zone);

      // The same instants asked in UTC: days cut at UTC midnight, hours stay UTC; the totals never move.
      const range = { start: start.toISOString(), end: end.toISOString() };
      const utc = await sales(deps, { ...range, granularity: 'day', tz: 'UTC' });
      expect(utc.rows.map((r) => r.window_start)).toEqual([
        `${addDays(start.toISOString().slice(0, 10), 0)}T00:00:00Z`,
        `${addDays(start.toISOString().slice(0, 10), 1)}T00:00:00Z`,
      ]);
      expect(utc.totals).toEqual(totalsOf(orders));
      const byHour = await sales(deps, { ...range, granularity: 'hour' });
      expect(byHour.totals).toEqual(totalsOf(orders));
      expect(byHour.rows.every((r) => r.window_start.endsWith(':00:00Z'))).toBe(true);
      // Every UTC hour that straddles the day's edge (half-hour zones) is clipped to the range, not doubled.
      for (const row of byHour.rows) {
        const hourStart = new Date(row.window_start);
        const from = new Date(Math.max(hourStart.getTime(), start.getTime()));
        const to = new Date(Math.min(hourStart.getTime() + 3_600_000, end.getTime()));
        expect(row.orders).toBe(within(orders, from, to).length);
      }

      // Reconciliation compares the local day, hour by hour: exactly 0.
      const { record } = await reconcile({ now }, { ...reconcileDeps(deps.store), timeZone: zone });
      const checked = record.days.find((d) => d.day === day);
      expect(checked?.after.totals.batch.orders).toBe(600);
      expect(checked?.after.totals.batch).toEqual(checked?.after.totals.realtime);
      expect(record.max_abs_deviation).toEqual({ before: '0.000000', after: '0.000000' });
    });
  }

  it('Asia/Kolkata: an hour across the half-hour batch boundary is half batch, half realtime, counted once', async () => {
    // Prepare: batch publishes the 20th; the 21st is realtime only. The UTC hour 18:00 of the 20th holds the
    // last half hour of the 20th (batch) and the first of the 21st (realtime).
    const zone = 'Asia/Kolkata';
    const dir = tempDir();
    const boundary = dayRange('2026-11-21', zone).start;
    expect(boundary.toISOString()).toBe('2026-11-20T18:30:00.000Z');
    const now = new Date(boundary.getTime() + 6 * 3_600_000);
    const deps = zoneDeps(dir, zone, now);
    const day20 = [...ordersForDay('2026-11-20', 480, 1, zone)];
    const day21 = within([...ordersForDay('2026-11-21', 480, 2, zone)], boundary, now);
    writeJsonlExport(dir, '2026-11-20', 'orders.jsonl', day20);
    await runBatchDay({ day: '2026-11-20' }, deps);
    // Realtime also has the 20th (one order more than batch): batch must win there.
    await streamIn(deps, [...day20.slice(0, 100), ...day21], 40);
    await compactRealtime(deps, { now, days: ['2026-11-20', '2026-11-21'], graceMs: 0 });

    // Act
    const start = new Date(boundary.getTime() - 2.5 * 3_600_000);
    const end = new Date(boundary.getTime() + 2.5 * 3_600_000);
    const result = await sales(deps, {
      start: start.toISOString(),
      end: end.toISOString(),
      granularity: 'hour',
    });

    // Assess
    expect(result.segments).toEqual([
      { start: start.toISOString(), end: boundary.toISOString(), source: 'batch' },
      { start: boundary.toISOString(), end: end.toISOString(), source: 'realtime' },
    ]);
    const straddling = result.rows.find((r) => r.window_start === '2026-11-20T18:00:00Z');
    expect(straddling?.orders).toBe(
      within(day20, new Date('2026-11-20T18:00:00Z'), boundary).length +
        within(day21, boundary, new Date('2026-11-20T19:00:00Z')).length,
    );
    expect(result.totals).toEqual(
      totalsOf([...within(day20, start, boundary), ...within(day21, boundary, end)]),
    );
  });

  it('a lake keeps one reporting zone: a batch run in another zone is refused and publishes nothing', async () => {
    const dir = tempDir();
    const taipei = zoneDeps(dir, 'Asia/Taipei', new Date('2026-11-22T03:00:00Z'));
    writeJsonlExport(dir, '2026-11-20', 'orders.jsonl', [
      ...ordersForDay('2026-11-20', 50, 3, 'Asia/Taipei'),
    ]);
    writeJsonlExport(dir, '2026-11-21', 'orders.jsonl', [...ordersForDay('2026-11-21', 50, 4, 'UTC')]);
    await runBatchDay({ day: '2026-11-20' }, taipei);

    await expect(runBatchDay({ day: '2026-11-21' }, { ...taipei, timeZone: 'UTC' })).rejects.toThrow(
      /batch days are days in Asia\/Taipei, not UTC/,
    );
    expect(Object.keys((await readPublished(taipei.store)).index.days)).toEqual(['2026-11-20']);
  });
});
