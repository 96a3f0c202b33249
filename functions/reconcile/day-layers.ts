import type { DuckDBConnection } from '@duckdb/node-api';
import pLimit from 'p-limit';
import { type PublishedDay, publishedFile } from '../pipeline/batch-published.ts';
import { sqlPathList, withConnection } from '../pipeline/duckdb-session.ts';
import { lake } from '../pipeline/lake-layout.ts';
import { addMoney, type MoneyByCurrency } from '../pipeline/money.ts';
import type { ObjectInfo, ObjectStore } from '../pipeline/object-store.ts';
import { realtimeDaySnapshot, snapshotFiles } from '../pipeline/realtime-view.ts';
import { materialize } from '../pipeline/sql-models.ts';
import { toCents } from './exact.ts';

/** Orders, units and revenue (cents per currency) of one period: the measures reconciliation compares. */
export interface Measures {
  orders: bigint;
  units: bigint;
  revenue: MoneyByCurrency;
}

/** Fresh empty measures (the revenue map is mutable, so never share one). */
export function zero(): Measures {
  return { orders: 0n, units: 0n, revenue: new Map() };
}

/** `a + b`, currency by currency. */
export function addMeasures(a: Measures, b: Measures): Measures {
  const revenue = new Map(a.revenue);
  for (const [code, cents] of b.revenue) addMoney(revenue, code, cents);
  return { orders: a.orders + b.orders, units: a.units + b.units, revenue };
}

/** One (hour, product) of a day, as each layer counts it. */
export interface Cell {
  hour: string;
  productId: string;
  batch: Measures;
  realtime: Measures;
}

/** Orders one side has and the other lacks, by order_id. */
export interface OrderPresence {
  count: number;
  sampleIds: string[];
  byHour: Record<string, number>;
}

/** Everything reconciliation reads about one day, from one consistent look at the lake. */
export interface DayLayers {
  day: string;
  cells: Cell[];
  /** Per hour, what the stream archive (accepted events, deduped by order_id with the shared models) holds. */
  archiveHours: Map<string, Measures>;
  /** Hours of the realtime view that have files. */
  realtimeHours: Set<string>;
  archiveFiles: number;
  /** In batch, absent from the stream archive. */
  missingFromStream: OrderPresence;
  /** In the stream archive, absent from batch. */
  missingFromBatch: OrderPresence;
}

const SAMPLE_IDS = 5;

const MINUTES_TABLE = `(window_start timestamp, product_id varchar, currency varchar, orders bigint, units bigint,
  revenue decimal(38, 2))`;

async function loadMinutes(
  connection: DuckDBConnection,
  table: string,
  paths: string[],
  where: { day: string; timeZone: string },
): Promise<void> {
  await connection.run(`create or replace temp table ${table} ${MINUTES_TABLE}`);
  if (paths.length === 0) return;
  await connection.run(
    `insert into ${table} by name
     select window_start, product_id, currency, orders, units, revenue
     from read_parquet(${sqlPathList(paths)}, union_by_name = true)
     where local_date(window_start, $zone) = $day::date`,
    { day: where.day, zone: where.timeZone },
  );
}

/**
 * Loads the archive's accepted events as `validated_orders` and runs the shared `order_facts` and
 * `sales_minute` models over them, so the archive is counted exactly as both layers count orders.
 */
async function loadArchive(connection: DuckDBConnection, paths: string[], day: string): Promise<void> {
  await connection.run(
    `create or replace temp table validated_orders (
       order_id varchar, event_id varchar, user_id varchar, product_id varchar, quantity integer,
       unit_price decimal(18, 2), currency varchar, event_time timestamp, is_valid boolean, reporting_day date)`,
  );
  if (paths.length > 0) {
    const relation = `read_parquet(${sqlPathList(paths)}, union_by_name = true)`;
    const present = new Set(
      (await connection.runAndReadAll(`describe select * from ${relation}`))
        .getRowObjectsJson()
        .map((row) => String(row['column_name'])),
    );
    const column = (name: string, type: string) =>
      present.has(name) ? `${name}::${type} as ${name}` : `null::${type} as ${name}`;
    await connection.run(
      `insert into validated_orders by name
       select
           ${column('order_id', 'varchar')}, ${column('event_id', 'varchar')}, ${column('user_id', 'varchar')},
           ${column('product_id', 'varchar')}, ${column('quantity', 'integer')},
           ${column('unit_price', 'decimal(18, 2)')}, ${column('currency', 'varchar')},
           ${column('event_time', 'timestamp')}, true as is_valid, $day::date as reporting_day
       from ${relation}`,
      // The archive of day D holds day D's orders (written per reporting day by the consumer).
      { day },
    );
  }
  await materialize(connection, 'order_facts', 'stream_orders');
  await connection.run('create or replace temp view order_facts as select * from stream_orders');
  await materialize(connection, 'sales_minute', 'archive_minutes');
  await connection.run('drop view order_facts');
}

async function rows(connection: DuckDBConnection, sql: string): Promise<Record<string, unknown>[]> {
  return (await connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
}

/** Sums SQL rows (one per currency) into measures; a row with no currency adds counts only. */
function addRow(into: Measures, row: Record<string, unknown>, prefix = ''): Measures {
  const currency = row[`${prefix}currency`];
  const revenue = new Map(into.revenue);
  if (typeof currency === 'string') {
    addMoney(revenue, currency, toCents(String(row[`${prefix}revenue`] ?? '0.00')));
  }
  return {
    orders: into.orders + BigInt(String(row[`${prefix}orders`] ?? 0)),
    units: into.units + BigInt(String(row[`${prefix}units`] ?? 0)),
    revenue,
  };
}

async function presence(connection: DuckDBConnection, from: string, notIn: string): Promise<OrderPresence> {
  const missing = `(select order_id, event_time from ${from} anti join ${notIn} using (order_id))`;
  const byHour = await rows(
    connection,
    `select strftime(event_time, '%H') as hour, count(*)::integer as n from ${missing} group by all order by hour`,
  );
  const samples = await rows(
    connection,
    `select order_id from ${missing} order by event_time, order_id limit ${SAMPLE_IDS}`,
  );
  return {
    count: byHour.reduce((sum, row) => sum + Number(row['n']), 0),
    sampleIds: samples.map((row) => String(row['order_id'])),
    byHour: Object.fromEntries(byHour.map((row) => [String(row['hour']), Number(row['n'])])),
  };
}

/** Downloads at most this many objects at once (a day's stream archive can be thousands of small files). */
const DOWNLOAD_CONCURRENCY = 16;

function localPaths(store: ObjectStore, infos: ObjectInfo[]): Promise<string[]> {
  const limit = pLimit(DOWNLOAD_CONCURRENCY);
  return Promise.all(infos.map((info) => limit(() => store.localPath(info))));
}

/**
 * Reads a day's published batch view (if any), its realtime view (one consistent snapshot) and its stream
 * archive, and lines them up per (hour, product) and by order_id. Money stays DECIMAL until it becomes cents.
 */
export async function readDayLayers(
  store: ObjectStore,
  day: string,
  published: PublishedDay | undefined,
  timeZone: string,
): Promise<DayLayers> {
  const snapshot = await realtimeDaySnapshot(store, day);
  const realtimeInfos = snapshotFiles(snapshot);
  const archiveInfos = (await store.list(lake.streamArchivePrefix(day))).filter((info) =>
    info.key.endsWith('.parquet'),
  );
  const batchKeys = published
    ? [publishedFile(published, 'sales_minute'), publishedFile(published, 'order_facts')]
    : [];
  const batchInfos = await Promise.all(
    batchKeys.map(async (key) => {
      const info = await store.head(key);
      if (!info) throw new Error(`published batch file ${key} of ${day} is missing`);
      return info;
    }),
  );
  const [batchPaths, realtimePaths, archivePaths] = await Promise.all([
    localPaths(store, batchInfos),
    localPaths(store, realtimeInfos),
    localPaths(store, archiveInfos),
  ]);
  return withConnection(async (connection) => {
    await loadMinutes(connection, 'batch_minutes', batchPaths.slice(0, 1), { day, timeZone });
    await loadMinutes(connection, 'realtime_minutes', realtimePaths, { day, timeZone });
    await connection.run(
      'create or replace temp table batch_orders (order_id varchar, event_time timestamp)',
    );
    if (batchPaths[1] !== undefined) {
      await connection.run(
        `insert into batch_orders select order_id, event_time from read_parquet(${sqlPathList([batchPaths[1]])})`,
      );
    }
    await loadArchive(connection, archivePaths, day);

    const cellRows = await rows(
      connection,
      `with

      batch_cells as (
          select strftime(window_start, '%H') as hour, product_id, currency,
              sum(orders)::bigint as orders, sum(units)::bigint as units, sum(revenue)::decimal(38, 2) as revenue,
          from batch_minutes
          group by all
      ),

      realtime_cells as (
          select strftime(window_start, '%H') as hour, product_id, currency,
              sum(orders)::bigint as orders, sum(units)::bigint as units, sum(revenue)::decimal(38, 2) as revenue,
          from realtime_minutes
          group by all
      )

      -- one row per (hour, product, currency); cells are (hour, product) with money per currency
      select
          coalesce(b.hour, r.hour) as hour,
          coalesce(b.product_id, r.product_id) as product_id,
          b.currency as b_currency,
          coalesce(b.orders, 0) as b_orders, coalesce(b.units, 0) as b_units,
          coalesce(b.revenue, 0)::decimal(38, 2)::varchar as b_revenue,
          r.currency as r_currency,
          coalesce(r.orders, 0) as r_orders, coalesce(r.units, 0) as r_units,
          coalesce(r.revenue, 0)::decimal(38, 2)::varchar as r_revenue,
      from batch_cells as b
      full outer join realtime_cells as r using (hour, product_id, currency)
      order by hour, product_id, coalesce(b.currency, r.currency)`,
    );
    const archiveRows = await rows(
      connection,
      `select strftime(window_start, '%H') as hour, currency,
           sum(orders)::bigint as orders, sum(units)::bigint as units,
           sum(revenue)::decimal(38, 2)::varchar as revenue,
       from archive_minutes group by all order by hour, currency`,
    );
    const cells = new Map<string, Cell>();
    for (const row of cellRows) {
      const hour = String(row['hour']);
      const productId = String(row['product_id']);
      const key = `${hour}\0${productId}`;
      const cell = cells.get(key) ?? { hour, productId, batch: zero(), realtime: zero() };
      cells.set(key, {
        ...cell,
        batch: addRow(cell.batch, row, 'b_'),
        realtime: addRow(cell.realtime, row, 'r_'),
      });
    }
    const archiveHours = new Map<string, Measures>();
    for (const row of archiveRows) {
      const hour = String(row['hour']);
      archiveHours.set(hour, addRow(archiveHours.get(hour) ?? zero(), row));
    }
    const result: DayLayers = {
      day,
      cells: [...cells.values()],
      archiveHours,
      realtimeHours: snapshot.hours,
      archiveFiles: archiveInfos.length,
      missingFromStream: await presence(connection, 'batch_orders', 'stream_orders'),
      missingFromBatch: await presence(connection, 'stream_orders', 'batch_orders'),
    };
    await connection.run(
      'drop table batch_minutes; drop table realtime_minutes; drop table batch_orders; drop table validated_orders; drop table stream_orders; drop table archive_minutes',
    );
    return result;
  });
}
