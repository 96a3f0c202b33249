import { readFileSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import { dataset, declaredModelSql, factsSql } from './datasets.ts';

/**
 * The shared SQL models (dbt style): every layer runs the same text. The engine's own models (reading and
 * validating raw records) are `.sql` files under `./sql/`; a dataset's models are the files its declaration names
 * (`datasets/<name>/models/`), and its facts (the dedup rule) are generated from the declaration. A model reads the
 * temp tables named in its import CTEs and is materialised as a temp table. In Lambda bundles `sql/` and
 * `datasets/` are copied next to the bundle, so these relative paths resolve there too.
 */
export type ModelName =
  | 'raw_orders_from_json'
  | 'validated_orders'
  | 'order_facts'
  | 'sales_minute'
  | 'daily_sales';

const ENGINE_MODELS: readonly ModelName[] = ['raw_orders_from_json', 'validated_orders'];

const sqlDir = new URL('./sql/', import.meta.url);
const cache = new Map<ModelName, string>();

/** The SQL text of a model. */
export function modelSql(name: ModelName): string {
  let sql = cache.get(name);
  if (sql === undefined) {
    if (ENGINE_MODELS.includes(name)) {
      sql = readFileSync(new URL(`${name}.sql`, sqlDir), 'utf8');
    } else {
      const orders = dataset('orders');
      sql = name === orders.facts ? factsSql(orders) : declaredModelSql(orders, name);
    }
    cache.set(name, sql);
  }
  return sql;
}

/** Materialises `model` as the temp table `table` (default: the model's name). */
export async function materialize(connection: DuckDBConnection, model: ModelName, table: string = model) {
  await connection.run(`create or replace temp table ${table} as\n${modelSql(model)}`);
}
