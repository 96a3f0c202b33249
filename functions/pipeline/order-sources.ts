import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlPath } from './duckdb-session.ts';
import { materialize } from './sql-models.ts';

/** The order fields of the contract, in the column order of `raw_orders`. */
export const ORDER_FIELDS = [
  'event_id',
  'order_id',
  'user_id',
  'product_id',
  'quantity',
  'unit_price',
  'currency',
  'event_time',
] as const;

export type ExportFormat = 'parquet' | 'csv' | 'jsonl';

/** Columns an export must have (event_id and currency are optional in exports). */
export const REQUIRED_EXPORT_COLUMNS = ORDER_FIELDS.filter(
  (field) => field !== 'event_id' && field !== 'currency',
);

/** One received JSON record: an SQS message body or a `.jsonl` line, with a reference back to where it came from. */
export interface JsonRecord {
  ref: string;
  line: string;
}

/** Recognises an export file's format from its name; `undefined` for files that are not exports. */
export function exportFormatOf(key: string): ExportFormat | undefined {
  const lower = key.toLowerCase();
  if (lower.endsWith('.parquet')) return 'parquet';
  if (lower.endsWith('.csv') || lower.endsWith('.csv.gz')) return 'csv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson') || lower.endsWith('.json')) return 'jsonl';
  return undefined;
}

/**
 * Creates the empty `raw_orders` table: every received record as text, before validation.
 * All sources (SQS, JSONL, CSV, Parquet) are loaded into this one shape.
 */
export async function createRawOrders(connection: DuckDBConnection): Promise<void> {
  const fields = ORDER_FIELDS.map((field) => `${field} varchar`).join(', ');
  await connection.run(
    `create or replace temp table raw_orders (record_ref varchar, record_no bigint, source varchar, is_event_id_required boolean,
       raw varchar, parse_error varchar, ${fields})`,
  );
}

/** Appends JSON records (SQS bodies, JSONL lines) to `raw_orders` through the shared JSON model. */
export async function appendJsonRecords(
  connection: DuckDBConnection,
  records: Iterable<JsonRecord> | AsyncIterable<JsonRecord>,
  options: { source: string; isEventIdRequired: boolean },
): Promise<void> {
  await connection.run(
    'create or replace temp table raw_order_lines (record_ref varchar, source varchar, is_event_id_required boolean, line varchar)',
  );
  const appender = await connection.createAppender('raw_order_lines');
  for await (const record of records) {
    appender.appendVarchar(record.ref);
    appender.appendVarchar(options.source);
    appender.appendBoolean(options.isEventIdRequired);
    appender.appendVarchar(record.line);
    appender.endRow();
  }
  appender.flushSync();
  appender.closeSync();
  await materialize(connection, 'raw_orders_from_json', 'raw_orders_batch');
  await connection.run('insert into raw_orders by name select * from raw_orders_batch');
  await connection.run('drop table raw_orders_batch; drop table raw_order_lines');
}

/** The byte order mark some Windows tools write at the start of a UTF-8 file. */
const BOM = '\uFEFF';

/**
 * The non-empty lines of a `.jsonl` file, each with the ref `<refPrefix>:<line number>`. A BOM at the start of the
 * file marks its encoding, not its first record, so it is dropped (as DuckDB's CSV reader does).
 */
export async function* jsonLinesOf(localPath: string, refPrefix: string): AsyncGenerator<JsonRecord> {
  const lines = createInterface({
    input: createReadStream(localPath, 'utf8'),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let number = 0;
  for await (const text of lines) {
    number += 1;
    const line = number === 1 && text.startsWith(BOM) ? text.slice(BOM.length) : text;
    if (line.trim() === '') continue;
    yield { ref: `${refPrefix}:${number}`, line };
  }
}

async function columnsOf(connection: DuckDBConnection, relation: string): Promise<Set<string>> {
  const reader = await connection.runAndReadAll(`describe select * from ${relation}`);
  return new Set(reader.getRowObjectsJson().map((row) => String(row['column_name'])));
}

/**
 * Appends one landing export file to `raw_orders` and reports the required columns it lacks.
 * CSV lines that cannot be parsed at all are kept (as `record: malformed CSV line`) rather than dropped,
 * so every input line is accounted for.
 */
export async function appendExportFile(
  connection: DuckDBConnection,
  localPath: string,
  format: ExportFormat,
  sourceKey: string,
): Promise<{ missingColumns: string[] }> {
  if (format === 'jsonl') {
    await appendJsonRecords(connection, jsonLinesOf(localPath, sourceKey), {
      source: sourceKey,
      isEventIdRequired: false,
    });
    return { missingColumns: [] };
  }
  // Row numbers, refs and the raw record are only materialised for rejected rows (validated_orders), which
  // keeps a 10M-row export fast; `record_no` is enough to point back at the row.
  const relation =
    format === 'parquet'
      ? `read_parquet(${sqlPath(localPath)}, file_row_number = true)`
      : `read_csv(${sqlPath(localPath)}, header = true, all_varchar = true, store_rejects = true, rejects_scan = 'reject_scans_t', rejects_table = 'reject_errors_t')`;
  const present = await columnsOf(connection, relation);
  const fields = ORDER_FIELDS.map((field) =>
    present.has(field) ? `${field}::varchar as ${field}` : `null::varchar as ${field}`,
  );
  const recordNo = format === 'parquet' ? 'file_row_number + 1' : 'row_number() over ()';
  await connection.run(
    `insert into raw_orders by name
     select ${recordNo} as record_no, $source as source, false as is_event_id_required, ${fields.join(', ')}
     from ${relation}`,
    { source: sourceKey },
  );
  if (format === 'csv') {
    await connection.run(
      // DuckDB logs one reject row per missing/bad column; a line is one record.
      `insert into raw_orders by name
       select $source || ':line-' || line as record_ref, $source as source, false as is_event_id_required,
              any_value(csv_line) as raw,
              'record: malformed CSV line (' || string_agg(distinct lower(error_type), ', ') || ')' as parse_error
       from reject_errors_t
       group by line`,
      { source: sourceKey },
    );
    await connection.run('drop table if exists reject_errors_t; drop table if exists reject_scans_t');
  }
  return { missingColumns: REQUIRED_EXPORT_COLUMNS.filter((field) => !present.has(field)) };
}
