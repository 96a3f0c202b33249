import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Dataset, FieldDeclaration } from '../functions/pipeline/datasets.ts';
import { parseDay } from '../functions/pipeline/dates.ts';
import { sqlPath, withConnection } from '../functions/pipeline/duckdb-session.ts';
import { InvalidInputError } from '../functions/pipeline/errors.ts';
import { lake } from '../functions/pipeline/lake-layout.ts';
import type { ObjectStore } from '../functions/pipeline/object-store.ts';
import { type ExportFormat, ORDER_FIELDS } from '../functions/pipeline/record-sources.ts';
import { clickRecordsForDay, clickRecordsForDays, fitsClickDeclaration } from './click-generator.ts';
import {
  type DatasetEventsInput,
  datasetEventsForDay,
  type GeneratedRecord,
  plannedCounts,
} from './dataset-events.ts';
import {
  fitsInventoryDeclaration,
  fitsStockCountsDeclaration,
  inventoryRecordsForDays,
} from './inventory-generator.ts';
import { type OrderEvent, ordersForDay, seededRandom } from './order-generator.ts';

export interface LandingExportInput {
  day: string;
  orders: number;
  seed?: number;
  format?: ExportFormat;
  /** Share of rows made invalid on purpose (demos of quarantine), 0..1. */
  malformedShare?: number;
  /** Share of rows that are a producer's retry of a recent order (same order_id, sent later), 0..1. */
  duplicateShare?: number;
  /** File name inside the day's landing partition (default `orders-<seed>.<ext>`). */
  name?: string;
  /** The reporting time zone whose day `day` is (default UTC). */
  timeZone?: string;
}

const MALFORMATIONS: ((event: OrderEvent) => Record<string, string | number | null>)[] = [
  (e) => ({ ...e, quantity: '-1' }),
  (e) => ({ ...e, unit_price: 'abc' }),
  (e) => ({ ...e, event_time: 'yesterday' }),
  (e) => ({ ...e, product_id: null }),
  (e) => ({ ...e, unit_price: '1.999' }),
];

/** The COPY options of an export format. */
function copyOptions(format: ExportFormat): string {
  if (format === 'parquet') return 'format parquet, compression zstd';
  if (format === 'csv') return 'format csv, header true';
  return 'format json';
}

/**
 * Writes `rows` (all text, in `fields` order) through DuckDB to a local file, `select` shaping the output from
 * the text table `export_rows`, and moves the file into the store under `key`.
 */
async function writeExportFile(
  store: ObjectStore,
  key: string,
  format: ExportFormat,
  fields: readonly string[],
  rows: Iterable<Record<string, string | number | null | undefined>>,
  select: () => string,
): Promise<void> {
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'twinflow-landing-'));
  try {
    const file = path.join(workDir, `export.${format}`);
    await withConnection(async (connection) => {
      await connection.run(
        `create temp table export_rows (${fields.map((field) => `${field} varchar`).join(', ')})`,
      );
      const appender = await connection.createAppender('export_rows');
      for (const row of rows) {
        for (const field of fields) {
          const value = row[field];
          if (value === null || value === undefined) appender.appendNull();
          else appender.appendVarchar(String(value));
        }
        appender.endRow();
      }
      appender.flushSync();
      appender.closeSync();
      await connection.run(`copy (${select()}) to ${sqlPath(file)} (${copyOptions(format)})`);
    });
    await store.putFile(key, file);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

function checkedShare(value: number | undefined, what: string): number {
  const share = value ?? 0;
  if (!(share >= 0 && share <= 1))
    throw new InvalidInputError(`${what} share must be 0..1, got ${share}`, what);
  return share;
}

/**
 * Writes a realistic export for `day` into `landing/orders/dt=D/` (Parquet, CSV or JSONL), the way an OLTP
 * export job would. DuckDB writes the file; the store moves it. Returns the key and the row count.
 */
export async function writeLandingExport(
  input: LandingExportInput,
  store: ObjectStore,
): Promise<{ key: string; rows: number; malformed: number; duplicates: number }> {
  const day = parseDay(input.day);
  if (!Number.isInteger(input.orders) || input.orders < 0) {
    throw new InvalidInputError(`orders must be a whole number >= 0, got ${input.orders}`, 'orders');
  }
  const share = checkedShare(input.malformedShare, 'malformed');
  const seed = input.seed ?? 42;
  const format = input.format ?? 'parquet';
  const key = `${lake.landingPrefix(day)}${input.name ?? `orders-${seed}.${format}`}`;
  const duplicateShare = checkedShare(input.duplicateShare, 'duplicates');
  const random = seededRandom(seed ^ 0x1234567);
  // Its own stream, so an export without duplicates is the same file for the same seed as before they existed.
  const retries = seededRandom(seed ^ 0x0ddba11);
  let malformed = 0;
  let duplicates = 0;
  function* rows() {
    let i = 0;
    const recent: OrderEvent[] = [];
    for (const event of ordersForDay(day, input.orders, seed, input.timeZone)) {
      let row: Record<string, string | number | null> = { ...event };
      if (share > 0 && random() < share) {
        malformed += 1;
        row = MALFORMATIONS[i++ % MALFORMATIONS.length]?.(event) ?? row;
      } else if (duplicateShare > 0 && recent.length > 0 && retries() < duplicateShare) {
        duplicates += 1;
        row = { ...recent[Math.floor(retries() * recent.length)], event_time: event.event_time };
      } else {
        recent.push(event);
        if (recent.length > 64) recent.shift();
      }
      yield row;
    }
  }
  // Clean exports carry real types, as an OLTP export would; a deliberately broken one stays text.
  await writeExportFile(store, key, format, ORDER_FIELDS, rows(), () =>
    malformed === 0
      ? `select event_id, order_id, user_id, product_id, quantity::integer as quantity,
           unit_price::decimal(18,2) as unit_price, currency, event_time::timestamptz as event_time from export_rows`
      : 'select * from export_rows',
  );
  return { key, rows: input.orders, malformed, duplicates };
}

export interface DatasetLandingExportInput {
  /** A declared dataset (orders too, though `writeLandingExport` gives orders its realistic shape). */
  dataset: Dataset;
  day: string;
  /** Rows in all: events, duplicates and invalid ones. */
  rows: number;
  seed?: number;
  format?: ExportFormat;
  /** Share of rows that repeat an earlier event's key (a producer retry), 0..1. */
  duplicateShare?: number;
  /** Share of rows made invalid on purpose (one field each), 0..1. */
  malformedShare?: number;
  /** The stage's accepted currencies (empty: every code). */
  currencies?: readonly string[];
  /** File name inside the day's landing partition (default `<dataset>-<seed>.<ext>`). */
  name?: string;
  /** The reporting time zone whose day `day` is (default UTC). */
  timeZone?: string;
}

export interface DatasetLandingExport {
  key: string;
  rows: number;
  /** Distinct events: what a batch run of the day publishes (its facts). */
  events: number;
  duplicates: number;
  malformed: number;
}

/** A declared field's column in a clean export: its natural type, as an export job would write it. */
function typedColumn(name: string, field: FieldDeclaration): string {
  switch (field.type) {
    case 'integer':
      return `${name}::bigint as ${name}`;
    case 'decimal':
      return `${name}::decimal(18, ${field.scale}) as ${name}`;
    case 'timestamp':
      return `${name}::timestamptz as ${name}`;
    default:
      return name;
  }
}

/** The shipped clicks declaration (or one like it): its exports are realistic sessions (local/click-generator.ts). */
function hasRealisticClicks(ds: Dataset): boolean {
  return ds.name === 'clicks' && fitsClickDeclaration(ds);
}

/**
 * The shipped inventory or stock_counts declaration (or one like it): realistic movements that follow orders and
 * counts taken against them (local/inventory-generator.ts).
 */
function hasRealisticInventory(ds: Dataset): boolean {
  return (
    (ds.name === 'inventory' && fitsInventoryDeclaration(ds)) ||
    (ds.name === 'stock_counts' && fitsStockCountsDeclaration(ds))
  );
}

/**
 * A dataset's generated records: realistic sessions for the clicks dataset (local/click-generator.ts), movements
 * and counts for inventory and stock_counts (local/inventory-generator.ts), events from the declaration for any
 * other (local/dataset-events.ts) — or for a project's own `clicks` or `inventory` with other fields.
 */
function generatedRecords(ds: Dataset, input: DatasetEventsInput): Iterable<GeneratedRecord> {
  if (hasRealisticClicks(ds)) return clickRecordsForDay(ds, input);
  if (hasRealisticInventory(ds)) {
    const { day, count, ...rest } = input;
    const [only] = inventoryRecordsForDays(ds, { ...rest, days: [{ day, count }] });
    return only?.records ?? [];
  }
  return datasetEventsForDay(ds, input);
}

/** Writes one generated export of `ds` under `key`: typed columns when it has no invalid rows, else all text. */
async function writeGeneratedExport(
  store: ObjectStore,
  ds: Dataset,
  key: string,
  format: ExportFormat,
  records: Iterable<GeneratedRecord>,
  hasInvalid: boolean,
): Promise<void> {
  const fields = Object.entries(ds.fields);
  await writeExportFile(
    store,
    key,
    format,
    fields.map(([name]) => name),
    (function* () {
      for (const { event } of records) yield event;
    })(),
    () =>
      hasInvalid
        ? 'select * from export_rows'
        : `select ${fields.map(([name, field]) => typedColumn(name, field)).join(', ')} from export_rows`,
  );
}

/**
 * Writes a generated export of any declared dataset for `day` into `landing/<dataset>/dt=D/` (Parquet, CSV or
 * JSONL): realistic click sessions for clicks, else events from the declaration, with the asked share of
 * duplicates and of malformed rows. A clean Parquet export carries the fields' types; one with malformed rows
 * stays text.
 */
export async function writeDatasetLandingExport(
  input: DatasetLandingExportInput,
  store: ObjectStore,
): Promise<DatasetLandingExport> {
  const ds = input.dataset;
  const day = parseDay(input.day);
  const seed = input.seed ?? 42;
  const format = input.format ?? 'parquet';
  const key = `${lake.landingPrefix(day, ds.name)}${input.name ?? `${ds.name}-${seed}.${format}`}`;
  const events = {
    day,
    count: input.rows,
    seed,
    duplicateShare: checkedShare(input.duplicateShare, 'duplicates'),
    invalidShare: checkedShare(input.malformedShare, 'malformed'),
    ...(input.timeZone !== undefined ? { timeZone: input.timeZone } : {}),
    ...(input.currencies !== undefined ? { currencies: input.currencies } : {}),
  };
  const planned = plannedCounts(events);
  await writeGeneratedExport(store, ds, key, format, generatedRecords(ds, events), planned.invalid > 0);
  return {
    key,
    rows: input.rows,
    events: planned.events,
    duplicates: planned.duplicates,
    malformed: planned.invalid,
  };
}

export interface DatasetLandingExportsInput extends Omit<DatasetLandingExportInput, 'day' | 'rows'> {
  /** Consecutive days, the earliest first, each with its rows in all. */
  days: readonly { day: string; rows: number }[];
}

/**
 * Writes the exports of consecutive days (as `writeDatasetLandingExport` writes one), each into its day's landing
 * partition. Clicks are one generation over the days (`clickRecordsForDays`): a session begun late on a day has
 * its later events in the next day's export, as their event_time says, and visitors come back on later days; a
 * day's rows then differ a little from its `rows` (the sessions that start on it hold its events), all the days'
 * rows add up to theirs. Any other dataset's days are generated one by one.
 */
export async function writeDatasetLandingExports(
  input: DatasetLandingExportsInput,
  store: ObjectStore,
): Promise<DatasetLandingExport[]> {
  const { days, ...common } = input;
  const ds = input.dataset;
  if (!hasRealisticClicks(ds) && !hasRealisticInventory(ds)) {
    const written: DatasetLandingExport[] = [];
    for (const { day, rows } of days)
      written.push(await writeDatasetLandingExport({ ...common, day, rows }, store));
    return written;
  }
  const seed = input.seed ?? 42;
  const format = input.format ?? 'parquet';
  const shares = {
    duplicateShare: checkedShare(input.duplicateShare, 'duplicates'),
    invalidShare: checkedShare(input.malformedShare, 'malformed'),
  };
  const generationInput = {
    days: days.map(({ day, rows }) => ({ day: parseDay(day), count: rows })),
    seed,
    ...shares,
    ...(input.timeZone !== undefined ? { timeZone: input.timeZone } : {}),
  };
  const generation = hasRealisticClicks(ds)
    ? clickRecordsForDays(ds, generationInput)
    : inventoryRecordsForDays(ds, generationInput);
  const written: DatasetLandingExport[] = [];
  for (const { day, records } of generation) {
    const key = `${lake.landingPrefix(day, ds.name)}${input.name ?? `${ds.name}-${seed}.${format}`}`;
    const count = (kind: GeneratedRecord['kind']) => records.filter((r) => r.kind === kind).length;
    const malformed = count('invalid');
    await writeGeneratedExport(store, ds, key, format, records, malformed > 0);
    written.push({
      key,
      rows: records.length,
      events: count('event'),
      duplicates: count('duplicate'),
      malformed,
    });
  }
  return written;
}

/**
 * Writes `records` (objects with the declaration's fields, an absent one null) as `ds`'s export of `day` with
 * typed columns: what the first-start seed writes for datasets it generates as a whole (local/seed.ts).
 */
export async function writeDatasetRecordsExport(
  input: { dataset: Dataset; day: string; records: readonly object[]; name: string; format?: ExportFormat },
  store: ObjectStore,
): Promise<{ key: string; rows: number }> {
  const ds = input.dataset;
  const day = parseDay(input.day);
  const format = input.format ?? 'parquet';
  const key = `${lake.landingPrefix(day, ds.name)}${input.name}.${format}`;
  const names = Object.keys(ds.fields);
  const records = input.records.map((record): GeneratedRecord => {
    const values = record as Record<string, string | number | null | undefined>;
    return { event: Object.fromEntries(names.map((n) => [n, values[n] ?? null])), kind: 'event' };
  });
  await writeGeneratedExport(store, ds, key, format, records, false);
  return { key, rows: records.length };
}
