import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/**
 * Dataset declarations: one folder per dataset under `datasets/` (a `dataset.yaml` and its SQL models), plain
 * files a team writes without TypeScript. The engine reads them; nothing in the engine names a dataset.
 */

const NAME = /^[a-z][a-z0-9_]{0,62}$/;
const name = (what: string) => z.string().regex(NAME, `${what} must be lower_snake_case (a-z, 0-9, _)`);

/** `{unless: {<enum field>: [values]}}`: a rule that holds except where that field has one of those values. */
const unlessSchema = z.strictObject({ unless: z.record(name('field'), z.array(z.string()).min(1)) });

const fieldSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('id'),
    /**
     * `stream`: required on the stream only (exports may omit it); `{unless: {<enum field>: [values]}}`: required
     * except where that field has one of those values (clicks: a product_id for every event but a page_view).
     */
    required: z.union([z.boolean(), z.literal('stream'), unlessSchema]).default(true),
  }),
  z.strictObject({
    type: z.literal('integer'),
    required: z.boolean().default(true),
    min: z.number().int().optional(),
    max: z.number().int().optional(),
    /** Greater than 0 except where an enum field has one of the values (inventory: only an adjustment may be negative). */
    positive: unlessSchema.optional(),
  }),
  z.strictObject({
    type: z.literal('decimal'),
    required: z.boolean().default(true),
    scale: z.number().int().min(0).max(18),
    min: z.number().optional(),
    max: z.number().optional(),
  }),
  z.strictObject({
    type: z.literal('currency'),
    default: z
      .string()
      .regex(/^[A-Z]{3}$/)
      .optional(),
  }),
  z.strictObject({ type: z.literal('timestamp'), required: z.boolean().default(true) }),
  z.strictObject({
    type: z.literal('enum'),
    required: z.boolean().default(true),
    values: z.array(z.string()).min(1),
  }),
]);

const measureSchema = z.discriminatedUnion('kind', [
  /** Rows of the model's facts: additive. */
  z.strictObject({ kind: z.literal('count') }),
  /** A sum of a numeric column: additive. */
  z.strictObject({ kind: z.literal('sum') }),
  /** A sum of money: additive within its currency, which must be a dimension. */
  z.strictObject({ kind: z.literal('money'), currency: name('currency field') }),
  /**
   * Distinct values (users, sessions): not additive. The model's column holds the list of distinct values of its
   * row (`list(distinct user_id)`); any range is answered with the size of the union of its rows' lists, so it is
   * exact across minutes, micro-batches (a value seen by two batches counts once) and the batch/realtime merge.
   */
  z.strictObject({ kind: z.literal('distinct'), of: name('field') }),
]);

/** A ratio of two count or sum measures of the same model, served from the sums of each row and total. */
const ratioSchema = z.strictObject({
  numerator: name('numerator'),
  denominator: name('denominator'),
});

const modelSchema = z.strictObject({
  description: z.string().optional(),
  /** The model's SQL, relative to the dataset folder. */
  sql: z.string().regex(/^[\w./-]+\.sql$/, 'sql must be a relative path to a .sql file'),
  grain: z.enum(['minute', 'day']),
  /** A day model rolls up a minute model of the same dataset. */
  rollup_of: name('rollup_of').optional(),
  dimensions: z.array(name('dimension')),
  measures: z.record(name('measure'), measureSchema),
  /**
   * `micro-batch` (default): each micro-batch writes a partial, compaction makes the day exact. `compaction`: only
   * compaction computes it, over the day's facts so far (for a model whose rows depend on events of other
   * micro-batches, like sessions): fresh within the compaction schedule.
   */
  realtime: z.enum(['micro-batch', 'compaction']).default('micro-batch'),
  /**
   * Ratios served beside the measures (`view_to_cart: { numerator: add_to_carts, denominator: product_views }`):
   * each answer divides its own sums, so a range's ratio is the ratio of its sums, never an average of ratios.
   */
  ratios: z.record(name('ratio'), ratioSchema).default({}),
});

/**
 * A reference table the team maintains in the lake, `tables/<name>.csv` (a header row, then one row per key):
 * e.g. the reorder point of each product in each warehouse. Alert rules and balances read it as thresholds.
 */
const tableSchema = z.strictObject({
  description: z.string().optional(),
  /** The columns that identify a row: fields (dimensions) of this dataset. */
  key: z.array(name('key column')).min(1),
  /** The whole-number column a row holds for its key. */
  value: name('value column'),
});

/**
 * A balance: a level that is an opening (the latest row of another dataset, e.g. a physical count) plus every
 * movement since (a sum measure of one of this dataset's minute models), exact to the event. Served at
 * `GET /<name>` and `twinflow <name>`.
 */
const balanceSchema = z.strictObject({
  description: z.string().optional(),
  /** The name the level is served under (`on_hand`). */
  value: name('value'),
  /** The movements: a sum measure of a minute model of this dataset, whose dimensions key the balance. */
  movements: z.strictObject({ model: name('model'), measure: name('measure') }),
  /**
   * The opening: a batch dataset with the same dimensions, whose rows are exact levels at their event time (which
   * includes every movement before that instant); the latest one at or before an instant opens the balance there.
   */
  opening: z.strictObject({ dataset: name('dataset'), value: name('value field') }),
  /** A table of this dataset (same key as the balance) each level is shown against; levels below it come first. */
  threshold: name('table').optional(),
});

/**
 * An alert rule, evaluated by the engine (SNS in AWS, `alerts/` in the lake): on a balance (each key's level) or a
 * model (a count or sum measure over the last `minutes`), `below` or `above` a number or a table's value per key.
 * One alert per crossing; re-armed once the condition no longer holds.
 */
const alertSchema = z
  .strictObject({
    description: z.string().optional(),
    balance: name('balance').optional(),
    model: name('model').optional(),
    measure: name('measure').optional(),
    /** Model rules: the window the measure is summed over, ending now. */
    minutes: z.number().int().min(1).max(1440).optional(),
    /** Model rules: only rows with these dimension values (a money measure names its currency: `{currency: USD}`). */
    where: z.record(name('dimension'), z.string().min(1)).optional(),
    below: z.union([z.number(), name('table')]).optional(),
    above: z.union([z.number(), name('table')]).optional(),
  })
  .refine((a) => (a.balance === undefined) !== (a.model === undefined), {
    message: 'an alert rule names either a balance or a model',
  })
  .refine((a) => (a.below === undefined) !== (a.above === undefined), {
    message: 'an alert rule has exactly one condition: below or above',
  });

const datasetSchema = z.strictObject({
  name: name('name'),
  description: z.string().optional(),
  source: z.enum(['stream+batch', 'stream', 'batch']),
  fields: z.record(name('field'), fieldSchema),
  event_time: name('event_time'),
  key: z.array(name('key field')).min(1),
  /** The deduplicated facts table (default `<name>_facts`). */
  facts: name('facts').optional(),
  /** Named numbers the models read with `getvariable('<name>')`: a policy declared once, next to its SQL. */
  parameters: z.record(name('parameter'), z.number()).optional(),
  /**
   * 1: the models also read `<facts>_neighbours`, the facts of the day before and the day after (sessions that
   * cross midnight). Batch validates the neighbouring days' exports for it, so a day's views follow from its own
   * and its neighbours' exports (a neighbour's new export re-runs the day); compaction reads their realtime facts.
   */
  neighbour_days: z.literal(1).optional(),
  models: z.record(name('model'), modelSchema),
  tables: z.record(name('table'), tableSchema).default({}),
  balances: z.record(name('balance'), balanceSchema).default({}),
  alerts: z.record(name('alert'), alertSchema).default({}),
});

export type FieldDeclaration = z.infer<typeof fieldSchema>;
export type MeasureDeclaration = z.infer<typeof measureSchema>;
export type RatioDeclaration = z.infer<typeof ratioSchema>;
export type ModelDeclaration = z.infer<typeof modelSchema> & { name: string };

/**
 * The SQL type a measure is served, summed and rolled up in: money DECIMAL(38, 2), distinct a list of values, counts
 * and sums BIGINT.
 */
export function measureSqlType(m: { kind: 'count' | 'sum' | 'money' | 'distinct' }): string {
  return m.kind === 'money' ? 'decimal(38, 2)' : m.kind === 'distinct' ? 'varchar[]' : 'bigint';
}
export type TableDeclaration = z.infer<typeof tableSchema> & { name: string; dataset: string };
export type BalanceDeclaration = z.infer<typeof balanceSchema> & {
  name: string;
  dataset: string;
  /** The movement model's dimensions: what keys a level. */
  dimensions: string[];
};
export type AlertDeclaration = z.infer<typeof alertSchema> & { name: string; dataset: string };

/** A checked declaration, with where it came from. */
export interface Dataset {
  name: string;
  description?: string;
  source: 'stream+batch' | 'stream' | 'batch';
  fields: Record<string, FieldDeclaration>;
  eventTime: string;
  key: string[];
  facts: string;
  models: ModelDeclaration[];
  /** Named numbers its models read with `getvariable('<name>')` (e.g. a session gap), set before each model runs. */
  parameters: Record<string, number>;
  /** 1 when its models read the neighbouring days' facts (`<facts>_neighbours`), else 0. */
  neighbourDays: 0 | 1;
  /** Reference tables the team maintains in the lake (`tables/<name>.csv`). */
  tables: TableDeclaration[];
  /** Levels: an opening plus the movements since. */
  balances: BalanceDeclaration[];
  /** Alert rules the engine evaluates. */
  alerts: AlertDeclaration[];
  /** The dataset's folder (absolute). */
  dir: string;
}

/** A declaration that cannot be used: names the file and the field. */
export class DatasetDeclarationError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'DatasetDeclarationError';
  }
}

/**
 * Where the dataset folders are: `TWINFLOW_DATASETS_DIR`, else `datasets/` next to a Lambda bundle, else the
 * repository's `datasets/`.
 */
export function datasetsDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['TWINFLOW_DATASETS_DIR']) return path.resolve(env['TWINFLOW_DATASETS_DIR']);
  for (const candidate of ['./datasets/', '../../datasets/']) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(dir)) return dir;
  }
  throw new Error('no datasets/ folder next to the code or TWINFLOW_DATASETS_DIR');
}

function check(file: string, condition: boolean, message: string): void {
  if (!condition) throw new DatasetDeclarationError(file, message);
}

/** Ratios divide additive whole-number measures of their own model, under a name no other output uses. */
function checkRatios(file: string, where: string, model: ModelDeclaration): void {
  const ratios = Object.entries(model.ratios);
  if (ratios.length === 0) return;
  check(
    file,
    model.grain === 'minute',
    `${where}.ratios: only a minute model declares ratios (its answers, day rollups included, carry them)`,
  );
  const taken = new Map<string, string>([['window_start', 'the bucket column']]);
  for (const dimension of model.dimensions) taken.set(dimension, 'a dimension');
  for (const [measure, m] of Object.entries(model.measures)) {
    taken.set(measure, 'a measure');
    if (m.kind === 'money') taken.set(`${measure}_by_currency`, `the per-currency form of ${measure}`);
  }
  for (const [ratio, r] of ratios) {
    const clash = taken.get(ratio);
    check(
      file,
      clash === undefined,
      `${where}.ratios.${ratio}: also ${clash} (names of a model's outputs are unique)`,
    );
    for (const part of ['numerator', 'denominator'] as const) {
      const measure = model.measures[r[part]];
      check(
        file,
        measure !== undefined,
        `${where}.ratios.${ratio}.${part}: "${r[part]}" is not a measure of ${model.name}`,
      );
      check(
        file,
        measure?.kind === 'count' || measure?.kind === 'sum',
        `${where}.ratios.${ratio}.${part}: "${r[part]}" is a ${measure?.kind} measure; a ratio divides count or sum measures (${
          measure?.kind === 'money' ? 'money is per currency' : 'distinct values do not add up'
        })`,
      );
    }
  }
}

/** Reads and checks one dataset folder. */
export function loadDataset(dir: string): Dataset {
  const file = path.join(dir, 'dataset.yaml');
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new DatasetDeclarationError(file, `not readable YAML: ${(error as Error).message}`);
  }
  const parsed = datasetSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DatasetDeclarationError(file, `${issue?.path.join('.') || 'declaration'}: ${issue?.message}`);
  }
  const d = parsed.data;
  check(
    file,
    path.basename(dir) === d.name,
    `name "${d.name}" must be the folder's name "${path.basename(dir)}"`,
  );
  const fields = d.fields;
  check(
    file,
    fields[d.event_time]?.type === 'timestamp',
    `event_time: "${d.event_time}" is not a timestamp field`,
  );
  for (const key of d.key) check(file, fields[key] !== undefined, `key: "${key}" is not a declared field`);
  for (const [fieldName, f] of Object.entries(fields)) {
    const rules = [
      ...(f.type === 'id' && typeof f.required === 'object' ? [['required', f.required] as const] : []),
      ...(f.type === 'integer' && f.positive ? [['positive', f.positive] as const] : []),
    ];
    for (const [rule, { unless }] of rules) {
      for (const [other, values] of Object.entries(unless)) {
        const on = fields[other];
        check(
          file,
          on?.type === 'enum',
          `fields.${fieldName}.${rule}.unless: "${other}" is not an enum field of this dataset`,
        );
        for (const value of values) {
          check(
            file,
            on?.type === 'enum' && on.values.includes(value),
            `fields.${fieldName}.${rule}.unless.${other}: "${value}" is not one of its values`,
          );
        }
      }
    }
  }
  const models: ModelDeclaration[] = Object.entries(d.models).map(([modelName, m]) => ({
    ...m,
    name: modelName,
  }));
  for (const model of models) {
    const where = `models.${model.name}`;
    check(file, existsSync(path.join(dir, model.sql)), `${where}.sql: ${model.sql} does not exist`);
    for (const dimension of model.dimensions) {
      check(
        file,
        fields[dimension] !== undefined,
        `${where}.dimensions: "${dimension}" is not a declared field`,
      );
    }
    for (const [measure, m] of Object.entries(model.measures)) {
      check(file, !model.dimensions.includes(measure), `${where}.measures.${measure}: also a dimension`);
      if (m.kind === 'money') {
        check(
          file,
          model.dimensions.includes(m.currency),
          `${where}.measures.${measure}: its currency "${m.currency}" must be a dimension (money never mixes currencies)`,
        );
      }
    }
    checkRatios(file, where, model);
    if (model.grain === 'day') {
      const base = models.find((other) => other.name === model.rollup_of);
      check(file, base?.grain === 'minute', `${where}.rollup_of: names no minute model of this dataset`);
    } else {
      check(file, model.rollup_of === undefined, `${where}.rollup_of: only a day model rolls up`);
    }
  }
  const tables: TableDeclaration[] = Object.entries(d.tables).map(([tableName, t]) => ({
    ...t,
    name: tableName,
    dataset: d.name,
  }));
  for (const table of tables) {
    for (const column of table.key) {
      check(
        file,
        fields[column] !== undefined,
        `tables.${table.name}.key: "${column}" is not a declared field`,
      );
    }
  }
  const balances: BalanceDeclaration[] = Object.entries(d.balances).map(([balanceName, b]) => {
    const where = `balances.${balanceName}`;
    const model = models.find((m) => m.name === b.movements.model);
    check(
      file,
      model?.grain === 'minute',
      `${where}.movements.model: "${b.movements.model}" is not a minute model of this dataset`,
    );
    check(
      file,
      model?.measures[b.movements.measure]?.kind === 'sum',
      `${where}.movements.measure: "${b.movements.measure}" is not a sum measure of ${b.movements.model}`,
    );
    const dimensions = model?.dimensions ?? [];
    if (b.threshold !== undefined) {
      const table = tables.find((t) => t.name === b.threshold);
      check(file, table !== undefined, `${where}.threshold: "${b.threshold}" is not a table of this dataset`);
      check(
        file,
        table?.key.join(',') === dimensions.join(','),
        `${where}.threshold: ${b.threshold}'s key must be the balance's dimensions (${dimensions.join(', ')})`,
      );
    }
    return { ...b, name: balanceName, dataset: d.name, dimensions };
  });
  const alerts: AlertDeclaration[] = Object.entries(d.alerts).map(([alertName, a]) => {
    const where = `alerts.${alertName}`;
    const limit = a.below ?? a.above;
    if (a.balance !== undefined) {
      const balance = balances.find((b) => b.name === a.balance);
      check(file, balance !== undefined, `${where}.balance: "${a.balance}" is not a balance of this dataset`);
      if (typeof limit === 'string') {
        const table = tables.find((t) => t.name === limit);
        check(file, table !== undefined, `${where}: "${limit}" is not a table of this dataset`);
        check(
          file,
          table?.key.join(',') === balance?.dimensions.join(','),
          `${where}: ${limit}'s key must be the balance's dimensions (${balance?.dimensions.join(', ')})`,
        );
      }
      check(
        file,
        a.measure === undefined && a.minutes === undefined,
        `${where}: measure and minutes are for model rules`,
      );
    } else {
      const model = models.find((m) => m.name === a.model);
      check(
        file,
        model?.grain === 'minute',
        `${where}.model: "${a.model}" is not a minute model of this dataset`,
      );
      const measure = a.measure === undefined ? undefined : model?.measures[a.measure];
      check(
        file,
        measure?.kind === 'count' || measure?.kind === 'sum' || measure?.kind === 'money',
        `${where}.measure: "${a.measure ?? ''}" is not a count, sum or money measure of ${a.model}`,
      );
      for (const dimension of Object.keys(a.where ?? {})) {
        check(
          file,
          model?.dimensions.includes(dimension) === true,
          `${where}.where: "${dimension}" is not a dimension of ${a.model}`,
        );
      }
      if (measure?.kind === 'money') {
        check(
          file,
          a.where?.[measure.currency] !== undefined,
          `${where}.where: a money measure is per currency; name it (where: { ${measure.currency}: USD })`,
        );
      }
      check(
        file,
        a.minutes !== undefined,
        `${where}.minutes: a model rule sums its measure over the last N minutes`,
      );
      check(file, typeof limit === 'number', `${where}: a model rule's threshold is a number`);
    }
    return { ...a, name: alertName, dataset: d.name };
  });
  return {
    name: d.name,
    ...(d.description !== undefined ? { description: d.description } : {}),
    source: d.source,
    fields,
    eventTime: d.event_time,
    key: d.key,
    facts: d.facts ?? `${d.name}_facts`,
    models,
    parameters: d.parameters ?? {},
    neighbourDays: d.neighbour_days ?? 0,
    tables,
    balances,
    alerts,
    dir,
  };
}

const loaded = new Map<string, Dataset[]>();

/** Every declared dataset, sorted by name; model names are unique across datasets. Cached per folder. */
export function listDatasets(dir: string = datasetsDir()): Dataset[] {
  let datasets = loaded.get(dir);
  if (!datasets) {
    datasets = readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && existsSync(path.join(dir, entry.name, 'dataset.yaml')))
      .map((entry) => loadDataset(path.join(dir, entry.name)))
      .sort((a, b) => a.name.localeCompare(b.name));
    const owners = new Map<string, string>();
    for (const dataset of datasets) {
      for (const model of [...dataset.models.map((m) => m.name), dataset.facts]) {
        const owner = owners.get(model);
        if (owner) {
          throw new DatasetDeclarationError(
            path.join(dataset.dir, 'dataset.yaml'),
            `model "${model}" is also declared by dataset "${owner}" (model names are unique across datasets)`,
          );
        }
        owners.set(model, dataset.name);
      }
    }
    checkAcrossDatasets(datasets);
    loaded.set(dir, datasets);
  }
  return datasets;
}

/**
 * What one dataset's declaration names of another: a balance's opening is a batch dataset whose rows carry the
 * balance's dimensions and a whole-number value; balance and alert names are unique across datasets.
 */
function checkAcrossDatasets(datasets: readonly Dataset[]): void {
  const names = new Map<string, string>();
  for (const ds of datasets) {
    const file = path.join(ds.dir, 'dataset.yaml');
    const declared = [
      ...ds.balances.map((b) => ['balance', b.name] as const),
      ...ds.alerts.map((a) => ['alert', a.name] as const),
      ...ds.tables.map((t) => ['table', t.name] as const),
    ];
    for (const [kind, itemName] of declared) {
      const owner = names.get(`${kind}:${itemName}`);
      check(file, owner === undefined, `${kind} "${itemName}" is also declared by dataset "${owner}"`);
      names.set(`${kind}:${itemName}`, ds.name);
    }
    for (const balance of ds.balances) {
      const where = `balances.${balance.name}.opening`;
      const opening = datasets.find((other) => other.name === balance.opening.dataset);
      check(file, opening !== undefined, `${where}.dataset: no dataset "${balance.opening.dataset}"`);
      check(
        file,
        opening?.source === 'batch',
        `${where}.dataset: "${balance.opening.dataset}" must be a batch dataset (an opening is exact once published)`,
      );
      check(
        file,
        opening?.fields[balance.opening.value]?.type === 'integer',
        `${where}.value: "${balance.opening.value}" is not an integer field of ${balance.opening.dataset}`,
      );
      for (const dimension of balance.dimensions) {
        check(
          file,
          opening?.fields[dimension] !== undefined,
          `${where}.dataset: ${balance.opening.dataset} has no field "${dimension}" (a dimension of the balance)`,
        );
      }
    }
  }
}

/** Every declared balance, in dataset then declaration order. */
export function listBalances(datasets: readonly Dataset[] = listDatasets()): BalanceDeclaration[] {
  return datasets.flatMap((ds) => ds.balances);
}

/** Every declared alert rule, in dataset then declaration order. */
export function listAlertRules(datasets: readonly Dataset[] = listDatasets()): AlertDeclaration[] {
  return datasets.flatMap((ds) => ds.alerts);
}

/** A declared table by name (any dataset). */
export function declaredTable(
  tableName: string,
  datasets: readonly Dataset[] = listDatasets(),
): TableDeclaration {
  const found = datasets.flatMap((ds) => ds.tables).find((t) => t.name === tableName);
  if (!found) throw new Error(`no dataset declares a table "${tableName}"`);
  return found;
}

/** Does the dataset's declared source include a stream (`stream` or `stream+batch`)? */
export function isStreamed(ds: Pick<Dataset, 'source'>): boolean {
  return ds.source !== 'batch';
}

/** The datasets whose declared source includes a stream, in declaration (name) order. */
export function streamedDatasets(datasets: readonly Dataset[] = listDatasets()): Dataset[] {
  return datasets.filter(isStreamed);
}

/** One dataset by name; the error lists the declared ones. */
export function dataset(datasetName: string, dir?: string): Dataset {
  const all = listDatasets(dir);
  const found = all.find((d) => d.name === datasetName);
  if (!found) {
    throw new Error(`unknown dataset "${datasetName}" (declared: ${all.map((d) => d.name).join(', ')})`);
  }
  return found;
}

/** The SQL text of a declared model. */
export function declaredModelSql(ds: Dataset, modelName: string): string {
  const model = ds.models.find((m) => m.name === modelName);
  if (!model) throw new Error(`dataset "${ds.name}" declares no model "${modelName}"`);
  return readFileSync(path.join(ds.dir, model.sql), 'utf8');
}

/**
 * THE dedup rule of every layer, from the declaration: within a reporting day each key counts once, and the copy
 * with the earliest event time wins, ties broken by the other declared fields in their order (nulls last), so
 * every layer keeps the same copy whatever the arrival order. Reads `validated_<name>` rows (`is_valid`,
 * `reporting_day` and the fields). Copies on two days count on each day: days stay independent.
 *
 * The window that picks the copy sorts the rows it reads, so it reads only the copies of keys that repeat: a key with
 * one valid copy on its day is that copy, taken as it is (found by one aggregate of the keys and a hash anti-join;
 * on a 1M-row day without retries this costs two thirds of the window over every row, and less with retries).
 */
export function factsSql(ds: Dataset): string {
  const fields = Object.keys(ds.fields);
  const columns = [...fields, 'reporting_day'].join(',\n        ');
  const scope = [...ds.key, 'reporting_day'];
  // A missing key is a key too (as the window's partitions treat it): null matches null.
  const sameScope = scope.map((c) => `valid_rows.${c} is not distinct from repeated_keys.${c}`).join(' and ');
  const tieBreak = fields
    .filter((f) => f !== ds.eventTime && !ds.key.includes(f))
    .map((f) => `${f} nulls last`);
  return `-- grain: one row per ${ds.key.join(', ')} and reporting day (generated from datasets/${ds.name}/dataset.yaml)
with

valid_rows as not materialized (
    -- read by each step below rather than copied once for all of them
    select * from validated_${ds.name}
    where is_valid
),

repeated_keys as (
    select ${scope.join(', ')}
    from valid_rows
    group by all
    having count(*) > 1
),

only_copies as (
    select
        ${columns},
    from valid_rows
    anti join repeated_keys on ${sameScope}
),

earliest_copies as (
    select
        ${columns},
    from valid_rows
    semi join repeated_keys on ${sameScope}
    qualify row_number() over (
        partition by ${scope.join(', ')}
        order by ${[ds.eventTime, ...tieBreak].join(', ')}
    ) = 1
),

deduplicated as (
    select * from only_copies
    union all
    select * from earliest_copies
)

select * from deduplicated
`;
}

/**
 * The columns of a dataset's events: its declared fields (its facts without the reporting day), as stream archives,
 * realtime facts and the full batch facts hold them.
 */
export function archiveColumns(ds: Pick<Dataset, 'fields'>): string {
  return Object.keys(ds.fields).join(', ');
}

/** What `twinflow datasets --json` prints for a dataset. */
export function datasetSummary(ds: Dataset) {
  return {
    name: ds.name,
    source: ds.source,
    ...(ds.description !== undefined ? { description: ds.description } : {}),
    key: ds.key,
    event_time: ds.eventTime,
    fields: Object.fromEntries(Object.entries(ds.fields).map(([field, f]) => [field, f.type])),
    models: ds.models.map((m) => ({
      name: m.name,
      grain: m.grain,
      ...(m.rollup_of !== undefined ? { rollup_of: m.rollup_of } : {}),
      dimensions: m.dimensions,
      measures: Object.keys(m.measures),
      measure_kinds: Object.fromEntries(Object.entries(m.measures).map(([measure, d]) => [measure, d.kind])),
      ratios: Object.entries(m.ratios).map(([ratio, r]) => ({
        name: ratio,
        numerator: r.numerator,
        denominator: r.denominator,
      })),
    })),
    ...(ds.balances.length > 0
      ? {
          balances: ds.balances.map((b) => ({
            name: b.name,
            route: `/${b.name}`,
            value: b.value,
            dimensions: b.dimensions,
            movements: b.movements,
            opening: b.opening,
            ...(b.threshold !== undefined ? { threshold: b.threshold } : {}),
          })),
        }
      : {}),
    ...(ds.tables.length > 0
      ? {
          tables: ds.tables.map((t) => ({
            name: t.name,
            lake: `tables/${t.name}.csv`,
            key: t.key,
            value: t.value,
          })),
        }
      : {}),
    ...(ds.alerts.length > 0
      ? {
          alerts: ds.alerts.map((a) => ({
            name: a.name,
            on: a.balance ?? a.model,
            ...(a.measure !== undefined ? { measure: a.measure, minutes: a.minutes } : {}),
            ...(a.where !== undefined ? { where: a.where } : {}),
            condition: a.below !== undefined ? 'below' : 'above',
            threshold: a.below ?? a.above,
          })),
        }
      : {}),
  };
}
