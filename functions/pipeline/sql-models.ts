import { readFileSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';

/**
 * The shared SQL models (dbt style, one `.sql` file each under `./sql/`). Every layer runs the same files;
 * a model reads the temp tables named in its import CTEs and is materialised as a temp table.
 * In Lambda bundles the `sql/` folder is copied next to the bundle, so this relative URL resolves there too.
 */
export type ModelName =
  | 'raw_orders_from_json'
  | 'validated_orders'
  | 'order_facts'
  | 'sales_minute'
  | 'daily_sales';

const sqlDir = new URL('./sql/', import.meta.url);
const cache = new Map<ModelName, string>();

/** The SQL text of a model. */
export function modelSql(name: ModelName): string {
  let sql = cache.get(name);
  if (sql === undefined) {
    sql = readFileSync(new URL(`${name}.sql`, sqlDir), 'utf8');
    cache.set(name, sql);
  }
  return sql;
}

/** Materialises `model` as the temp table `table` (default: the model's name). */
export async function materialize(connection: DuckDBConnection, model: ModelName, table: string = model) {
  await connection.run(`create or replace temp table ${table} as\n${modelSql(model)}`);
}
