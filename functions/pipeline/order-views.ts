import type { DuckDBConnection } from '@duckdb/node-api';
import { UTC } from './dates.ts';
import { sqlPath } from './duckdb-session.ts';
import { materialize } from './sql-models.ts';
import { createPolicyTables, type ValidationPolicy } from './validation-policy.ts';

/** What happened to the records of one run: every received record is valid or quarantined. */
export interface RecordCounts {
  received: number;
  valid: number;
  quarantined: number;
  /** Valid records dropped because their order_id was already counted. */
  duplicates: number;
  /** Distinct orders counted in the views. */
  orders: number;
}

/**
 * Materialises `validated_orders` over `raw_orders` under `policy` (default: any ISO 4217 code, 5 min skew), with
 * each order's `reporting_day` in `timeZone`.
 */
export async function validateRawOrders(
  connection: DuckDBConnection,
  policy?: ValidationPolicy,
  timeZone: string = UTC,
): Promise<void> {
  await createPolicyTables(connection, policy, timeZone);
  await materialize(connection, 'validated_orders');
}

/**
 * Runs the shared models over `raw_orders`: validation, dedup by order_id, and `sales_minute`.
 * The batch layer also materialises `daily_sales` and rejects orders outside its export day
 * (`expectedDay`); the speed layer stops at minutes.
 */
export async function buildOrderViews(
  connection: DuckDBConnection,
  options: { daily?: boolean; expectedDay?: string; policy?: ValidationPolicy; timeZone?: string } = {},
): Promise<RecordCounts> {
  const timeZone = options.timeZone ?? UTC;
  await validateRawOrders(connection, options.policy, timeZone);
  if (options.expectedDay !== undefined) {
    // A day's export may only hold that day's orders; others would be served under the wrong day.
    await connection.run(
      `update validated_orders
       set is_valid = false, reasons = list_append(reasons, 'event_time: not in the export day ' || $day || $zone)
       where is_valid and reporting_day <> $day::date`,
      {
        day: options.expectedDay,
        zone: timeZone === UTC ? '' : ` (${timeZone})`,
      },
    );
  }
  await materialize(connection, 'order_facts');
  await materialize(connection, 'sales_minute');
  if (options.daily) await materialize(connection, 'daily_sales');
  const reader = await connection.runAndReadAll(
    `select
       (select count(*) from validated_orders)::integer as received,
       (select count(*) from validated_orders where is_valid)::integer as valid,
       (select count(*) from order_facts)::integer as orders`,
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

/** Writes a query's rows to a local Parquet file (zstd). `select` is trusted SQL built by this package. */
export async function copyToParquet(
  connection: DuckDBConnection,
  select: string,
  localPath: string,
): Promise<void> {
  await connection.run(`copy (${select}) to ${sqlPath(localPath)} (format parquet, compression zstd)`);
}

/**
 * Writes the quarantined records of `validated_orders` as JSONL: raw record, reasons, where it came from, when.
 * Returns the number of records written.
 */
export async function copyQuarantine(
  connection: DuckDBConnection,
  localPath: string,
  quarantinedAt: Date,
  where = 'true',
): Promise<number> {
  const reader = await connection.runAndReadAll(
    `select count(*)::integer as n from validated_orders where not is_valid and (${where})`,
  );
  const count = Number(reader.getRowObjectsJson()[0]?.['n'] ?? 0);
  if (count === 0) return 0;
  await connection.run(
    `copy (
       select record_ref, source, reasons, raw, $at::varchar as quarantined_at
       from validated_orders where not is_valid and (${where}) order by record_ref
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

/** The most frequent reasons in `validated_orders`, most frequent first (a record may give several). */
export async function topRejectReasons(connection: DuckDBConnection, limit = 5): Promise<ReasonCount[]> {
  const reader = await connection.runAndReadAll(
    `select reason, count(*)::integer as count
     from (select unnest(reasons) as reason from validated_orders where not is_valid)
     group by reason
     order by count desc, reason
     limit $limit`,
    { limit },
  );
  return reader
    .getRowObjectsJson()
    .map((row) => ({ reason: String(row['reason']), count: Number(row['count']) }));
}
