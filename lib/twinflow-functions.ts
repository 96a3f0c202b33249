import {
  DATASET_VARIABLE,
  ingestDatasetName,
  LEGACY_INGEST_DATASET,
} from '../functions/ingest-orders/dataset.ts';
import { type Dataset, listDatasets, streamedDatasets } from '../functions/pipeline/datasets.ts';
import type { SettingGroup } from '../functions/settings/setting.ts';
import {
  COMPACT_REALTIME_SETTINGS,
  EVALUATE_ALERTS_SETTINGS,
  INGEST_ORDERS_SETTINGS,
  QUERY_SALES_SETTINGS,
  RECONCILE_VIEWS_SETTINGS,
  RUN_BATCH_SETTINGS,
} from '../functions/settings/settings.ts';
import type { StageConfig } from './stage-config.ts';

/**
 * The Twinflow functions, once: the compute stack creates one Lambda function per entry, the local runtime maps
 * template resources back to them, and `twinflow invoke` takes exactly these names. Four functions serve every
 * dataset; each dataset whose source includes a stream gets its own ingest function (`ingest-<dataset>`), all
 * running the one ingest handler. No CDK imports here, so the CLI and the local runtime can read the list
 * without loading aws-cdk-lib.
 */
export interface TwinflowFunctionSpec {
  /** The function's name: `twinflow invoke <name>`, the local runtime's logs. */
  readonly name: string;
  /** Construct id in the compute stack, and so the prefix of the function's logical ids (`RunBatchFunction…`). */
  readonly id: string;
  /** Handler file relative to the repository root (exports `handler`). */
  readonly entry: string;
  readonly description: string;
  readonly memorySize: number;
  /** Its /tmp in MB, where more than Lambda's default 512 MB is needed (downloads, DuckDB spill, work files). */
  readonly ephemeralStorageMb?: number;
  /** Seconds, or the stage setting that decides them. */
  readonly timeoutSeconds: number | ((config: StageConfig) => number);
  /** The settings its `env.ts` reads; the stage's values reach it as environment variables. */
  readonly settings: SettingGroup;
  /** The dataset whose events it ingests (ingest functions only). */
  readonly dataset?: string;
  /** Variables that say which function it is, not settings: `TWINFLOW_DATASET` of a dataset's ingest function. */
  readonly environment: Readonly<Record<string, string>>;
}

/** A function's name; `ingest-<dataset>` names are as many as the streamed datasets. */
export type TwinflowFunctionName = string;

const INGEST_ENTRY = 'functions/ingest-orders/handler.ts';

const RUN_BATCH: TwinflowFunctionSpec = {
  name: 'run-batch',
  id: 'RunBatch',
  entry: 'functions/run-batch/handler.ts',
  description: 'Batch layer: validates and aggregates a landing day into the batch views',
  memorySize: 3008,
  timeoutSeconds: 15 * 60,
  settings: RUN_BATCH_SETTINGS,
  environment: {},
};

/** The steps of a fanned-out batch day (plan, map, reduce, merge) on the state machine, with run-batch's settings. */
const BATCH_FAN_OUT: TwinflowFunctionSpec = {
  name: 'batch-fan-out',
  id: 'BatchFanOut',
  entry: 'functions/batch-fan-out/handler.ts',
  description: 'Batch layer at scale: plans, maps, reduces and merges a day on the fan-out state machine',
  memorySize: 3008,
  // The merge streams the buckets' facts parts from /tmp and spills its sorts there: ~45 bytes an order (a 20M day
  // ~0.9 GB, docs/scale-out.md), so the maximum, ~200M orders a day.
  ephemeralStorageMb: 10_240,
  timeoutSeconds: 15 * 60,
  settings: RUN_BATCH_SETTINGS,
  environment: {},
};

/** After the ingest functions, in the order the compute stack has always created them. */
const SERVING_AND_UPKEEP: readonly TwinflowFunctionSpec[] = [
  {
    name: 'compact-realtime',
    id: 'CompactRealtime',
    entry: 'functions/compact-realtime/handler.ts',
    description: 'Compacts realtime partials into deduplicated hour files',
    memorySize: 2048,
    // Runs may overlap (the schedule is every minute): manifests commit conditionally, and only compacted
    // files a committed manifest retired are deleted, after the grace period.
    timeoutSeconds: 4 * 60,
    settings: COMPACT_REALTIME_SETTINGS,
    environment: {},
  },
  {
    name: 'query-sales',
    id: 'QuerySales',
    entry: 'functions/query-sales/handler.ts',
    description: 'Serving layer: merges batch and realtime views per hour',
    memorySize: 2048,
    // API Gateway's integration limit is 29 s; a longer timeout could never be used.
    timeoutSeconds: 29,
    settings: QUERY_SALES_SETTINGS,
    environment: {},
  },
  {
    name: 'reconcile-views',
    id: 'ReconcileViews',
    entry: 'functions/reconcile-views/handler.ts',
    description: 'Compares batch and realtime views, repairs gaps, alerts on deviation',
    memorySize: 2048,
    timeoutSeconds: 15 * 60,
    settings: RECONCILE_VIEWS_SETTINGS,
    environment: {},
  },
  {
    name: 'evaluate-alerts',
    id: 'EvaluateAlerts',
    entry: 'functions/evaluate-alerts/handler.ts',
    description: 'Evaluates the declared alert rules (balances, models); one alert per crossing',
    memorySize: 1024,
    // Every minute; a run that overlaps the next is harmless (the state is written conditionally).
    timeoutSeconds: 60,
    settings: EVALUATE_ALERTS_SETTINGS,
    environment: {},
  },
];

/** `stock_moves` → `StockMoves`: a dataset's part of construct ids (its queue, consumer and ingest function). */
export function datasetConstructId(datasetName: string): string {
  return datasetName
    .split('_')
    .filter((part) => part !== '')
    .map((part) => `${part.charAt(0).toUpperCase()}${part.slice(1)}`)
    .join('');
}

/** `stock_moves`, `DLQ_URL` → `STOCK_MOVES_DLQ_URL`: a variable naming one of a dataset's resources. */
export function datasetVariable(datasetName: string, suffix: string): string {
  return `${datasetName.toUpperCase()}_${suffix}`;
}

/** `ingest-<dataset>`: the function that consumes a dataset's stream. */
export function ingestFunctionName(datasetName: string): string {
  return `ingest-${datasetName}`;
}

export { streamedDatasets };

/** A streamed dataset's ingest function. Orders' keeps the description and environment it was deployed with. */
function ingestSpec(ds: Dataset): TwinflowFunctionSpec {
  const legacy = ds.name === LEGACY_INGEST_DATASET;
  return {
    name: ingestFunctionName(ds.name),
    id: `Ingest${datasetConstructId(ds.name)}`,
    entry: INGEST_ENTRY,
    description: legacy
      ? 'Speed layer: micro-batches of order events into realtime partials'
      : `Speed layer: micro-batches of ${ds.name} events into realtime partials`,
    memorySize: 2048,
    timeoutSeconds: (config) => config.stream.functionTimeoutSeconds,
    settings: INGEST_ORDERS_SETTINGS,
    dataset: ds.name,
    environment: legacy ? {} : { [DATASET_VARIABLE]: ds.name },
  };
}

/**
 * The functions of a set of declarations, in the compute stack's order: run-batch, one ingest function per
 * streamed dataset, then compaction, serving, reconciliation and alerts, then the batch fan-out's steps.
 * @throws Error when two datasets would share construct ids (`a_b` and `ab` both read `Ab`).
 */
export function twinflowFunctions(datasets: readonly Dataset[] = listDatasets()): TwinflowFunctionSpec[] {
  const specs = [
    RUN_BATCH,
    ...streamedDatasets(datasets).map(ingestSpec),
    ...SERVING_AND_UPKEEP,
    BATCH_FAN_OUT,
  ];
  const owners = new Map<string, string>();
  for (const spec of specs) {
    const owner = owners.get(spec.id);
    if (owner) throw new Error(`functions ${owner} and ${spec.name} would share the construct id ${spec.id}`);
    owners.set(spec.id, spec.name);
  }
  return specs;
}

/** The functions of the declared datasets, by name (`TWINFLOW_DATASETS_DIR` or `datasets/`, read once). */
export const TWINFLOW_FUNCTIONS: Readonly<Record<TwinflowFunctionName, TwinflowFunctionSpec>> =
  Object.fromEntries(twinflowFunctions().map((spec) => [spec.name, spec]));

/** The names, in the list's order (`twinflow invoke <function>`). */
export const FUNCTION_NAMES: readonly TwinflowFunctionName[] = Object.keys(TWINFLOW_FUNCTIONS);

export function isTwinflowFunctionName(name: string): name is TwinflowFunctionName {
  return Object.hasOwn(TWINFLOW_FUNCTIONS, name);
}

/**
 * The spec of a declared function.
 * @throws Error listing the names when there is no function `name`.
 */
export function functionSpec(name: string): TwinflowFunctionSpec {
  const spec = TWINFLOW_FUNCTIONS[name];
  if (!spec) throw new Error(`no function "${name}" (functions: ${FUNCTION_NAMES.join(', ')})`);
  return spec;
}

/** What a template's function is: its name and, for an ingest function, its dataset. */
export interface FunctionIdentity {
  name: TwinflowFunctionName;
  entry: string;
  dataset?: string;
}

/**
 * Which function a deployed handler `entry` with environment `environment` is, read from the template alone (so
 * a template synthesized from other declarations still maps): the ingest handler is `ingest-<TWINFLOW_DATASET>`
 * (orders without it), every other handler is the one function with that entry. Undefined for other handlers.
 */
export function functionIdentity(
  entry: string,
  environment: Readonly<Record<string, unknown>>,
): FunctionIdentity | undefined {
  const matches = (known: string) => entry === known || entry.endsWith(`/${known}`);
  if (matches(INGEST_ENTRY)) {
    const dataset = ingestDatasetName(environment);
    return { name: ingestFunctionName(dataset), entry: INGEST_ENTRY, dataset };
  }
  const spec = [RUN_BATCH, ...SERVING_AND_UPKEEP, BATCH_FAN_OUT].find((s) => matches(s.entry));
  return spec ? { name: spec.name, entry: spec.entry } : undefined;
}

/** A function's timeout under a stage config, in seconds. */
export function timeoutSecondsOf(spec: TwinflowFunctionSpec, config: StageConfig): number {
  return typeof spec.timeoutSeconds === 'number' ? spec.timeoutSeconds : spec.timeoutSeconds(config);
}
