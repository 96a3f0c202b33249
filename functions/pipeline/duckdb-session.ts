import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';

let instance: Promise<DuckDBInstance> | undefined;

/** Directory for DuckDB's home and spill files: writable in Lambda (`/tmp`) and locally. */
export const duckdbHome = path.join(os.tmpdir(), 'twinflow-duckdb');

/**
 * The one definition of a reporting day in SQL, for every model and layer. `ts` is a UTC instant (a naive UTC
 * TIMESTAMP or a TIMESTAMPTZ), `zone` an IANA name. UTC takes the plain date: a time zone conversion per row costs a
 * third of a batch run.
 * - `local_date(ts, zone)`: the day of `ts` in `zone`;
 * - `local_day_start(ts, zone)`: the start of that day, as a naive UTC TIMESTAMP (a day bucket);
 * - `local_midnight(day, zone)`: the first instant of `day` in `zone`, as a naive UTC TIMESTAMP.
 */
const REPORTING_DAY_MACROS = `
create or replace macro local_date(ts, zone) as
    case when zone = 'UTC' then ts::date else timezone(zone, ts::timestamptz)::date end;
create or replace macro local_day_start(ts, zone) as
    case
        when zone = 'UTC' then date_trunc('day', ts::timestamp)
        else timezone('UTC', timezone(zone, date_trunc('day', timezone(zone, ts::timestamptz))))
    end;
create or replace macro local_midnight(day, zone) as timezone('UTC', timezone(zone, day::timestamp));
`;

/** The one in-memory DuckDB instance of this process (created on first use, reused while warm). */
export function duckdb(): Promise<DuckDBInstance> {
  if (!instance) {
    mkdirSync(duckdbHome, { recursive: true });
    instance = (async () => {
      const created = await DuckDBInstance.create(':memory:', {
        home_directory: duckdbHome,
        temp_directory: path.join(duckdbHome, 'spill'),
        // Extensions cannot be downloaded in Lambda or here; everything needed (parquet, json, icu) is built in.
        autoinstall_known_extensions: 'false',
        autoload_known_extensions: 'true',
      });
      const connection = await created.connect();
      try {
        await connection.run(`set TimeZone = 'UTC'; ${REPORTING_DAY_MACROS}`);
      } finally {
        connection.closeSync();
      }
      return created;
    })();
  }
  return instance;
}

/**
 * Runs `fn` on a fresh connection of the process-wide instance and closes it afterwards.
 * Temp tables are per connection, so concurrent runs (a backfill's days) never see each other's tables.
 */
export async function withConnection<T>(fn: (connection: DuckDBConnection) => Promise<T>): Promise<T> {
  const connection = await (await duckdb()).connect();
  try {
    await connection.run(`set TimeZone = 'UTC'`);
    return await fn(connection);
  } finally {
    connection.closeSync();
  }
}

/**
 * Runs `fn` with the process's DuckDB held to `limitMb` of memory (DuckDB's `memory_limit`: past it, sorts, joins,
 * windows, aggregates and temp tables spill to the temp directory), then back to DuckDB's default (80 % of the
 * machine's or the function's memory). Instance-wide: for a step that runs alone in its process, as a Lambda
 * invocation does. Without `limitMb`, DuckDB's default applies.
 */
export async function withMemoryLimit<T>(limitMb: number | undefined, fn: () => Promise<T>): Promise<T> {
  if (limitMb === undefined) return fn();
  // Below ~128 MB DuckDB cannot hold one Parquet writer's buffers, whatever the size of the data.
  if (!Number.isInteger(limitMb) || limitMb < 128) {
    throw new Error(`a DuckDB memory limit is a whole number of MB from 128, not ${limitMb}`);
  }
  const connection = await (await duckdb()).connect();
  try {
    await connection.run(`set memory_limit = '${limitMb}MB'`);
    return await fn();
  } finally {
    await connection.run('reset memory_limit');
    connection.closeSync();
  }
}

/** Quotes a local file path for a DuckDB table function; paths cannot be bound as parameters. */
export function sqlPath(localPath: string): string {
  if (/[\0\n\r]/.test(localPath)) throw new Error(`unsafe path for DuckDB: ${JSON.stringify(localPath)}`);
  return `'${localPath.replaceAll("'", "''")}'`;
}

/** Quotes a list of local paths: `['a', 'b']`. */
export function sqlPathList(localPaths: readonly string[]): string {
  return `[${localPaths.map(sqlPath).join(', ')}]`;
}
