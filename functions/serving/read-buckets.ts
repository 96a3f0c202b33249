import { rename } from 'node:fs/promises';
import path from 'node:path';
import { type DuckDBConnection, listValue } from '@duckdb/node-api';
import { duckdbHome, sqlPath, withConnection } from '../pipeline/duckdb-session.ts';
import { shortHash } from '../pipeline/ids.ts';
import { addMoney, centsOf, type MoneyByCurrency } from './money.ts';
import type { Granularity } from './sales-query.ts';
import { REALTIME_LATEST_SQL, SALES_ROWS_SQL } from './sales-rows-sql.ts';

/** One aggregated bucket: money in cents until it leaves the serving layer. */
export interface BucketRow {
  /** ISO instant of the bucket start (UTC), e.g. `2026-11-20T10:00:00Z`. */
  windowStart: string;
  productId: string | null;
  orders: number;
  units: number;
  /** Revenue per currency: amounts in different currencies are never added. */
  revenue: MoneyByCurrency;
  /** The published lake day a batch row was read from (its cache entry); null for realtime rows. */
  partDay?: string | null;
}

export interface BucketSpec {
  start: Date;
  end: Date;
  granularity: Granularity;
  productId?: string;
  byProduct: boolean;
  /** Zone whose days the day buckets are (default UTC). */
  timeZone?: string;
  /** Zone the lake's days are days of (default UTC). */
  lakeZone?: string;
}

/** Local Parquet paths to aggregate, by kind. Callers choose them per hour (rule 6). */
export interface BucketFiles {
  /** Batch sales_minute files (published days, any granularity). */
  batchMinutes: readonly string[];
  /** Batch daily_sales files: only for whole days at granularity=day. */
  batchDaily: readonly string[];
  /** Realtime sales_minute files (compacted + uncovered partials). */
  realtimeMinutes: readonly string[];
}

export interface BucketResult {
  batch: BucketRow[];
  realtime: BucketRow[];
  /** Newest realtime minute window in the range, whatever the product filter (ISO), or null. */
  realtimeLatest: string | null;
}

const EMPTY_SELECT = {
  sales_minute: `select null::timestamp as window_start, null::varchar as product_id, null::varchar as currency,
                   null::bigint as orders, null::bigint as units, null::decimal(38, 2) as revenue`,
  daily_sales: `select null::date as day, null::varchar as product_id, null::varchar as currency,
                  null::bigint as orders, null::bigint as units, null::decimal(38, 2) as revenue`,
} as const;

const emptyFiles = new Map<keyof typeof EMPTY_SELECT, Promise<string>>();

/** A Parquet file with a view's schema and no rows, so the query's file lists are never empty. */
function emptyFile(view: keyof typeof EMPTY_SELECT): Promise<string> {
  let file = emptyFiles.get(view);
  if (!file) {
    file = withConnection(async (connection) => {
      // Named by its schema: processes of another code version may share the directory (and did, in tests).
      const target = path.join(duckdbHome, `serving-empty-${view}-${shortHash(EMPTY_SELECT[view])}.parquet`);
      const temp = `${target}.${process.pid}.tmp`;
      await connection.run(`copy (${EMPTY_SELECT[view]} limit 0) to ${sqlPath(temp)} (format parquet)`);
      // Renamed into place: concurrent processes (test workers) share the directory.
      await rename(temp, target);
      return target;
    });
    emptyFiles.set(view, file);
  }
  return file;
}

/** `2026-11-20 10:00:00` (DuckDB TIMESTAMP text, UTC) → `2026-11-20T10:00:00Z`. */
function isoOf(timestamp: string): string {
  return `${timestamp.replace(' ', 'T')}Z`;
}

/** A JS instant as a DuckDB TIMESTAMP literal value (bound, then cast). */
function timestampText(instant: Date): string {
  return instant.toISOString().replace('T', ' ').replace('Z', '');
}

/**
 * Aggregates batch and realtime sales_minute files into buckets in one DuckDB query.
 * Callers choose the files per hour (rule 6); this function only sums what it is given.
 */
export async function readBuckets(spec: BucketSpec, files: BucketFiles): Promise<BucketResult> {
  const [empty, emptyDaily] = await Promise.all([emptyFile('sales_minute'), emptyFile('daily_sales')]);
  const rows = await withConnection(async (connection: DuckDBConnection) => {
    const reader = await connection.runAndReadAll(SALES_ROWS_SQL, {
      batch_files: listValue([empty, ...files.batchMinutes]),
      batch_daily_files: listValue([emptyDaily, ...files.batchDaily]),
      realtime_files: listValue([empty, ...files.realtimeMinutes]),
      start: timestampText(spec.start),
      end: timestampText(spec.end),
      product_id: spec.productId ?? null,
      granularity: spec.granularity,
      by_product: spec.byProduct,
      tz: spec.timeZone ?? 'UTC',
      lake_zone: spec.lakeZone ?? 'UTC',
    });
    return reader.getRowObjectsJson();
  });
  const result: BucketResult = { batch: [], realtime: [], realtimeLatest: null };
  // One SQL row per currency; a bucket is one row per (source, start, product) with its money per currency.
  const buckets = new Map<string, BucketRow>();
  for (const row of rows) {
    const bucketStart = row['bucket_start'] as string;
    const latest = row['latest_window'] as string;
    if (
      row['source'] === 'realtime' &&
      (result.realtimeLatest === null || isoOf(latest) > result.realtimeLatest)
    ) {
      result.realtimeLatest = isoOf(latest);
    }
    if (Number(row['matched_rows']) === 0) continue;
    const source = row['source'] as 'batch' | 'realtime';
    const productId = (row['product_id'] as string | null) ?? null;
    const partDay = (row['part_day'] as string | null) ?? null;
    const key = `${source}\0${partDay ?? ''}\0${bucketStart}\0${productId ?? ''}`;
    let bucket = buckets.get(key);
    if (!bucket) {
      bucket = {
        windowStart: isoOf(bucketStart),
        productId,
        orders: 0,
        units: 0,
        revenue: new Map(),
        partDay,
      };
      buckets.set(key, bucket);
      (source === 'batch' ? result.batch : result.realtime).push(bucket);
    }
    bucket.orders += Number(row['orders']);
    bucket.units += Number(row['units']);
    addMoney(bucket.revenue, String(row['currency']), centsOf(String(row['revenue'])));
  }
  return result;
}

/** The newest minute window in `files` (ISO), or null when they hold no rows. */
export async function latestWindow(files: readonly string[]): Promise<string | null> {
  if (files.length === 0) return null;
  const empty = await emptyFile('sales_minute');
  const rows = await withConnection(async (connection) =>
    (
      await connection.runAndReadAll(REALTIME_LATEST_SQL, { realtime_files: listValue([empty, ...files]) })
    ).getRowObjectsJson(),
  );
  const latest = rows[0]?.['latest'] as string | null | undefined;
  return latest ? isoOf(latest) : null;
}
