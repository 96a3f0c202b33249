import type { DuckDBConnection } from '@duckdb/node-api';
import { type Dataset, dataset } from './datasets.ts';
import { UTC } from './dates.ts';
import { sqlPath } from './duckdb-session.ts';
import { materialize } from './sql-models.ts';
import { createPolicyTables, type ValidationPolicy } from './validation-policy.ts';
import { fieldSqlType } from './validation-sql.ts';

/** What happened to the records of one run: every received record is valid or quarantined. */
export interface RecordCounts {
  received: number;
  valid: number;
  quarantined: number;
  /** Valid records dropped because their key was already counted (the dedup rule). */
  duplicates: number;
  /** Distinct events counted in the views (the dataset's facts; orders for the orders dataset). */
  orders: number;
}

/**
 * Materialises `validated_<dataset>` over `raw_<dataset>` (default orders) under `policy` (default: any ISO 4217 code, 5 min skew), with
 * each order's `reporting_day` in `timeZone`.
 */
export async function validateRawTable(
  connection: DuckDBConnection,
  policy?: ValidationPolicy,
  timeZone: string = UTC,
  ds: Dataset = dataset('orders'),
): Promise<void> {
  await createPolicyTables(connection, policy, timeZone);
  await materialize(connection, `validated_${ds.name}`);
}

/**
 * `validated_<dataset>` over `raw_<dataset>`: every record judged by the dataset's validation and, for a day's
 * export (`expectedDay`), rejected when its event is not of that day (it would be served under the wrong day).
 */
export async function validateRecords(
  connection: DuckDBConnection,
  options: {
    expectedDay?: string | undefined;
    policy?: ValidationPolicy | undefined;
    timeZone: string;
    dataset: Dataset;
  },
): Promise<void> {
  const { timeZone, dataset: ds } = options;
  await validateRawTable(connection, options.policy, timeZone, ds);
  if (options.expectedDay === undefined) return;
  await connection.run(
    `update validated_${ds.name}
     set is_valid = false, reasons = list_append(reasons, $field || ': not in the export day ' || $day || $zone)
     where is_valid and reporting_day <> $day::date`,
    { field: ds.eventTime, day: options.expectedDay, zone: timeZone === UTC ? '' : ` (${timeZone})` },
  );
}

/**
 * Runs a dataset's shared models over `raw_<dataset>` (default orders): validation, the dedup rule (its facts) and
 * its minute models. The batch layer also materialises the day rollups and rejects events outside its export day
 * (`expectedDay`); the speed layer stops at minutes.
 */
export async function buildDatasetViews(
  connection: DuckDBConnection,
  options: {
    daily?: boolean;
    expectedDay?: string;
    policy?: ValidationPolicy;
    timeZone?: string;
    dataset?: Dataset;
    /** The speed layer's micro-batch: only the minute models a micro-batch computes (`realtime: micro-batch`). */
    microBatch?: boolean;
  } = {},
): Promise<RecordCounts> {
  const timeZone = options.timeZone ?? UTC;
  const ds = options.dataset ?? dataset('orders');
  const validated = `validated_${ds.name}`;
  await validateRecords(connection, { ...options, timeZone, dataset: ds });
  await materialize(connection, ds.facts);
  for (const model of ds.models.filter((m) => m.grain === 'minute')) {
    if (options.microBatch && model.realtime === 'compaction') continue;
    await materialize(connection, model.name);
  }
  if (options.daily) {
    for (const model of ds.models.filter((m) => m.grain === 'day')) await materialize(connection, model.name);
  }
  const reader = await connection.runAndReadAll(
    `select
       (select count(*) from ${validated})::integer as received,
       (select count(*) from ${validated} where is_valid)::integer as valid,
       (select count(*) from ${ds.facts})::integer as orders`,
  );
  const row = reader.getRowObjectsJson()[0] as { received: number; valid: number; orders: number };
  return {
    received: row.received,
    valid: row.valid,
    quarantined: row.received - row.valid,
    duplicates: row.valid - row.orders,
    orders: row.orders,
  };
}

/**
 * `<facts>_neighbours`: the facts of the days around the one being computed, for a dataset whose models read them
 * (`neighbour_days: 1`); `select` gives its rows (the declared fields and `reporting_day`), none when omitted.
 */
export async function createNeighbourFacts(
  connection: DuckDBConnection,
  ds: Dataset,
  select?: string,
): Promise<void> {
  const columns = Object.entries(ds.fields).map(([name, f]) => `${name} ${fieldSqlType(f)}`);
  const table = `${ds.facts}_neighbours`;
  await connection.run(`create or replace temp table ${table} (${columns.join(', ')}, reporting_day date)`);
  if (select) await connection.run(`insert into ${table} by name ${select}`);
}

/** Writes a query's rows to a local Parquet file (zstd). `select` is trusted SQL built by this package. */
export async function copyToParquet(
  connection: DuckDBConnection,
  select: string,
  localPath: string,
): Promise<void> {
  await connection.run(`copy (${select}) to ${sqlPath(localPath)} (format parquet, compression zstd)`);
}

/**
 * Writes the quarantined records of `validated_<dataset>` as JSONL: raw record, reasons, where it came from, when.
 * Returns the number of records written.
 */
export async function copyQuarantine(
  connection: DuckDBConnection,
  localPath: string,
  quarantinedAt: Date,
  where = 'true',
  validated = 'validated_orders',
): Promise<number> {
  const reader = await connection.runAndReadAll(
    `select count(*)::integer as n from ${validated} where not is_valid and (${where})`,
  );
  const count = Number(reader.getRowObjectsJson()[0]?.['n'] ?? 0);
  if (count === 0) return 0;
  await connection.run(
    `copy (
       select record_ref, source, reasons, raw, $at::varchar as quarantined_at
       from ${validated} where not is_valid and (${where}) order by record_ref
     ) to ${sqlPath(localPath)} (format json)`,
    { at: quarantinedAt.toISOString() },
  );
  return count;
}

/** How many rejected records gave one reason. */
export interface ReasonCount {
  reason: string;
  count: number;
}

/** The most frequent reasons in `validated_<dataset>`, most frequent first (a record may give several). */
export async function topRejectReasons(
  connection: DuckDBConnection,
  limit = 5,
  validated = 'validated_orders',
): Promise<ReasonCount[]> {
  const reader = await connection.runAndReadAll(
    `select reason, count(*)::integer as count
     from (select unnest(reasons) as reason from ${validated} where not is_valid)
     group by reason
     order by count desc, reason
     limit $limit`,
    { limit },
  );
  return reader
    .getRowObjectsJson()
    .map((row) => ({ reason: String(row['reason']), count: Number(row['count']) }));
}
