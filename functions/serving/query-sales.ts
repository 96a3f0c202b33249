import { batchBoundary, type PublishedDay, readPublished } from '../pipeline/batch-published.ts';
import { dayRange, UTC } from '../pipeline/dates.ts';
import { PreconditionFailedError } from '../pipeline/errors.ts';
import type { ObjectInfo, ObjectStore } from '../pipeline/object-store.ts';
import type { CoreDeps } from '../pipeline/ports.ts';
import { type BatchCache, processBatchCache } from './batch-cache.ts';
import { ServingReadError } from './errors.ts';
import { planHours, type Segment } from './hour-plan.ts';
import { addAllMoney, type MoneyByCurrency, type RevenueJson, revenueJson } from './money.ts';
import { type BucketRow, type BucketSpec, readBuckets } from './read-buckets.ts';
import { realtimeFilesFor } from './realtime-files.ts';
import { checkSalesQuery, type Granularity, type SalesQuery } from './sales-query.ts';

/**
 * What the serving core needs: the lake, a clock, a logger and the stage's reporting time zone (the default `tz`
 * and, until batch publishes, the zone of the lake's days); optionally its own batch cache (tests, benches).
 */
export interface ServingDeps extends CoreDeps {
  cache?: BatchCache;
  /** Code version reported by `health` (Lambda: the function version). */
  version?: string;
}

/**
 * Money fields (`RevenueJson`): `revenue_by_currency` maps each ISO 4217 code to a decimal string with two places
 * (JSON never rounds money); `revenue` is there exactly when one currency is involved.
 */
export interface SalesRow extends RevenueJson {
  /** Bucket start, UTC ISO (`2026-11-20T10:00:00Z`). */
  window_start: string;
  /** Present when the query filtered by product or grouped by product. */
  product_id?: string;
  orders: number;
  units: number;
}

export interface SalesTotals extends RevenueJson {
  orders: number;
  units: number;
}

/** The body of `GET /sales` and of `twinflow query --json`. */
export interface SalesResponse {
  query: {
    start: string;
    end: string;
    granularity: Granularity;
    product_id?: string;
    group_by?: 'product';
    /** The zone whose days are the day buckets. */
    tz: string;
  };
  rows: SalesRow[];
  totals: SalesTotals;
  /** Contiguous runs of the range and the layer that served each (batch wherever it has published). */
  segments: Segment[];
  /** End of the contiguous published batch range (exclusive, ISO), or null before the first publish. */
  batch_boundary: string | null;
  /** Newest realtime minute window inside the range, any product (ISO), or null when realtime has none there. */
  realtime_freshness: string | null;
  generated_at: string;
}

/** Buckets of a range, merged across layers, before formatting. */
export interface MergedRange {
  rows: BucketRow[];
  segments: Segment[];
  batchBoundary: string | null;
  realtimeLatest: string | null;
  publishedDays: string[];
}

const MAX_READ_ATTEMPTS = 4;

/** Batch file metadata by store and key (published files are immutable per version; dropped on a vanish). */
const batchFileInfo = new Map<string, ObjectInfo>();

function isVanishedFile(error: unknown): boolean {
  if (error instanceof PreconditionFailedError) return true;
  const message = error instanceof Error ? error.message : String(error);
  // DuckDB's wording when a listed Parquet file was deleted before it could be opened.
  return /No files found that match|No such file or directory|Cannot open file|Could not open file/i.test(
    message,
  );
}

async function batchFilePath(store: ObjectStore, key: string): Promise<string> {
  const cacheKey = `${store.location}\0${key}`;
  let info = batchFileInfo.get(cacheKey);
  if (!info) {
    info = await store.head(key);
    if (!info) throw new PreconditionFailedError(key);
    batchFileInfo.set(cacheKey, info);
  }
  return store.localPath(info);
}

/**
 * At granularity=day a whole published day is read from its daily rollup instead of its minutes, when the
 * query's days are the lake's days (same zone).
 */
function usesDailyRollup(spec: BucketSpec, day: string, clip: { start: Date; end: Date }): boolean {
  if (spec.granularity !== 'day' || (spec.timeZone ?? UTC) !== (spec.lakeZone ?? UTC)) return false;
  const whole = dayRange(day, spec.lakeZone ?? UTC);
  return clip.start.getTime() === whole.start.getTime() && clip.end.getTime() === whole.end.getTime();
}

function batchCacheKey(
  store: ObjectStore,
  entry: PublishedDay,
  spec: BucketSpec,
  clip: { start: Date; end: Date },
) {
  return [
    store.location,
    entry.day,
    entry.version,
    entry.files.sales_minute,
    entry.publishedAt,
    spec.granularity,
    spec.byProduct ? 'by-product' : 'all',
    spec.productId ?? '',
    spec.timeZone ?? UTC,
    spec.lakeZone ?? UTC,
    clip.start.toISOString(),
    clip.end.toISOString(),
  ].join('\0');
}

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function rowKey(row: BucketRow): string {
  return `${row.windowStart}\0${row.productId ?? ''}`;
}

/** Sums rows of the same bucket (and product); ordered by time, then orders (top products first). */
function mergeRows(parts: readonly (readonly BucketRow[])[]): BucketRow[] {
  const merged = new Map<string, BucketRow>();
  for (const part of parts) {
    for (const row of part) {
      const key = rowKey(row);
      const existing = merged.get(key);
      if (existing) {
        existing.orders += row.orders;
        existing.units += row.units;
        addAllMoney(existing.revenue, row.revenue);
      } else {
        merged.set(key, { ...row, revenue: new Map(row.revenue) });
      }
    }
  }
  return [...merged.values()].sort(
    (a, b) =>
      compareText(a.windowStart, b.windowStart) ||
      b.orders - a.orders ||
      compareText(a.productId ?? '', b.productId ?? ''),
  );
}

async function readRangeOnce(given: BucketSpec, deps: ServingDeps): Promise<MergedRange> {
  const { store } = deps;
  const cache = deps.cache ?? processBatchCache;
  const { index } = await readPublished(store);
  // The zone of the lake's days: the index's once batch has published, else the stage's.
  const lakeZone = index.timeZone ?? deps.timeZone ?? UTC;
  const spec: BucketSpec = { ...given, timeZone: given.timeZone ?? deps.timeZone ?? UTC, lakeZone };
  const plan = planHours(index, spec.start, spec.end, lakeZone);

  const cachedParts: BucketRow[][] = [];
  const missing: { key: string; day: string; entry: PublishedDay; isDaily: boolean }[] = [];
  for (const [day, clip] of plan.batchDays) {
    const entry = index.days[day];
    if (!entry) continue;
    const key = batchCacheKey(store, entry, spec, clip);
    const cached = cache.get(key);
    if (cached) cachedParts.push(cached);
    else missing.push({ key, day, entry, isDaily: usesDailyRollup(spec, day, clip) });
  }

  const [batchMinutes, batchDaily, realtimeMinutes] = await Promise.all([
    Promise.all(
      missing.filter((m) => !m.isDaily).map(({ entry }) => batchFilePath(store, entry.files.sales_minute)),
    ),
    Promise.all(
      missing.filter((m) => m.isDaily).map(({ entry }) => batchFilePath(store, entry.files.daily_sales)),
    ),
    realtimeFilesFor(store, plan.realtimeHours).then((files) =>
      Promise.all(files.map((info) => store.localPath(info))),
    ),
  ]);

  let fresh = {
    batch: [] as BucketRow[],
    realtime: [] as BucketRow[],
    realtimeLatest: null as string | null,
  };
  if (missing.length > 0 || realtimeMinutes.length > 0) {
    fresh = await readBuckets(spec, { batchMinutes, batchDaily, realtimeMinutes });
    const byDay = new Map<string, BucketRow[]>(missing.map(({ day }) => [day, []]));
    for (const row of fresh.batch) if (row.partDay) byDay.get(row.partDay)?.push(row);
    for (const { key, day } of missing) cache.set(key, byDay.get(day) ?? []);
  }

  return {
    rows: mergeRows([...cachedParts, fresh.batch, fresh.realtime]),
    segments: plan.segments,
    batchBoundary: batchBoundary(index),
    realtimeLatest: fresh.realtimeLatest,
    publishedDays: Object.keys(index.days).sort(),
  };
}

/**
 * Reads [start, end) at `granularity`, batch wherever published and realtime for every other hour.
 * A file deleted under the read (compaction removing an old partial, batch removing a superseded version) makes
 * the whole read start again from a fresh publish index and snapshot, so each order is counted exactly once.
 */
export async function readMergedRange(spec: BucketSpec, deps: ServingDeps): Promise<MergedRange> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await readRangeOnce(spec, deps);
    } catch (error) {
      if (!isVanishedFile(error)) throw error;
      batchFileInfo.clear();
      if (attempt >= MAX_READ_ATTEMPTS) {
        throw new ServingReadError(`lake files kept vanishing during the read (${attempt} attempts)`, {
          cause: error,
        });
      }
      deps.log.warn('a file vanished during a read; retrying with a fresh snapshot', {
        attempt,
        error: (error as Error).message,
      });
    }
  }
}

function formatRow(row: BucketRow, withProduct: boolean): SalesRow {
  return {
    window_start: row.windowStart,
    ...(withProduct && row.productId !== null ? { product_id: row.productId } : {}),
    orders: row.orders,
    units: row.units,
    ...revenueJson(row.revenue),
  };
}

/** Sums of a set of buckets. */
export function totalsOf(rows: readonly BucketRow[]): SalesTotals {
  let orders = 0;
  let units = 0;
  const revenue: MoneyByCurrency = new Map();
  for (const row of rows) {
    orders += row.orders;
    units += row.units;
    addAllMoney(revenue, row.revenue);
  }
  return { orders, units, ...revenueJson(revenue) };
}

/**
 * Sales over [start, end) by minute, hour or day, merged per hour across batch and realtime (DESIGN rule 6).
 * Throws `InvalidInputError` (naming the parameter) for a bad range, `RangeTooLargeError` beyond the limit.
 */
export async function querySales(input: SalesQuery, deps: ServingDeps): Promise<SalesResponse> {
  const query = checkSalesQuery(input);
  const byProduct = query.groupBy === 'product';
  const spec: BucketSpec = {
    start: query.start,
    end: query.end,
    granularity: query.granularity,
    byProduct: byProduct || query.productId !== undefined,
    ...(query.productId !== undefined ? { productId: query.productId } : {}),
    timeZone: query.timeZone ?? deps.timeZone ?? UTC,
  };
  const merged = await readMergedRange(spec, deps);
  return {
    query: {
      start: query.start.toISOString(),
      end: query.end.toISOString(),
      granularity: query.granularity,
      ...(query.productId !== undefined ? { product_id: query.productId } : {}),
      ...(byProduct ? { group_by: 'product' as const } : {}),
      tz: spec.timeZone ?? UTC,
    },
    rows: merged.rows.map((row) => formatRow(row, spec.byProduct)),
    totals: totalsOf(merged.rows),
    segments: merged.segments,
    batch_boundary: merged.batchBoundary,
    realtime_freshness: merged.realtimeLatest,
    generated_at: deps.clock().toISOString(),
  };
}
