import { describe, expect, it } from 'vitest';
import { lake } from '../../functions/pipeline/lake-layout.ts';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import type { ObjectInfo, ObjectStore } from '../../functions/pipeline/object-store.ts';
import { putJson } from '../../functions/pipeline/object-store.ts';
import { silentLog } from '../../functions/pipeline/ports.ts';
import type { RealtimeManifest } from '../../functions/pipeline/realtime-view.ts';
import { BatchCache, RealtimeCache } from '../../functions/serving/batch-cache.ts';
import { RangeTooLargeError } from '../../functions/serving/errors.ts';
import { health } from '../../functions/serving/health.ts';
import { querySales, type ServingDeps } from '../../functions/serving/sales.ts';
import { salesWindows } from '../../functions/serving/windows.ts';
import { useTempDirs } from '../support/temp-dir.ts';
import {
  expectedTotals,
  hourlySales,
  publishBatchDay,
  putRealtimePartial,
  putSalesMinute,
  type Sale,
} from './lake-fixtures.ts';

const tempDir = useTempDirs();
const ALL_HOURS = Array.from({ length: 24 }, (_, h) => h);
const NOW = new Date('2026-11-20T14:05:00Z');

function deps(store: ObjectStore, cache = new BatchCache()): ServingDeps & { cache: BatchCache } {
  return { store, clock: () => NOW, log: silentLog, cache };
}

const at = (iso: string) => new Date(iso);

describe('querySales merges batch and realtime per hour', () => {
  it('a range spanning published days and realtime-only hours counts every hour exactly once', async () => {
    // Prepare
    const store = new LocalDirectoryStore(tempDir());
    const batch18 = hourlySales('2026-11-18', ALL_HOURS, 'b', { quantity: 2, unit_price: '1.11' });
    const batch19 = hourlySales('2026-11-19', ALL_HOURS, 'b', { quantity: 3, unit_price: '0.10' });
    await publishBatchDay(store, '2026-11-18', batch18, 'v18');
    await publishBatchDay(store, '2026-11-19', batch19, 'v19');
    // Realtime also has the 19th (with an order batch does not know): batch must win there.
    await putRealtimePartial(store, '2026-11-19', '05', 'rt-19', [
      { order_id: 'rt-only', event_time: '2026-11-19T05:10:00Z', unit_price: '999.99' },
    ]);
    const realtime20 = hourlySales('2026-11-20', ALL_HOURS.slice(0, 14), 'r', { unit_price: '0.20' });
    const second20 = hourlySales('2026-11-20', [3, 13], 'r2', { unit_price: '5.05' }, 45);
    for (const sale of realtime20) {
      await putRealtimePartial(store, '2026-11-20', sale.event_time.slice(11, 13), `a-${sale.order_id}`, [
        sale,
      ]);
    }
    for (const sale of second20) {
      await putRealtimePartial(store, '2026-11-20', sale.event_time.slice(11, 13), `b-${sale.order_id}`, [
        sale,
      ]);
    }

    // Act
    const result = await querySales(
      { start: at('2026-11-18T00:00:00Z'), end: at('2026-11-20T14:00:00Z'), granularity: 'hour' },
      deps(store),
    );

    // Assess
    const hours = result.rows.map((row) => row.window_start);
    expect(new Set(hours).size).toBe(hours.length);
    expect(hours).toHaveLength(24 + 24 + 14);
    expect(hours[0]).toBe('2026-11-18T00:00:00Z');
    expect(hours.at(-1)).toBe('2026-11-20T13:00:00Z');
    expect(result.totals).toEqual(expectedTotals([...batch18, ...batch19, ...realtime20, ...second20]));
    expect(result.rows.find((row) => row.window_start === '2026-11-19T05:00:00Z')).toEqual({
      window_start: '2026-11-19T05:00:00Z',
      orders: 1,
      units: 3,
      revenue: '0.30',
      revenue_by_currency: { USD: '0.30' },
    });
    expect(result.rows.find((row) => row.window_start === '2026-11-20T13:00:00Z')?.revenue).toBe('5.25');
    expect(result.segments).toEqual([
      { start: '2026-11-18T00:00:00.000Z', end: '2026-11-20T00:00:00.000Z', source: 'batch' },
      { start: '2026-11-20T00:00:00.000Z', end: '2026-11-20T14:00:00.000Z', source: 'realtime' },
    ]);
    expect(result.batch_boundary).toBe('2026-11-20T00:00:00.000Z');
    expect(result.realtime_freshness).toBe('2026-11-20T13:45:00Z');
  });

  it('an hour switches from realtime to batch when batch publishes its day, and follows a republish', async () => {
    // Prepare
    const store = new LocalDirectoryStore(tempDir());
    const d = deps(store);
    const query = {
      start: at('2026-11-20T10:00:00Z'),
      end: at('2026-11-20T11:00:00Z'),
      granularity: 'hour' as const,
    };
    await putRealtimePartial(store, '2026-11-20', '10', 'rt1', [
      { order_id: 'o1', event_time: '2026-11-20T10:01:00Z', unit_price: '1.00' },
    ]);
    const before = await querySales(query, d);
    // Act
    await publishBatchDay(
      store,
      '2026-11-20',
      [{ order_id: 'o1', event_time: '2026-11-20T10:01:00Z', unit_price: '2.00' }],
      'v1',
    );
    const published = await querySales(query, d);
    await publishBatchDay(
      store,
      '2026-11-20',
      [{ order_id: 'o1', event_time: '2026-11-20T10:01:00Z', unit_price: '3.00' }],
      'v2',
    );
    const republished = await querySales(query, d);
    // Assess
    expect(before.segments.map((s) => s.source)).toEqual(['realtime']);
    expect(before.totals.revenue).toBe('1.00');
    expect(published.segments.map((s) => s.source)).toEqual(['batch']);
    expect(published.totals.revenue).toBe('2.00');
    expect(republished.totals.revenue).toBe('3.00');
  });

  it('a realtime gap inside a published day is filled from batch', async () => {
    const store = new LocalDirectoryStore(tempDir());
    await putRealtimePartial(store, '2026-11-20', '09', 'rt9', hourlySales('2026-11-20', [9], 'r'));
    await putRealtimePartial(store, '2026-11-20', '11', 'rt11', hourlySales('2026-11-20', [11], 'r'));
    const batch = hourlySales('2026-11-20', [9, 10, 11], 'b', { unit_price: '7.00' });
    await publishBatchDay(store, '2026-11-20', batch, 'v1');

    const result = await querySales(
      { start: at('2026-11-20T09:00:00Z'), end: at('2026-11-20T12:00:00Z'), granularity: 'hour' },
      deps(store),
    );

    expect(result.rows).toEqual([
      {
        window_start: '2026-11-20T09:00:00Z',
        orders: 1,
        units: 1,
        revenue: '7.00',
        revenue_by_currency: { USD: '7.00' },
      },
      {
        window_start: '2026-11-20T10:00:00Z',
        orders: 1,
        units: 1,
        revenue: '7.00',
        revenue_by_currency: { USD: '7.00' },
      },
      {
        window_start: '2026-11-20T11:00:00Z',
        orders: 1,
        units: 1,
        revenue: '7.00',
        revenue_by_currency: { USD: '7.00' },
      },
    ]);
    expect(result.realtime_freshness).toBeNull();
  });

  it('serves a republished day from the batch cache only until the republish', async () => {
    const store = new LocalDirectoryStore(tempDir());
    const d = deps(store);
    const query = {
      start: at('2026-11-19T00:00:00Z'),
      end: at('2026-11-20T00:00:00Z'),
      granularity: 'day' as const,
    };
    await publishBatchDay(store, '2026-11-19', hourlySales('2026-11-19', [1, 2], 'b'), 'v1');

    const first = await querySales(query, d);
    const second = await querySales(query, d);
    await publishBatchDay(store, '2026-11-19', hourlySales('2026-11-19', [1, 2, 3], 'b'), 'v2');
    const third = await querySales(query, d);

    expect(first.totals.orders).toBe(2);
    expect(second.totals.orders).toBe(2);
    expect(d.cache.hits).toBe(1);
    expect(third.totals.orders).toBe(3);
  });

  it('sums money exactly and buckets by minute, hour and day', async () => {
    const store = new LocalDirectoryStore(tempDir());
    const sales: Sale[] = [
      { order_id: 'a', event_time: '2026-11-19T10:00:05Z', unit_price: '0.10' },
      { order_id: 'b', event_time: '2026-11-19T10:00:59Z', unit_price: '0.20' },
      { order_id: 'c', event_time: '2026-11-19T10:59:00Z', unit_price: '0.07', quantity: 3 },
      { order_id: 'd', event_time: '2026-11-19T23:59:59.999Z', unit_price: '9999.99', quantity: 9 },
    ];
    await publishBatchDay(store, '2026-11-19', sales, 'v1');
    const range = { start: at('2026-11-19T00:00:00Z'), end: at('2026-11-20T00:00:00Z') };

    const minute = await querySales({ ...range, granularity: 'minute' }, deps(store));
    const hour = await querySales({ ...range, granularity: 'hour' }, deps(store));
    const day = await querySales({ ...range, granularity: 'day' }, deps(store));

    expect(minute.rows.map((r) => [r.window_start, r.revenue])).toEqual([
      ['2026-11-19T10:00:00Z', '0.30'],
      ['2026-11-19T10:59:00Z', '0.21'],
      ['2026-11-19T23:59:00Z', '89999.91'],
    ]);
    expect(hour.rows.map((r) => [r.window_start, r.orders, r.units, r.revenue])).toEqual([
      ['2026-11-19T10:00:00Z', 3, 5, '0.51'],
      ['2026-11-19T23:00:00Z', 1, 9, '89999.91'],
    ]);
    expect(day.rows).toEqual([
      {
        window_start: '2026-11-19T00:00:00Z',
        orders: 4,
        units: 14,
        revenue: '90000.42',
        revenue_by_currency: { USD: '90000.42' },
      },
    ]);
    expect(day.totals).toEqual(expectedTotals(sales));
  });

  it('reads whole published days at granularity=day from the daily rollup, with the same sums', async () => {
    // Prepare
    const store = new LocalDirectoryStore(tempDir());
    const sales = [
      ...hourlySales('2026-11-18', [0, 5, 23], 'a', { product_id: 'p-1', unit_price: '0.35', quantity: 3 }),
      ...hourlySales('2026-11-18', [7], 'b', { product_id: 'p-2', unit_price: '10.01' }),
    ];
    const entry = await publishBatchDay(store, '2026-11-18', sales, 'v1');
    const byHour = await querySales(
      {
        start: at('2026-11-18T00:00:00Z'),
        end: at('2026-11-19T00:00:00Z'),
        granularity: 'hour',
        groupBy: 'product',
      },
      deps(store),
    );
    // Act: without its minutes file, only the rollup can answer a whole day.
    await store.delete([entry.files['sales_minute'] ?? '']);
    const byDay = await querySales(
      {
        start: at('2026-11-18T00:00:00Z'),
        end: at('2026-11-19T00:00:00Z'),
        granularity: 'day',
        groupBy: 'product',
      },
      deps(store),
    );
    const partialDay = querySales(
      { start: at('2026-11-18T06:00:00Z'), end: at('2026-11-19T00:00:00Z'), granularity: 'day' },
      deps(store),
    );
    // Assess
    expect(byDay.totals).toEqual(byHour.totals);
    expect(byDay.rows).toEqual([
      {
        window_start: '2026-11-18T00:00:00Z',
        product_id: 'p-1',
        orders: 3,
        units: 9,
        revenue: '3.15',
        revenue_by_currency: { USD: '3.15' },
      },
      {
        window_start: '2026-11-18T00:00:00Z',
        product_id: 'p-2',
        orders: 1,
        units: 1,
        revenue: '10.01',
        revenue_by_currency: { USD: '10.01' },
      },
    ]);
    await expect(partialDay).rejects.toThrow(/kept vanishing/);
  });

  it('filters by product and groups by product, most orders first', async () => {
    const store = new LocalDirectoryStore(tempDir());
    const sales: Sale[] = [
      { order_id: 'a', product_id: 'p-1', event_time: '2026-11-20T10:00:00Z', unit_price: '1.00' },
      { order_id: 'b', product_id: 'p-2', event_time: '2026-11-20T10:10:00Z', unit_price: '5.00' },
      {
        order_id: 'c',
        product_id: "p'; drop table x; --",
        event_time: '2026-11-20T10:20:00Z',
        unit_price: '2.00',
      },
    ];
    await putRealtimePartial(store, '2026-11-20', '10', 'rt', sales);
    const range = {
      start: at('2026-11-20T10:00:00Z'),
      end: at('2026-11-20T11:00:00Z'),
      granularity: 'hour' as const,
    };

    const grouped = await querySales({ ...range, groupBy: 'product' }, deps(store));
    const filtered = await querySales({ ...range, productId: "p'; drop table x; --" }, deps(store));
    const none = await querySales({ ...range, productId: 'p-🙂' }, deps(store));

    expect(grouped.rows.map((r) => [r.product_id, r.revenue])).toEqual([
      ["p'; drop table x; --", '2.00'],
      ['p-1', '1.00'],
      ['p-2', '5.00'],
    ]);
    expect(grouped.query.group_by).toBe('product');
    expect(filtered.rows).toEqual([
      {
        window_start: '2026-11-20T10:00:00Z',
        product_id: "p'; drop table x; --",
        orders: 1,
        units: 1,
        revenue: '2.00',
        revenue_by_currency: { USD: '2.00' },
      },
    ]);
    expect(none.rows).toEqual([]);
    expect(none.totals).toEqual({ orders: 0, units: 0, revenue_by_currency: {} });
  });

  it('refuses ranges beyond the limit of their granularity, naming the limit', async () => {
    const d = deps(new LocalDirectoryStore(tempDir()));
    const eightDays = { start: at('2026-11-01T00:00:00Z'), end: at('2026-11-09T00:00:00Z') };

    await expect(querySales({ ...eightDays, granularity: 'minute' }, d)).rejects.toThrow(RangeTooLargeError);
    await expect(querySales({ ...eightDays, granularity: 'minute' }, d)).rejects.toThrow(/at most 7 days/);
    await expect(
      querySales(
        { start: at('2026-01-01T00:00:00Z'), end: at('2026-06-01T00:00:00Z'), granularity: 'hour' },
        d,
      ),
    ).rejects.toThrow(/at most 92 days/);
    await expect(querySales({ ...eightDays, granularity: 'hour' }, d)).resolves.toMatchObject({ rows: [] });
    await expect(
      querySales({ start: eightDays.end, end: eightDays.start, granularity: 'day' }, d),
    ).rejects.toMatchObject({ parameter: 'end' });
  });

  it('counts each order once when compaction replaces partials during the read', async () => {
    // Prepare: two partials; while the serving layer opens the first, "compaction" merges both and deletes them.
    const dir = tempDir();
    const inner = new LocalDirectoryStore(dir);
    const sales = hourlySales('2026-11-20', [10], 'a').concat(hourlySales('2026-11-20', [10], 'b', {}, 40));
    const [first, second] = sales as [Sale, Sale];
    await putRealtimePartial(inner, '2026-11-20', '10', 'batch-1', [first]);
    await putRealtimePartial(inner, '2026-11-20', '10', 'batch-2', [second]);
    let compacted = false;
    const racing: ObjectStore = Object.assign(Object.create(inner) as ObjectStore, {
      async localPath(info: ObjectInfo) {
        if (!compacted) {
          compacted = true;
          const key = lake.realtimeCompacted('2026-11-20', 'c1');
          await putSalesMinute(inner, key, sales);
          await putJson(inner, lake.realtimeManifest('2026-11-20'), {
            compacted: key,
            covered: { '10': ['batch-1', 'batch-2'] },
            compactedAt: NOW.toISOString(),
            orders: 2,
            duplicates: 0,
          } satisfies RealtimeManifest);
          await inner.delete([
            lake.realtimePartial('2026-11-20', '10', 'batch-1'),
            lake.realtimePartial('2026-11-20', '10', 'batch-2'),
          ]);
        }
        return inner.localPath(info);
      },
    });

    // Act
    const result = await querySales(
      { start: at('2026-11-20T10:00:00Z'), end: at('2026-11-20T11:00:00Z'), granularity: 'hour' },
      deps(racing),
    );

    // Assess
    expect(compacted).toBe(true);
    expect(result.totals).toEqual(expectedTotals(sales));
  });
});

describe('querySales caches what it read from each realtime file', () => {
  it('reads a realtime file once per query shape and ETag, a new partial or compaction at once', async () => {
    // Prepare: today compacted (hours 9 and 10) plus one partial written since
    const store = new LocalDirectoryStore(tempDir());
    const day = '2026-11-20';
    const compactedSales = hourlySales(day, [9, 10], 'c');
    const c1 = lake.realtimeCompacted(day, 'c1');
    await putSalesMinute(store, c1, compactedSales);
    const manifest = (compacted: string, covered: string[]): RealtimeManifest => ({
      compacted,
      covered: { '10': covered },
      compactedAt: NOW.toISOString(),
      orders: 2,
      duplicates: 0,
    });
    await putJson(store, lake.realtimeManifest(day), manifest(c1, ['batch-0']));
    const first = hourlySales(day, [10], 'p1', {}, 45);
    await putRealtimePartial(store, day, '10', 'batch-1', first);
    const realtimeCache = new RealtimeCache();
    const d = { ...deps(store), realtimeCache };
    const query = {
      start: at(`${day}T00:00:00Z`),
      end: at(`${day}T14:00:00Z`),
      granularity: 'hour' as const,
    };

    // Act + Assess: the second query takes the compacted file's and batch-1's buckets from the cache, and still
    // reads a new partial
    expect((await querySales(query, d)).totals).toEqual(expectedTotals([...compactedSales, ...first]));
    expect(realtimeCache.size).toBe(2);
    const hitsBefore = realtimeCache.hits;
    const second = hourlySales(day, [11], 'p2');
    await putRealtimePartial(store, day, '11', 'batch-2', second);
    const again = await querySales(query, d);
    expect(realtimeCache.hits).toBe(hitsBefore + 2);
    expect(realtimeCache.size).toBe(3);
    expect(d.cache.size).toBe(0); // nothing of realtime in the batch cache
    expect(again.totals).toEqual(expectedTotals([...compactedSales, ...first, ...second]));
    expect(again.realtime_freshness).toBe(`${day}T11:30:00Z`);
    // The newest minute comes from the cache too: asked again with nothing new, the answer is the same
    const cached = await querySales(query, d);
    expect(realtimeCache.hits).toBe(hitsBefore + 5);
    expect(cached.totals).toEqual(again.totals);
    expect(cached.realtime_freshness).toBe(`${day}T11:30:00Z`);

    // Act + Assess: a file written again under its name (a retried micro-batch) has a new ETag: read at once
    const retried = hourlySales(day, [11], 'p2', { unit_price: '9.99' }, 50);
    await new Promise((resolve) => setTimeout(resolve, 5)); // a new modification time, the local store's ETag
    await putRealtimePartial(store, day, '11', 'batch-2', retried);
    const rewritten = await querySales(query, d);
    expect(rewritten.totals).toEqual(expectedTotals([...compactedSales, ...first, ...retried]));
    expect(rewritten.realtime_freshness).toBe(`${day}T11:50:00Z`);

    // Act + Assess: a compaction names a new file (covering batch-1): read at once, batch-1 no longer counted twice
    const c2 = lake.realtimeCompacted(day, 'c2');
    await putSalesMinute(store, c2, [...compactedSales, ...first]);
    await putJson(store, lake.realtimeManifest(day), manifest(c2, ['batch-0', 'batch-1']));
    const compacted = await querySales(query, d);
    expect(compacted.totals).toEqual(expectedTotals([...compactedSales, ...first, ...retried]));
  });
});

describe('querySales lists the realtime days while it reads the publish index', () => {
  it('lists a day the last index left to realtime before the index arrives, and serves what the fresh index says', async () => {
    // Prepare: a store that records when the publish index is read and when a day is listed
    const events: string[] = [];
    const indexKey = lake.batchPublished('orders');
    class RecordingStore extends LocalDirectoryStore {
      override async get(key: string) {
        if (key !== indexKey) return super.get(key);
        events.push('index asked');
        await new Promise((resolve) => setTimeout(resolve, 30));
        const found = await super.get(key);
        events.push('index read');
        return found;
      }
      override async list(prefix: string) {
        events.push(`listed ${prefix.includes('dt=2026-11-20') ? '2026-11-20' : prefix}`);
        return super.list(prefix);
      }
    }
    const store = new RecordingStore(tempDir());
    const d = deps(store);
    const query = {
      start: at('2026-11-20T10:00:00Z'),
      end: at('2026-11-20T12:00:00Z'),
      granularity: 'hour' as const,
    };
    await putRealtimePartial(store, '2026-11-20', '10', 'rt1', hourlySales('2026-11-20', [10], 'r'));

    // Act + Assess: the first read knows no index yet, so it lists after reading it
    expect((await querySales(query, d)).totals.orders).toBe(1);
    expect(events.splice(0)).toEqual(['index asked', 'index read', 'listed 2026-11-20']);

    // Act + Assess: the next read lists the day while the index is on its way
    await putRealtimePartial(store, '2026-11-20', '11', 'rt2', hourlySales('2026-11-20', [11], 'r'));
    expect((await querySales(query, d)).totals.orders).toBe(2);
    expect(events.splice(0)).toEqual(['listed 2026-11-20', 'index asked', 'index read']);

    // Act + Assess: batch publishes the day meanwhile: the listing made ahead is not used, batch serves the day
    await publishBatchDay(
      store,
      '2026-11-20',
      hourlySales('2026-11-20', [10, 11], 'b', { unit_price: '7.00' }),
      'v1',
    );
    const published = await querySales(query, d);
    expect(published.segments.map((s) => s.source)).toEqual(['batch']);
    expect(published.totals.revenue).toBe('14.00');
  });
});

describe('salesWindows', () => {
  it('sums the last 1, 5 and 15 minute buckets ending with the current minute', async () => {
    const store = new LocalDirectoryStore(tempDir());
    await putRealtimePartial(store, '2026-11-20', '14', 'rt', [
      { order_id: 'now', event_time: '2026-11-20T14:04:10Z', unit_price: '1.00' },
      { order_id: 'recent', event_time: '2026-11-20T14:00:00Z', unit_price: '2.00' },
      { order_id: 'future', event_time: '2026-11-20T14:06:00Z', unit_price: '50.00' },
    ]);
    await putRealtimePartial(store, '2026-11-20', '13', 'rt', [
      { order_id: 'older', event_time: '2026-11-20T13:50:00Z', unit_price: '4.00' },
      { order_id: 'too-old', event_time: '2026-11-20T13:49:59Z', unit_price: '8.00' },
    ]);

    const result = await salesWindows({ at: at('2026-11-20T14:04:30Z') }, deps(store));

    expect(result.windows.map((w) => [w.minutes, w.start, w.orders, w.revenue])).toEqual([
      [1, '2026-11-20T14:04:00.000Z', 1, '1.00'],
      [5, '2026-11-20T14:00:00.000Z', 2, '3.00'],
      [15, '2026-11-20T13:50:00.000Z', 3, '7.00'],
    ]);
    expect(result.windows[0]?.end).toBe('2026-11-20T14:05:00.000Z');
    expect(result.realtime_freshness).toBe('2026-11-20T14:04:00Z');
  });

  it('uses batch for windows in a published day', async () => {
    const store = new LocalDirectoryStore(tempDir());
    await publishBatchDay(
      store,
      '2026-11-19',
      [{ order_id: 'b', event_time: '2026-11-19T23:58:00Z', unit_price: '3.00' }],
      'v1',
    );
    await putRealtimePartial(store, '2026-11-19', '23', 'rt', [
      { order_id: 'r', event_time: '2026-11-19T23:58:00Z', unit_price: '9.00' },
    ]);
    await putRealtimePartial(store, '2026-11-20', '00', 'rt', [
      { order_id: 'n', event_time: '2026-11-20T00:01:00Z', unit_price: '1.00' },
    ]);

    const result = await salesWindows({ at: at('2026-11-20T00:01:00Z'), sizes: [5] }, deps(store));

    expect(result.windows).toMatchObject([
      { minutes: 5, orders: 2, revenue: '4.00', revenue_by_currency: { USD: '4.00' } },
    ]);
    expect(result.segments.map((s) => s.source)).toEqual(['batch', 'realtime']);
  });
});

describe('health', () => {
  it('reports the batch boundary, realtime freshness and published days', async () => {
    const store = new LocalDirectoryStore(tempDir());
    await publishBatchDay(store, '2026-11-18', hourlySales('2026-11-18', [1], 'b'), 'v1');
    await publishBatchDay(store, '2026-11-19', hourlySales('2026-11-19', [1], 'b'), 'v1');
    await putRealtimePartial(store, '2026-11-20', '09', 'rt', hourlySales('2026-11-20', [9], 'r', {}, 12));
    await putRealtimePartial(store, '2026-11-20', '13', 'rt', hourlySales('2026-11-20', [13], 'r', {}, 59));

    const result = await health({ ...deps(store), version: '42' });

    expect(result).toMatchObject({
      status: 'ok',
      version: '42',
      batch_boundary: '2026-11-20T00:00:00.000Z',
      realtime_freshness: '2026-11-20T13:59:00Z',
      published_days: 2,
      first_published_day: '2026-11-18',
      last_published_day: '2026-11-19',
    });
  });

  it('reports nulls for an empty lake', async () => {
    const result = await health(deps(new LocalDirectoryStore(tempDir())));
    expect(result).toMatchObject({ batch_boundary: null, realtime_freshness: null, published_days: 0 });
  });
});
