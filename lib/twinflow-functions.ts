import type { SettingGroup } from '../functions/settings/setting.ts';
import {
  COMPACT_REALTIME_SETTINGS,
  INGEST_ORDERS_SETTINGS,
  QUERY_SALES_SETTINGS,
  RECONCILE_VIEWS_SETTINGS,
  RUN_BATCH_SETTINGS,
} from '../functions/settings/settings.ts';
import type { StageConfig } from './stage-config.ts';

/**
 * The Twinflow functions, once: the compute stack creates one Lambda function per entry, the local runtime maps
 * template resources back to them, and `twinflow invoke` takes exactly these names. No CDK imports here, so the
 * CLI and the local runtime can read the list without loading aws-cdk-lib.
 */
export interface TwinflowFunctionSpec {
  /** Construct id in the compute stack, and so the prefix of the function's logical ids (`RunBatchFunction…`). */
  readonly id: string;
  /** Handler file relative to the repository root (exports `handler`). */
  readonly entry: string;
  readonly description: string;
  readonly memorySize: number;
  /** Seconds, or the stage setting that decides them. */
  readonly timeoutSeconds: number | ((config: StageConfig) => number);
  /** The settings its `env.ts` reads; the stage's values reach it as environment variables. */
  readonly settings: SettingGroup;
}

export const TWINFLOW_FUNCTIONS = {
  'run-batch': {
    id: 'RunBatch',
    entry: 'functions/run-batch/handler.ts',
    description: 'Batch layer: validates and aggregates a landing day into the batch views',
    memorySize: 3008,
    timeoutSeconds: 15 * 60,
    settings: RUN_BATCH_SETTINGS,
  },
  'ingest-orders': {
    id: 'IngestOrders',
    entry: 'functions/ingest-orders/handler.ts',
    description: 'Speed layer: micro-batches of order events into realtime partials',
    memorySize: 2048,
    timeoutSeconds: (config) => config.stream.functionTimeoutSeconds,
    settings: INGEST_ORDERS_SETTINGS,
  },
  'compact-realtime': {
    id: 'CompactRealtime',
    entry: 'functions/compact-realtime/handler.ts',
    description: 'Compacts realtime partials into deduplicated hour files',
    memorySize: 2048,
    // Runs may overlap (the schedule is every minute): manifests commit conditionally, and only compacted
    // files a committed manifest retired are deleted, after the grace period.
    timeoutSeconds: 4 * 60,
    settings: COMPACT_REALTIME_SETTINGS,
  },
  'query-sales': {
    id: 'QuerySales',
    entry: 'functions/query-sales/handler.ts',
    description: 'Serving layer: merges batch and realtime views per hour',
    memorySize: 2048,
    // API Gateway's integration limit is 29 s; a longer timeout could never be used.
    timeoutSeconds: 29,
    settings: QUERY_SALES_SETTINGS,
  },
  'reconcile-views': {
    id: 'ReconcileViews',
    entry: 'functions/reconcile-views/handler.ts',
    description: 'Compares batch and realtime views, repairs gaps, alerts on deviation',
    memorySize: 2048,
    timeoutSeconds: 15 * 60,
    settings: RECONCILE_VIEWS_SETTINGS,
  },
} as const satisfies Record<string, TwinflowFunctionSpec>;

export type TwinflowFunctionName = keyof typeof TWINFLOW_FUNCTIONS;

/** The names, in the list's order (`twinflow invoke <function>`). */
export const FUNCTION_NAMES = Object.keys(TWINFLOW_FUNCTIONS) as TwinflowFunctionName[];

export function isTwinflowFunctionName(name: string): name is TwinflowFunctionName {
  return Object.hasOwn(TWINFLOW_FUNCTIONS, name);
}

/** A function's timeout under a stage config, in seconds. */
export function timeoutSecondsOf(spec: TwinflowFunctionSpec, config: StageConfig): number {
  return typeof spec.timeoutSeconds === 'number' ? spec.timeoutSeconds : spec.timeoutSeconds(config);
}
