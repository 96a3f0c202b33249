import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { withConnection } from '../../functions/pipeline/duckdb-session.ts';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import type { ObjectStore } from '../../functions/pipeline/object-store.ts';
import type { CoreDeps } from '../../functions/pipeline/ports.ts';
import { silentLog } from '../../functions/pipeline/ports.ts';

/** A local lake in `dir` with a fixed clock. */
export function testDeps(
  dir: string,
  now = new Date('2026-11-21T03:00:00Z'),
): CoreDeps & { store: ObjectStore } {
  return { store: new LocalDirectoryStore(dir), clock: () => now, log: silentLog };
}

/** Writes a JSONL landing export from records (objects or raw lines). */
export function writeJsonlExport(lakeDir: string, day: string, name: string, records: unknown[]): string {
  const dir = path.join(lakeDir, 'landing', 'orders', `dt=${day}`);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  writeFileSync(file, records.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n');
  return file;
}

/** Rows of a Parquet file, ordered, as JSON-friendly objects (decimals as strings). */
export async function parquetRows(file: string, orderBy: string): Promise<Record<string, unknown>[]> {
  return withConnection(async (connection) =>
    (
      await connection.runAndReadAll(
        `select * from read_parquet('${file.replaceAll("'", "''")}') order by ${orderBy}`,
      )
    ).getRowObjectsJson(),
  );
}
