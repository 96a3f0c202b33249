import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';

let instance: Promise<DuckDBInstance> | undefined;

/** Directory for DuckDB's home and spill files: writable in Lambda (`/tmp`) and locally. */
export const duckdbHome = path.join(os.tmpdir(), 'twinflow-duckdb');

/** The one in-memory DuckDB instance of this process (created on first use, reused while warm). */
export function duckdb(): Promise<DuckDBInstance> {
  if (!instance) {
    mkdirSync(duckdbHome, { recursive: true });
    instance = DuckDBInstance.create(':memory:', {
      home_directory: duckdbHome,
      temp_directory: path.join(duckdbHome, 'spill'),
      // Extensions cannot be downloaded in Lambda or here; everything needed (parquet, json, icu) is built in.
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'true',
    });
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

/** Quotes a local file path for a DuckDB table function; paths cannot be bound as parameters. */
export function sqlPath(localPath: string): string {
  if (/[\0\n\r]/.test(localPath)) throw new Error(`unsafe path for DuckDB: ${JSON.stringify(localPath)}`);
  return `'${localPath.replaceAll("'", "''")}'`;
}

/** Quotes a list of local paths: `['a', 'b']`. */
export function sqlPathList(localPaths: readonly string[]): string {
  return `[${localPaths.map(sqlPath).join(', ')}]`;
}
