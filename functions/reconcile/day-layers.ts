import type { DuckDBConnection } from '@duckdb/node-api';
import pLimit from 'p-limit';
import { type PublishedDay, publishedFile } from '../pipeline/batch-published.ts';
import { createNeighbourFacts } from '../pipeline/dataset-views.ts';
import type { Dataset } from '../pipeline/datasets.ts';
import { addDays } from '../pipeline/dates.ts';
import { sqlPathList, withConnection } from '../pipeline/duckdb-session.ts';
import { lake } from '../pipeline/lake-layout.ts';
import { addMoney, type MoneyByCurrency } from '../pipeline/money.ts';
import type { ObjectInfo, ObjectStore } from '../pipeline/object-store.ts';
import { realtimeDaySnapshot, snapshotFiles } from '../pipeline/realtime-view.ts';
import { materialize } from '../pipeline/sql-models.ts';
import { fieldSqlType } from '../pipeline/validation-sql.ts';
import type { ServedModel } from '../serving/metric-model.ts';
import { measureSqlType } from '../serving/metric-sql.ts';
import { toCents } from './exact.ts';

/**
 * What reconciliation compares: one minute model of a dataset. Cells are (hour, value of the model's first
 * dimension that is not a currency: `cellDimension`); money stays apart per currency.
 */
export interface ReconcileTarget {
  dataset: Dataset;
  model: ServedModel;
}

/** The dimension a model's cells (and its "products" rows) are split by, or undefined for hour-only cells. */
export function cellDimension(model: ServedModel): string | undefined {
  return model.dimensions.find((d) => !model.currencyDimensions.includes(d));
}

/** A model's measures over one period: counts and sums exactly, money as cents per currency. */
export interface Measures {
  values: Map<string, bigint>;
  money: Map<string, MoneyByCurrency>;
}

/** Fresh empty measures (the maps are mutable, so never share one). */
export function zero(): Measures {
  return { values: new Map(), money: new Map() };
}

/** `a + b`, measure by measure and currency by currency. */
export function addMeasures(a: Measures, b: Measures): Measures {
  const values = new Map(a.values);
  for (const [name, v] of b.values) values.set(name, (values.get(name) ?? 0n) + v);
  const money = new Map([...a.money].map(([name, m]) => [name, new Map(m)] as const));
  for (const [name, m] of b.money) {
    const into = money.get(name) ?? new Map<string, bigint>();
    for (const [code, cents] of m) addMoney(into, code, cents);
    money.set(name, into);
  }
  return { values, money };
}

/** Whether any measure is not zero. */
export function hasAny(m: Measures): boolean {
  return (
    [...m.values.values()].some((v) => v !== 0n) ||
    [...m.money.values()].some((byCode) => [...byCode.values()].some((c) => c !== 0n))
  );
}

/** Whether some measure of `a` is below `b`'s (money currency by currency): records lost on the way to `a`. */
export function isBelow(a: Measures, b: Measures): boolean {
  return (
    [...b.values].some(([name, v]) => (a.values.get(name) ?? 0n) < v) ||
    [...b.money].some(([name, byCode]) =>
      [...byCode].some(([code, cents]) => (a.money.get(name)?.get(code) ?? 0n) < cents),
    )
  );
}

/** One (hour, dimension value) of a day, as each layer counts it. */
export interface Cell {
  hour: string;
  /** The value of the model's cell dimension ('' when it has none). */
  key: string;
  batch: Measures;
  realtime: Measures;
}

/** Events one side has and the other lacks, by the dataset's key (several key fields are joined with `|`). */
export interface KeyPresence {
  count: number;
  sampleIds: string[];
  byHour: Record<string, number>;
}

/** Everything reconciliation reads about one day of one model, from one consistent look at the lake. */
export interface DayLayers {
  day: string;
  cells: Cell[];
  /** Per hour, what the stream archive (accepted events, deduped with the shared models) holds. */
  archiveHours: Map<string, Measures>;
  /** Hours of the realtime view that have files. */
  realtimeHours: Set<string>;
  archiveFiles: number;
  /** In batch, absent from the stream archive. */
  missingFromStream: KeyPresence;
  /** In the stream archive, absent from batch. */
  missingFromBatch: KeyPresence;
}

const SAMPLE_IDS = 5;

async function loadMinutes(
  connection: DuckDBConnection,
  model: ServedModel,
  table: string,
  paths: string[],
  where: { day: string; timeZone: string },
): Promise<void> {
  const columns = [
    'window_start timestamp',
    ...model.dimensions.map((d) => `${d} varchar`),
    ...model.measures.map((m) => `${m.name} ${measureSqlType(m)}`),
  ];
  await connection.run(`create or replace temp table ${table} (${columns.join(', ')})`);
  if (paths.length === 0) return;
  await connection.run(
    `insert into ${table} by name
     select ${['window_start', ...model.dimensions, ...model.measures.map((m) => m.name)].join(', ')}
     from read_parquet(${sqlPathList(paths)}, union_by_name = true)
     where local_date(window_start, $zone) = $day::date`,
    { day: where.day, zone: where.timeZone },
  );
}

/**
 * Loads the archive's accepted events as `validated_<dataset>` and runs the shared facts and the model over them,
 * so the archive is counted exactly as both layers count. A field an older archive lacks reads as null.
 */
async function loadArchive(
  connection: DuckDBConnection,
  { dataset: ds, model }: ReconcileTarget,
  paths: string[],
  day: string,
  neighbours: { day: string; paths: string[] }[],
): Promise<void> {
  const fields = Object.entries(ds.fields);
  await connection.run(
    `create or replace temp table validated_${ds.name} (
       ${fields.map(([name, f]) => `${name} ${fieldSqlType(f)}`).join(', ')}, is_valid boolean, reporting_day date)`,
  );
  if (paths.length > 0) {
    const relation = `read_parquet(${sqlPathList(paths)}, union_by_name = true)`;
    const present = new Set(
      (await connection.runAndReadAll(`describe select * from ${relation}`))
        .getRowObjectsJson()
        .map((row) => String(row['column_name'])),
    );
    const columns = fields.map(([name, f]) =>
      present.has(name) ? `${name}::${fieldSqlType(f)} as ${name}` : `null::${fieldSqlType(f)} as ${name}`,
    );
    await connection.run(
      `insert into validated_${ds.name} by name
       select ${columns.join(', ')}, true as is_valid, $day::date as reporting_day
       from ${relation}`,
      // The archive of day D holds day D's events (written per reporting day by the consumer).
      { day },
    );
  }
  await materialize(connection, ds.facts);
  if (ds.neighbourDays > 0) {
    // The neighbouring days' archives, earliest copy of each key (context for models that read them).
    const columns = fields.map(([name]) => name).join(', ');
    const selects = neighbours
      .filter((n) => n.paths.length > 0)
      .map(
        (n) => `select ${columns}, date '${n.day}' as reporting_day
                from read_parquet(${sqlPathList(n.paths)}, union_by_name = true)
                qualify row_number() over (partition by ${ds.key.join(', ')} order by ${ds.eventTime}) = 1`,
      );
    await createNeighbourFacts(connection, ds, selects.length > 0 ? selects.join(' union all ') : undefined);
  }
  await materialize(connection, model.name, 'archive_minutes');
}

async function rows(connection: DuckDBConnection, sql: string): Promise<Record<string, unknown>[]> {
  return (await connection.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
}

/** Sums an SQL row (one per currency) into measures; a money measure whose currency is null adds nothing. */
function addRow(model: ServedModel, into: Measures, row: Record<string, unknown>, prefix = ''): Measures {
  const add: Measures = zero();
  for (const m of model.measures) {
    if (m.kind !== 'money') {
      add.values.set(m.name, BigInt(String(row[`${prefix}${m.name}`] ?? 0)));
      continue;
    }
    const currency = row[`${prefix}${m.currency}`];
    const money = new Map<string, bigint>();
    if (typeof currency === 'string') {
      addMoney(money, currency, toCents(String(row[`${prefix}${m.name}`] ?? '0.00')));
    }
    add.money.set(m.name, money);
  }
  return addMeasures(into, add);
}

/** The key of a facts row as one text (`|` between the fields of a composite key). */
function keyText(ds: Dataset): string {
  return ds.key.length === 1
    ? `${ds.key[0]}::varchar`
    : `concat_ws('|', ${ds.key.map((k) => `${k}::varchar`).join(', ')})`;
}

async function presence(connection: DuckDBConnection, from: string, notIn: string): Promise<KeyPresence> {
  const missing = `(select record_key, event_time from ${from} anti join ${notIn} using (record_key))`;
  const byHour = await rows(
    connection,
    `select strftime(event_time, '%H') as hour, count(*)::integer as n from ${missing} group by all order by hour`,
  );
  const samples = await rows(
    connection,
    `select record_key from ${missing} order by event_time, record_key limit ${SAMPLE_IDS}`,
  );
  return {
    count: byHour.reduce((sum, row) => sum + Number(row['n']), 0),
    sampleIds: samples.map((row) => String(row['record_key'])),
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
 * `sum(m)` per measure (money as text when `asText`). A distinct measure is the size of the union of its lists: a
 * cell's is exact; hours and the day add their cells' counts, the same way on both sides.
 */
function sums(model: ServedModel, asText = false): string {
  return model.measures
    .map((m) =>
      m.kind === 'distinct'
        ? `len(list_distinct(flatten(list(${m.name}))))::bigint as ${m.name}`
        : `sum(${m.name})::${measureSqlType(m)}${asText && m.kind === 'money' ? '::varchar' : ''} as ${m.name}`,
    )
    .join(', ');
}

/**
 * Reads a day's published batch view of the model (if any), its realtime view (one consistent snapshot) and the
 * dataset's stream archive, and lines them up per (hour, dimension value) and by the dataset's key. Money stays
 * DECIMAL until it becomes cents.
 */
export async function readDayLayers(
  store: ObjectStore,
  target: ReconcileTarget,
  day: string,
  published: PublishedDay | undefined,
  timeZone: string,
): Promise<DayLayers> {
  const { dataset: ds, model } = target;
  const snapshot = await realtimeDaySnapshot(store, day, model.realtime);
  const realtimeInfos = snapshotFiles(snapshot);
  const archiveInfos = (await store.list(lake.streamArchivePrefix(day, undefined, ds.name))).filter((info) =>
    info.key.endsWith('.parquet'),
  );
  const batchKeys = published
    ? [publishedFile(published, model.name), publishedFile(published, ds.facts)]
    : [];
  const batchInfos = await Promise.all(
    batchKeys.map(async (key) => {
      const info = await store.head(key);
      if (!info) throw new Error(`published batch file ${key} of ${day} is missing`);
      return info;
    }),
  );
  const neighbourDays = ds.neighbourDays > 0 ? [addDays(day, -1), addDays(day, 1)] : [];
  const [batchPaths, realtimePaths, archivePaths, neighbours] = await Promise.all([
    localPaths(store, batchInfos),
    localPaths(store, realtimeInfos),
    localPaths(store, archiveInfos),
    Promise.all(
      neighbourDays.map(async (d) => ({
        day: d,
        paths: await localPaths(
          store,
          (await store.list(lake.streamArchivePrefix(d, undefined, ds.name))).filter((i) =>
            i.key.endsWith('.parquet'),
          ),
        ),
      })),
    ),
  ]);
  const cellDim = cellDimension(model);
  const cell = cellDim ? `coalesce(${cellDim}::varchar, '')` : `''`;
  const currencies = model.currencyDimensions;
  const joinKeys = ['hour', 'cell', ...currencies].join(', ');
  const sides = (side: 'b' | 'r') =>
    [
      ...currencies.map((c) => `${side}.${c} as ${side}_${c}`),
      ...model.measures.map((m) =>
        m.kind === 'money'
          ? `coalesce(${side}.${m.name}, 0)::decimal(38, 2)::varchar as ${side}_${m.name}`
          : `coalesce(${side}.${m.name}, 0) as ${side}_${m.name}`,
      ),
    ].join(', ');
  return withConnection(async (connection) => {
    await loadMinutes(connection, model, 'batch_minutes', batchPaths.slice(0, 1), { day, timeZone });
    await loadMinutes(connection, model, 'realtime_minutes', realtimePaths, { day, timeZone });
    await connection.run(
      'create or replace temp table batch_keys (record_key varchar, event_time timestamp)',
    );
    if (batchPaths[1] !== undefined) {
      await connection.run(
        `insert into batch_keys
         select ${keyText(ds)}, ${ds.eventTime} from read_parquet(${sqlPathList([batchPaths[1]])})`,
      );
    }
    await loadArchive(connection, target, archivePaths, day, neighbours);
    await connection.run(
      `create or replace temp table stream_keys as select ${keyText(ds)} as record_key, ${ds.eventTime} as event_time from ${ds.facts}`,
    );

    const cellsOf = (table: string) =>
      `select strftime(window_start, '%H') as hour, ${cell} as cell, ${[...currencies, ''].join(', ')} ${sums(model)}
       from ${table} group by all`;
    const cellRows = await rows(
      connection,
      `with
      batch_cells as (${cellsOf('batch_minutes')}),
      realtime_cells as (${cellsOf('realtime_minutes')})
      -- one row per (hour, cell, currency); cells are (hour, dimension value) with money per currency
      select coalesce(b.hour, r.hour) as hour, coalesce(b.cell, r.cell) as cell, ${sides('b')}, ${sides('r')},
      from batch_cells as b
      full outer join realtime_cells as r using (${joinKeys})
      order by ${['hour', 'cell', ...currencies.map((c) => `coalesce(b.${c}, r.${c})`)].join(', ')}`,
    );
    const archiveRows = await rows(
      connection,
      `select strftime(window_start, '%H') as hour, ${[...currencies, ''].join(', ')} ${sums(model, true)}
       from archive_minutes group by all order by ${['hour', ...currencies].join(', ')}`,
    );
    const cells = new Map<string, Cell>();
    for (const row of cellRows) {
      const hour = String(row['hour']);
      const key = String(row['cell']);
      const id = `${hour}\0${key}`;
      const found = cells.get(id) ?? { hour, key, batch: zero(), realtime: zero() };
      cells.set(id, {
        ...found,
        batch: addRow(model, found.batch, row, 'b_'),
        realtime: addRow(model, found.realtime, row, 'r_'),
      });
    }
    const archiveHours = new Map<string, Measures>();
    for (const row of archiveRows) {
      const hour = String(row['hour']);
      archiveHours.set(hour, addRow(model, archiveHours.get(hour) ?? zero(), row));
    }
    const result: DayLayers = {
      day,
      cells: [...cells.values()],
      archiveHours,
      realtimeHours: snapshot.hours,
      archiveFiles: archiveInfos.length,
      missingFromStream: await presence(connection, 'batch_keys', 'stream_keys'),
      missingFromBatch: await presence(connection, 'stream_keys', 'batch_keys'),
    };
    await connection.run(
      `drop table batch_minutes; drop table realtime_minutes; drop table batch_keys; drop table stream_keys;
       drop table validated_${ds.name}; drop table ${ds.facts}; drop table archive_minutes`,
    );
    return result;
  });
}
