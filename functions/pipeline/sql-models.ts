import type { DuckDBConnection } from '@duckdb/node-api';
import { type Dataset, declaredModelSql, factsSql, listDatasets } from './datasets.ts';
import { rawFromJsonSql, validatedSql } from './validation-sql.ts';

/**
 * The shared SQL models (dbt style): every layer runs the same text. Per dataset: `raw_<name>_from_json` and
 * `validated_<name>` (its validation) and its facts (the dedup rule) are generated from its declaration; its other
 * models are the SQL files the declaration names (`datasets/<name>/models/`). Model names are unique across
 * datasets, so a name finds its dataset. A model reads the temp tables named in its import CTEs and is
 * materialised as a temp table. Lambda bundles carry `datasets/` next to the bundle.
 */
export type ModelName = string;

const cache = new Map<string, string>();

function generated(ds: Dataset, name: string): string | undefined {
  if (name === `raw_${ds.name}_from_json`) return rawFromJsonSql(ds);
  if (name === `validated_${ds.name}`) return validatedSql(ds);
  if (name === ds.facts) return factsSql(ds);
  if (ds.models.some((m) => m.name === name)) return declaredModelSql(ds, name);
  return undefined;
}

/** The SQL text of a model of any declared dataset. */
export function modelSql(name: ModelName): string {
  let sql = cache.get(name);
  if (sql === undefined) {
    for (const ds of listDatasets()) {
      sql = generated(ds, name);
      if (sql !== undefined) break;
    }
    if (sql === undefined) throw new Error(`no declared dataset has a model "${name}"`);
    cache.set(name, sql);
  }
  return sql;
}

/** Every model of a dataset, in the order they run: validation, facts, minute models, day rollups. */
export function datasetModels(ds: Dataset): string[] {
  return [
    `raw_${ds.name}_from_json`,
    `validated_${ds.name}`,
    ds.facts,
    ...ds.models.filter((m) => m.grain === 'minute').map((m) => m.name),
    ...ds.models.filter((m) => m.grain === 'day').map((m) => m.name),
  ];
}

/** The declared parameters of the dataset a model belongs to. */
function parametersOf(name: ModelName): Record<string, number> {
  const owner = listDatasets().find((ds) => ds.facts === name || ds.models.some((m) => m.name === name));
  return owner?.parameters ?? {};
}

/**
 * Materialises `model` as the temp table `table` (default: the model's name), with its dataset's declared
 * parameters set as DuckDB variables (`getvariable('session_gap_minutes')`).
 */
export async function materialize(connection: DuckDBConnection, model: ModelName, table: string = model) {
  for (const [name, value] of Object.entries(parametersOf(model))) {
    await connection.run(`set variable ${name} = ${Number(value)}`);
  }
  await connection.run(`create or replace temp table ${table} as\n${modelSql(model)}`);
}
