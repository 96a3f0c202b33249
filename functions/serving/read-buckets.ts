import { rename } from 'node:fs/promises';
import path from 'node:path';
import { type DuckDBConnection, listValue } from '@duckdb/node-api';
import { duckdbHome, sqlPath, withConnection } from '../pipeline/duckdb-session.ts';
import { shortHash } from '../pipeline/ids.ts';
import type { ServedModel } from './metric-model.ts';
import { emptySelect, metricRowsSql, REALTIME_LATEST_SQL } from './metric-sql.ts';
import { addMoney, centsOf, type MoneyByCurrency } from './money.ts';
import type { Granularity } from './query-limits.ts';

/** One aggregated bucket of a model: money in cents until it leaves the serving layer. */
export interface BucketRow {
  /** ISO instant of the bucket start (UTC), e.g. `2026-11-20T10:00:00Z`. */
  windowStart: string;
  /** The grouped (or filtered) dimensions of the row; the others are summed over. */
  keys: Record<string, string | null>;
  /** Count and sum measures. */
  values: Record<string, number>;
  /** Money measures, per currency: amounts in different currencies are never added. */
  money: Record<string, MoneyByCurrency>;
  /** Distinct measures: the values seen (a union never counts one twice). */
  sets: Record<string, Set<string>>;
  /** The published lake day a batch row was read from (its cache entry); null for realtime rows. */
  partDay?: string | null;
  /** The local path of the realtime file a realtime row was read from (its cache entry); null for batch rows. */
  partFile?: string | null;
}

export interface BucketSpec {
  model: ServedModel;
  start: Date;
  end: Date;
  granularity: Granularity;
  /** Only rows whose dimension has this value (rows then carry the dimension). */
  filters: Record<string, string>;
  /** Dimensions the rows are split by (besides the filtered ones). */
  groupBy: readonly string[];
  /** Zone whose days the day buckets are (default UTC). */
  timeZone?: string;
  /** Zone the lake's days are days of (default UTC). */
  lakeZone?: string;
}

/** Local Parquet paths to aggregate, by kind. Callers choose them per hour (rule 6). */
export interface BucketFiles {
  /** Batch minute files (published days, any granularity). */
  batchMinutes: readonly string[];
  /** Batch daily rollup files: only for whole days at granularity=day. */
  batchDaily: readonly string[];
  /** Realtime minute files (compacted + uncovered partials). */
  realtimeMinutes: readonly string[];
}

export interface BucketResult {
  batch: BucketRow[];
  realtime: BucketRow[];
  /** Newest realtime minute window in the range, whatever the filters (ISO), or null. */
  realtimeLatest: string | null;
  /** The same per realtime file (local path) that has a minute in the range. */
  realtimeLatestByFile: Map<string, string>;
}

/** The dimensions a spec's rows carry: the grouped ones and the filtered ones, in declaration order. */
export function rowDimensions(spec: Pick<BucketSpec, 'model' | 'filters' | 'groupBy'>): string[] {
  return spec.model.dimensions.filter((d) => spec.groupBy.includes(d) || spec.filters[d] !== undefined);
}

const emptyFiles = new Map<string, Promise<string>>();

/** A Parquet file with a view's schema and no rows, so the query's file lists are never empty. */
function emptyFile(select: string): Promise<string> {
  let file = emptyFiles.get(select);
  if (!file) {
    file = withConnection(async (connection) => {
      // Named by its schema: processes of another code version may share the directory (and did, in tests).
      const target = path.join(duckdbHome, `serving-empty-${shortHash(select)}.parquet`);
      const temp = `${target}.${process.pid}.tmp`;
      await connection.run(`copy (${select} limit 0) to ${sqlPath(temp)} (format parquet)`);
      // Renamed into place: concurrent processes (test workers) share the directory.
      await rename(temp, target);
      return target;
    });
    emptyFiles.set(select, file);
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
 * Aggregates a model's batch and realtime minute files into buckets in one DuckDB query.
 * Callers choose the files per hour (rule 6); this function only sums what it is given.
 */
export async function readBuckets(spec: BucketSpec, files: BucketFiles): Promise<BucketResult> {
  const { model } = spec;
  const [empty, emptyDaily] = await Promise.all([
    emptyFile(emptySelect(model, 'minute')),
    emptyFile(emptySelect(model, 'day')),
  ]);
  const carried = rowDimensions(spec);
  const params: Record<string, unknown> = {
    batch_files: listValue([empty, ...files.batchMinutes]),
    batch_daily_files: listValue([emptyDaily, ...files.batchDaily]),
    realtime_files: listValue([empty, ...files.realtimeMinutes]),
    start: timestampText(spec.start),
    end: timestampText(spec.end),
    granularity: spec.granularity,
    tz: spec.timeZone ?? 'UTC',
    lake_zone: spec.lakeZone ?? 'UTC',
  };
  for (const d of model.dimensions) {
    params[`f_${d}`] = spec.filters[d] ?? null;
    if (!model.currencyDimensions.includes(d)) params[`g_${d}`] = carried.includes(d);
  }
  const rows = await withConnection(async (connection: DuckDBConnection) => {
    const reader = await connection.runAndReadAll(metricRowsSql(model), params as never);
    return reader.getRowObjectsJson();
  });
  const result: BucketResult = {
    batch: [],
    realtime: [],
    realtimeLatest: null,
    realtimeLatestByFile: new Map(),
  };
  // One SQL row per currency; a bucket is one row per (source, part, start, carried dimensions).
  const buckets = new Map<string, BucketRow>();
  for (const row of rows) {
    const bucketStart = row['bucket_start'] as string;
    const partFile = (row['part_file'] as string | null) ?? null;
    if (row['source'] === 'realtime' && partFile !== null) {
      const latest = isoOf(row['latest_window'] as string);
      if (result.realtimeLatest === null || latest > result.realtimeLatest) result.realtimeLatest = latest;
      const ofFile = result.realtimeLatestByFile.get(partFile);
      if (ofFile === undefined || latest > ofFile) result.realtimeLatestByFile.set(partFile, latest);
    }
    if (Number(row['matched_rows']) === 0) continue;
    const source = row['source'] as 'batch' | 'realtime';
    const partDay = (row['part_day'] as string | null) ?? null;
    const keys = Object.fromEntries(carried.map((d) => [d, (row[d] as string | null) ?? null]));
    const key = [
      source,
      partDay ?? '',
      partFile ?? '',
      bucketStart,
      ...carried.map((d) => keys[d] ?? ''),
    ].join('\0');
    let bucket = buckets.get(key);
    if (!bucket) {
      bucket = {
        windowStart: isoOf(bucketStart),
        keys,
        values: Object.fromEntries(
          model.measures.filter((m) => m.kind === 'count' || m.kind === 'sum').map((m) => [m.name, 0]),
        ),
        money: Object.fromEntries(
          model.measures.filter((m) => m.kind === 'money').map((m) => [m.name, new Map()]),
        ),
        sets: Object.fromEntries(
          model.measures.filter((m) => m.kind === 'distinct').map((m) => [m.name, new Set()]),
        ),
        partDay,
        partFile,
      };
      buckets.set(key, bucket);
      (source === 'batch' ? result.batch : result.realtime).push(bucket);
    }
    for (const m of model.measures) {
      if (m.kind === 'money') {
        const money = bucket.money[m.name] as MoneyByCurrency;
        addMoney(money, String(row[m.currency as string]), centsOf(String(row[m.name])));
      } else if (m.kind === 'distinct') {
        // Repeated on each currency row of the bucket: a union is idempotent.
        const set = bucket.sets[m.name] as Set<string>;
        for (const value of (row[m.name] as string[] | null) ?? []) set.add(value);
      } else {
        bucket.values[m.name] = (bucket.values[m.name] ?? 0) + Number(row[m.name]);
      }
    }
  }
  return result;
}

/** The newest minute window in `files` (ISO), or null when they hold no rows. */
export async function latestWindow(files: readonly string[], model: ServedModel): Promise<string | null> {
  if (files.length === 0) return null;
  const empty = await emptyFile(emptySelect(model, 'minute'));
  const rows = await withConnection(async (connection) =>
    (
      await connection.runAndReadAll(REALTIME_LATEST_SQL, { realtime_files: listValue([empty, ...files]) })
    ).getRowObjectsJson(),
  );
  const latest = rows[0]?.['latest'] as string | null | undefined;
  return latest ? isoOf(latest) : null;
}
