import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { type DuckDBConnection, DuckDBTimestampValue } from '@duckdb/node-api';
import { type Dataset, dataset, type FieldDeclaration } from './datasets.ts';
import { sqlPath } from './duckdb-session.ts';
import { materialize } from './sql-models.ts';
import { typedColumnText } from './typed-columns.ts';

const ORDERS = dataset('orders');

/** The order fields of the contract (datasets/orders/dataset.yaml), in the column order of `raw_orders`. */
export const ORDER_FIELDS = Object.keys(ORDERS.fields);

export type ExportFormat = 'parquet' | 'csv' | 'jsonl';

/**
 * Columns a dataset's exports must have: every required field (a field required only on the stream, or a
 * currency with a default, may be absent).
 */
export function requiredExportColumns(ds: Dataset): string[] {
  return Object.entries(ds.fields)
    .filter(([, f]) => (f.type === 'currency' ? f.default === undefined : f.required === true))
    .map(([name]) => name);
}

/** One received JSON record: an SQS message body or a `.jsonl` line, with a reference back to where it came from. */
export interface JsonRecord {
  ref: string;
  line: string;
  /** When the platform received it (SQS `SentTimestamp`); event times may not run ahead of it by more than the skew. */
  receivedAt?: Date;
  /** The bytes were not UTF-8; `line` shows each offending byte as `\xNN` (see `jsonLinesOf`). */
  isInvalidUtf8?: boolean;
}

/** The reason for a record whose bytes are not UTF-8, whatever the source (JSONL, CSV, SQS, Parquet). */
export const NOT_UTF8 = 'record: not valid UTF-8';

/** Recognises an export file's format from its name; `undefined` for files that are not exports. */
export function exportFormatOf(key: string): ExportFormat | undefined {
  const lower = key.toLowerCase();
  if (lower.endsWith('.parquet')) return 'parquet';
  if (lower.endsWith('.csv') || lower.endsWith('.csv.gz')) return 'csv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson') || lower.endsWith('.json')) return 'jsonl';
  return undefined;
}

/**
 * Creates the empty `raw_<dataset>` table: every received record as text, before validation.
 * All sources (SQS, JSONL, CSV, Parquet) are loaded into this one shape.
 */
export async function createRawTable(connection: DuckDBConnection, ds: Dataset = ORDERS): Promise<void> {
  const fields = Object.keys(ds.fields)
    .map((field) => `${field} varchar`)
    .join(', ');
  await connection.run(
    `create or replace temp table raw_${ds.name} (record_ref varchar, record_no bigint, source varchar, is_stream_record boolean,
       received_at timestamp, raw varchar, parse_error varchar,
       mistyped_fields varchar[], -- fields whose source type the contract does not accept (a JSON array id, …)
       ${fields})`,
  );
}

function timestampValue(instant: Date): DuckDBTimestampValue {
  return new DuckDBTimestampValue(BigInt(instant.getTime()) * 1000n);
}

/** Appends JSON records (SQS bodies, JSONL lines) to `raw_<dataset>` through the shared JSON model. */
export async function appendJsonRecords(
  connection: DuckDBConnection,
  records: Iterable<JsonRecord> | AsyncIterable<JsonRecord>,
  options: { source: string; isEventIdRequired: boolean },
  ds: Dataset = ORDERS,
): Promise<void> {
  const lines = `raw_${ds.name}_lines`;
  await connection.run(
    `create or replace temp table ${lines} (record_ref varchar, source varchar, is_stream_record boolean,
       received_at timestamp, line varchar, encoding_error varchar)`,
  );
  const appender = await connection.createAppender(lines);
  for await (const record of records) {
    // A lone surrogate cannot be written as UTF-8: the appender would store U+FFFD and the record would pass as
    // repaired text. Shown as its `\uXXXX` escape, which stays invalid JSON if the raw record is replayed.
    const hasLoneSurrogate = LONE_SURROGATE.test(record.line);
    appender.appendVarchar(record.ref);
    appender.appendVarchar(options.source);
    appender.appendBoolean(options.isEventIdRequired);
    if (record.receivedAt) appender.appendTimestamp(timestampValue(record.receivedAt));
    else appender.appendNull();
    appender.appendVarchar(hasLoneSurrogate ? escapeLoneSurrogates(record.line) : record.line);
    if (record.isInvalidUtf8 || hasLoneSurrogate) appender.appendVarchar(NOT_UTF8);
    else appender.appendNull();
    appender.endRow();
  }
  appender.flushSync();
  appender.closeSync();
  await materialize(connection, `raw_${ds.name}_from_json`, `raw_${ds.name}_batch`);
  await connection.run(`insert into raw_${ds.name} by name select * from raw_${ds.name}_batch`);
  await connection.run(`drop table raw_${ds.name}_batch; drop table ${lines}`);
}

const LONE_SURROGATE = /\p{Cs}/u;

function escapeLoneSurrogates(text: string): string {
  return text.replace(/\p{Cs}/gu, (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Text for bytes that are not UTF-8: valid sequences decoded, every other byte shown as `\xNN`. Unlike U+FFFD
 * replacement this keeps the bytes recoverable from the quarantine record, and a backslash-x is never valid JSON,
 * so replaying the record cannot make it pass.
 */
function escapeInvalidUtf8(bytes: Buffer): string {
  let text = '';
  let runStart = 0;
  let at = 0;
  while (at < bytes.length) {
    const lead = bytes[at] ?? 0;
    const size = lead < 0x80 ? 1 : lead < 0xc2 ? 0 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : lead < 0xf5 ? 4 : 0;
    if (size === 1 || (size > 1 && isUtf8(bytes.subarray(at, at + size)))) {
      at += size;
      continue;
    }
    text += `${bytes.toString('utf8', runStart, at)}\\x${lead.toString(16).toUpperCase().padStart(2, '0')}`;
    at += 1;
    runStart = at;
  }
  return text + bytes.toString('utf8', runStart);
}

interface DecodedLine {
  text: string;
  isUtf8: boolean;
}

/** Splits complete lines at `\n`: decoded in one go when all are UTF-8, else checked line by line. */
function decodeLines(bytes: Buffer): DecodedLine[] {
  if (isUtf8(bytes))
    return bytes
      .toString('utf8')
      .split('\n')
      .map((text) => ({ text, isUtf8: true }));
  const lines: DecodedLine[] = [];
  for (let start = 0; ; ) {
    const end = bytes.indexOf(0x0a, start);
    const line = bytes.subarray(start, end === -1 ? bytes.length : end);
    lines.push(
      isUtf8(line)
        ? { text: line.toString('utf8'), isUtf8: true }
        : { text: escapeInvalidUtf8(line), isUtf8: false },
    );
    if (end === -1) return lines;
    start = end + 1;
  }
}

/** The lines of a file, split at `\n` (a `\r` before it stays on the line), a read chunk's worth at a time. */
async function* decodedLinesOf(localPath: string): AsyncGenerator<DecodedLine[]> {
  let partial: Buffer[] = [];
  for await (const chunk of createReadStream(localPath) as AsyncIterable<Buffer>) {
    const lastEnd = chunk.lastIndexOf(0x0a);
    if (lastEnd === -1) {
      partial.push(chunk);
      continue;
    }
    yield decodeLines(Buffer.concat([...partial, chunk.subarray(0, lastEnd)]));
    partial = [chunk.subarray(lastEnd + 1)];
  }
  const rest = Buffer.concat(partial);
  if (rest.length > 0) yield decodeLines(rest);
}

const BOM = '\uFEFF';

/**
 * The non-empty lines of a `.jsonl` file, each with the ref `<refPrefix>:<line number>`. Lines end at `\n` or
 * `\r\n`. A BOM at the start of the file marks its encoding, not its first record, so it is dropped (as DuckDB's
 * CSV reader does). Lines are checked as bytes: decoding the stream as UTF-8 would silently turn bytes that are
 * not UTF-8 into U+FFFD and count the repaired record; such a line is flagged and quarantined instead.
 */
export async function* jsonLinesOf(localPath: string, refPrefix: string): AsyncGenerator<JsonRecord> {
  let number = 0;
  for await (const lines of decodedLinesOf(localPath)) {
    for (const { text, isUtf8: isValid } of lines) {
      number += 1;
      let line = number === 1 && text.startsWith(BOM) ? text.slice(BOM.length) : text;
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line.trim() === '') continue;
      yield isValid
        ? { ref: `${refPrefix}:${number}`, line }
        : { ref: `${refPrefix}:${number}`, line, isInvalidUtf8: true };
    }
  }
}

/** The columns of a relation and their DuckDB types. */
async function columnTypesOf(connection: DuckDBConnection, relation: string): Promise<Map<string, string>> {
  const reader = await connection.runAndReadAll(`describe select * from ${relation}`);
  return new Map(
    reader.getRowObjectsJson().map((row) => [String(row['column_name']), String(row['column_type'])]),
  );
}

/** What loading an export file found wrong with the file as a whole (its records are judged by validation). */
export interface ExportFileProblems {
  /** Required columns the file lacks. */
  missingColumns: string[];
  /** Why none of the file could be read; nothing of it was loaded. */
  unreadable?: string;
}

/**
 * Appends one landing export file to `raw_<dataset>` and reports what is wrong with the file as a whole.
 * CSV lines that cannot be parsed at all are kept (as `record: malformed CSV line`) rather than dropped,
 * so every input line is accounted for.
 */
export async function appendExportFile(
  connection: DuckDBConnection,
  localPath: string,
  format: ExportFormat,
  sourceKey: string,
  ds: Dataset = ORDERS,
): Promise<ExportFileProblems> {
  if (format === 'jsonl') {
    await appendJsonRecords(
      connection,
      jsonLinesOf(localPath, sourceKey),
      { source: sourceKey, isEventIdRequired: false },
      ds,
    );
    return { missingColumns: [] };
  }
  const declared = Object.keys(ds.fields);
  const required = requiredExportColumns(ds);
  // Row numbers, refs and the raw record are only materialised for rejected rows (validated_orders), which
  // keeps a 10M-row export fast; `record_no` is enough to point back at the row.
  // A CSV is read (in parallel, in file order: insertion order is preserved) straight into `raw_<dataset>`, whose
  // `rowid`s then number its rows: `row_number() over ()` on the read itself took 40 % of the load, and reading it
  // into a table of its own first cost a second copy of every row (1M rows: 610 ms of CPU; the update 45 ms).
  const relation =
    format === 'parquet'
      ? `read_parquet(${sqlPath(localPath)}, file_row_number = true)`
      : `read_csv(${sqlPath(localPath)}, header = true, all_varchar = true, store_rejects = true, rejects_scan = 'reject_scans_t', rejects_table = 'reject_errors_t')`;
  const types = await columnTypesOf(connection, relation);
  // CSV columns are all VARCHAR; Parquet columns keep their types until typedColumnText turns them into text.
  const columns = declared.flatMap((field) => {
    const type = types.get(field);
    return type === undefined
      ? []
      : [{ field, ...typedColumnText(ds.fields[field] as FieldDeclaration, type, `"${field}"`) }];
  });
  const fields = declared.map(
    (field) => `${columns.find((c) => c.field === field)?.text ?? 'null::varchar'} as ${field}`,
  );
  const mistyped = columns.filter((c) => c.isMistyped);
  const mistypedFields = mistyped.length
    ? `list_filter([${mistyped.map((c) => `if("${c.field}" is null, null, '${c.field}')`).join(', ')}], lambda field: field is not null)`
    : 'null::varchar[]';
  const invalidUtf8 = columns.flatMap((c) => (c.invalidUtf8 ? [c.invalidUtf8] : []));
  const parseError = invalidUtf8.length ? `if(${invalidUtf8.join(' or ')}, $notUtf8, null)` : 'null::varchar';
  const recordNo = format === 'parquet' ? 'file_row_number + 1' : 'null::bigint';
  const firstRowid =
    format === 'parquet'
      ? 0
      : Number(
          (
            await connection.runAndReadAll(`select coalesce(max(rowid) + 1, 0)::bigint from raw_${ds.name}`)
          ).getRows()[0]?.[0] ?? 0,
        );
  try {
    await connection.run(
      `insert into raw_${ds.name} by name
       select ${recordNo} as record_no, $source as source, false as is_stream_record,
              ${parseError} as parse_error, ${mistypedFields} as mistyped_fields, ${fields.join(', ')}
       from ${relation}`,
      invalidUtf8.length ? { source: sourceKey, notUtf8: NOT_UTF8 } : { source: sourceKey },
    );
  } catch (error) {
    // DuckDB refuses a whole Parquet file whose UTF8-annotated strings hold other bytes (no row of it can be
    // read, so none can be quarantined); the statement is rolled back and the file reported by name instead.
    const invalid = /Invalid string encoding found in Parquet file .*: value (".*") is not valid UTF8/s.exec(
      (error as Error).message,
    );
    if (!invalid) throw error;
    return {
      missingColumns: required.filter((field) => !types.has(field)),
      unreadable: `a string column holds bytes that are not valid UTF-8 (value ${invalid[1]})`,
    };
  }
  if (format === 'csv') {
    await connection.run(
      `update raw_${ds.name} set record_no = rowid - ${firstRowid} + 1 where rowid >= ${firstRowid}`,
    );
    await connection.run(
      // DuckDB logs one reject row per missing/bad column; a line is one record.
      `insert into raw_${ds.name} by name
       select $source || ':line-' || line as record_ref, $source as source, false as is_stream_record,
              any_value(csv_line) as raw,
              if(
                  bool_or(error_type = 'INVALID ENCODING'),
                  $notUtf8,
                  'record: malformed CSV line (' || string_agg(distinct lower(error_type), ', ') || ')'
              ) as parse_error
       from reject_errors_t
       group by line`,
      { source: sourceKey, notUtf8: NOT_UTF8 },
    );
    await connection.run('drop table if exists reject_errors_t; drop table if exists reject_scans_t');
  }
  return { missingColumns: required.filter((field) => !types.has(field)) };
}
