import type { DuckDBConnection } from '@duckdb/node-api';
import { dataset, declaredModelSql, factsSql } from './datasets.ts';
import { rawFromJsonSql, validatedSql } from './validation-sql.ts';

/**
 * The shared SQL models (dbt style): every layer runs the same text. A dataset's validation (JSON records → the
 * all-text shape, then typed columns with one reason per invalid field) and its facts (the dedup rule) are
 * generated from its declaration; its other models are the SQL files the declaration names
 * (`datasets/<name>/models/`). A model reads the temp tables named in its import CTEs and is materialised as a temp
 * table. Lambda bundles carry `datasets/` next to the bundle.
 */
export type ModelName =
  | 'raw_orders_from_json'
  | 'validated_orders'
  | 'order_facts'
  | 'sales_minute'
  | 'daily_sales';

const cache = new Map<ModelName, string>();

/** The SQL text of a model. */
export function modelSql(name: ModelName): string {
  let sql = cache.get(name);
  if (sql === undefined) {
    const orders = dataset('orders');
    if (name === `raw_${orders.name}_from_json`) sql = rawFromJsonSql(orders);
    else if (name === `validated_${orders.name}`) sql = validatedSql(orders);
    else if (name === orders.facts) sql = factsSql(orders);
    else sql = declaredModelSql(orders, name);
    cache.set(name, sql);
  }
  return sql;
}

/** Materialises `model` as the temp table `table` (default: the model's name). */
export async function materialize(connection: DuckDBConnection, model: ModelName, table: string = model) {
  await connection.run(`create or replace temp table ${table} as\n${modelSql(model)}`);
}
