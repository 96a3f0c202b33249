import type { TableDeclaration } from '../pipeline/datasets.ts';
import { sqlPath, withConnection } from '../pipeline/duckdb-session.ts';
import { lake } from '../pipeline/lake-layout.ts';
import type { ObjectStore } from '../pipeline/object-store.ts';

/** A reference table's rows by key (`JSON.stringify` of the key values): the key and its whole-number value. */
export type TableRows = Map<string, { key: string[]; value: number }>;

/** A reference table the team wrote that cannot be used: names the file and what is wrong. */
export class ReferenceTableError extends Error {
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.name = 'ReferenceTableError';
  }
}

/**
 * Reads `tables/<name>.csv` (a header naming the key columns and the value column, one row per key; other columns
 * are ignored). A missing file is an empty table; a row without a key or with a value that is not a whole number,
 * or a key given twice, is an error naming the file and the line.
 */
export async function readTable(store: ObjectStore, table: TableDeclaration): Promise<TableRows> {
  const key = lake.table(table.name);
  const info = await store.head(key);
  const rows: TableRows = new Map();
  if (!info) return rows;
  const local = await store.localPath(info);
  const columns = [...table.key, table.value];
  const found = await withConnection(async (connection) => {
    try {
      return (
        await connection.runAndReadAll(
          `select *, row_number() over () + 1 as line
           from read_csv(${sqlPath(local)}, header = true, all_varchar = true, auto_detect = true)`,
        )
      ).getRowObjectsJS();
    } catch (error) {
      throw new ReferenceTableError(key, `not a readable CSV (${(error as Error).message.split('\n')[0]})`);
    }
  });
  for (const row of found) {
    for (const column of columns) {
      if (!(column in row)) {
        throw new ReferenceTableError(
          key,
          `no column "${column}" (the header must name ${columns.join(', ')})`,
        );
      }
    }
    const line = Number(row['line']);
    const values = table.key.map((column) => String(row[column] ?? '').trim());
    const missing = table.key.find((_, i) => values[i] === '');
    if (missing) throw new ReferenceTableError(key, `line ${line}: ${missing} is empty`);
    const raw = String(row[table.value] ?? '').trim();
    if (!/^-?\d{1,15}$/.test(raw)) {
      throw new ReferenceTableError(
        key,
        `line ${line}: ${table.value} "${raw.slice(0, 32)}" is not a whole number`,
      );
    }
    const id = JSON.stringify(values);
    if (rows.has(id)) throw new ReferenceTableError(key, `line ${line}: ${values.join(', ')} is given twice`);
    rows.set(id, { key: values, value: Number(raw) });
  }
  return rows;
}
