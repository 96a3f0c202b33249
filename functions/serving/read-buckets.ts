import { rename } from 'node:fs/promises';
import path from 'node:path';
import { type DuckDBConnection, listValue } from '@duckdb/node-api';
import { duckdbHome, sqlPath, withConnection } from '../pipeline/duckdb-session.ts';
import { centsOf } from './money.ts';
import type { Granularity } from './sales-query.ts';
import { REALTIME_LATEST_SQL, SALES_ROWS_SQL } from './sales-rows-sql.ts';

/** One aggregated bucket: money in cents until it leaves the serving layer. */
export interface BucketRow {
  /** ISO instant of the bucket start (UTC), e.g. `2026-11-20T10:00:00Z`. */
  windowStart: string;
  productId: string | null;
  orders: number;
  units: number;
  revenueCents: bigint;
}

export interface BucketSpec {
  start: Date;
  end: Date;
  granularity: Granularity;
  productId?: string;
  byProduct: boolean;
}

export interface BucketResult {
  batch: BucketRow[];
  realtime: BucketRow[];
  /** Newest realtime minute window in the range, whatever the product filter (ISO), or null. */
  realtimeLatest: string | null;
}

let emptyFile: Promise<string> | undefined;

/** A Parquet file with the sales_minute schema and no rows, so both file lists of the query are never empty. */
function emptyMinutesFile(): Promise<string> {
  emptyFile ??= withConnection(async (connection) => {
    const file = path.join(duckdbHome, 'serving-empty-sales-minute.parquet');
    const temp = `${file}.${process.pid}.tmp`;
    await connection.run(
      `copy (
         select null::timestamp as window_start, null::varchar as product_id, null::bigint as orders,
                null::bigint as units, null::decimal(18, 2) as revenue
         limit 0
       ) to ${sqlPath(temp)} (format parquet)`,
    );
    // Renamed into place: concurrent processes (test workers) share the directory.
    await rename(temp, file);
    return file;
  });
  return emptyFile;
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
export async function readBuckets(
  spec: BucketSpec,
  batchFiles: readonly string[],
  realtimeFiles: readonly string[],
): Promise<BucketResult> {
  const empty = await emptyMinutesFile();
  const rows = await withConnection(async (connection: DuckDBConnection) => {
    const reader = await connection.runAndReadAll(SALES_ROWS_SQL, {
      batch_files: listValue([empty, ...batchFiles]),
      realtime_files: listValue([empty, ...realtimeFiles]),
      start: timestampText(spec.start),
      end: timestampText(spec.end),
      product_id: spec.productId ?? null,
      granularity: spec.granularity,
      by_product: spec.byProduct,
    });
    return reader.getRowObjectsJson();
  });
  const result: BucketResult = { batch: [], realtime: [], realtimeLatest: null };
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
    const bucket: BucketRow = {
      windowStart: isoOf(bucketStart),
      productId: (row['product_id'] as string | null) ?? null,
      orders: Number(row['orders']),
      units: Number(row['units']),
      revenueCents: centsOf(String(row['revenue'])),
    };
    (row['source'] === 'batch' ? result.batch : result.realtime).push(bucket);
  }
  return result;
}

/** The newest minute window in `files` (ISO), or null when they hold no rows. */
export async function latestWindow(files: readonly string[]): Promise<string | null> {
  if (files.length === 0) return null;
  const empty = await emptyMinutesFile();
  const rows = await withConnection(async (connection) =>
    (
      await connection.runAndReadAll(REALTIME_LATEST_SQL, { realtime_files: listValue([empty, ...files]) })
    ).getRowObjectsJson(),
  );
  const latest = rows[0]?.['latest'] as string | null | undefined;
  return latest ? isoOf(latest) : null;
}
