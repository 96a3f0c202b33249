import { parseDay } from './dates.ts';
import { InvalidInputError } from './errors.ts';

/**
 * Every key in the lake is built here, so the layout documented in README "Storage layout" is the code.
 * Partitions are Hive-style (`dt=YYYY-MM-DD/hour=HH`: a day of the reporting time zone, a UTC hour) so DuckDB and
 * Athena can prune them.
 */

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const HOUR_PATTERN = /^(?:[01]\d|2[0-3])$/;

/** Object names built from ids (batch ids, run ids, versions) must be safe path segments. */
export function safeId(id: string, what = 'id'): string {
  if (!ID_PATTERN.test(id)) throw new InvalidInputError(`${what} is not a safe name: "${id}"`, what);
  return id;
}

function hour(value: string): string {
  if (!HOUR_PATTERN.test(value)) throw new InvalidInputError(`hour must be 00..23, got "${value}"`, 'hour');
  return value;
}

/** Batch views per day: a dataset's facts (reconciliation names missing events) and each of its models. */
export type BatchView = string;

/** A declared name (dataset, model, facts) as a path segment: declared names are lower_snake_case. */
function declaredName(name: string): string {
  if (!/^[a-z][a-z0-9_]{0,62}$/.test(name))
    throw new InvalidInputError(`not a declared name: "${name}"`, 'dataset');
  return name;
}

export const lake = {
  landingPrefix: (day: string, dataset = 'orders') => `landing/${declaredName(dataset)}/dt=${parseDay(day)}/`,
  landingRoot: (dataset = 'orders') => `landing/${declaredName(dataset)}/`,

  // The speed layer, per dataset. Its realtime views are per minute model; the day's manifest (one per dataset and
  // day, naming each model's compacted file) sits in the folder of the dataset's first minute model.
  streamArchive: (day: string, hh: string, batchId: string, dataset = 'orders') =>
    `stream/${declaredName(dataset)}/dt=${parseDay(day)}/hour=${hour(hh)}/${safeId(batchId, 'batch id')}.parquet`,
  streamArchivePrefix: (day: string, hh?: string, dataset = 'orders') =>
    `stream/${declaredName(dataset)}/dt=${parseDay(day)}/` + (hh === undefined ? '' : `hour=${hour(hh)}/`),
  streamRoot: (dataset = 'orders') => `stream/${declaredName(dataset)}/`,

  batchView: (view: BatchView, day: string, version: string) =>
    `views/batch/${view}/dt=${parseDay(day)}/${safeId(version, 'version')}.parquet`,
  batchViewPrefix: (view: BatchView, day: string) => `views/batch/${view}/dt=${parseDay(day)}/`,
  /** One publish index per dataset: what batch has published of it. */
  batchPublished: (dataset = 'orders') => `views/batch/_published/${declaredName(dataset)}.json`,

  realtimePrefix: (day: string, hh?: string, model = 'sales_minute') =>
    `views/realtime/${declaredName(model)}/dt=${parseDay(day)}/` +
    (hh === undefined ? '' : `hour=${hour(hh)}/`),
  realtimePartial: (day: string, hh: string, batchId: string, model = 'sales_minute') =>
    `views/realtime/${declaredName(model)}/dt=${parseDay(day)}/hour=${hour(hh)}/part-${safeId(batchId, 'batch id')}.parquet`,
  realtimeCompacted: (day: string, compactionId: string, model = 'sales_minute') =>
    `views/realtime/${declaredName(model)}/dt=${parseDay(day)}/compacted-${safeId(compactionId, 'compaction id')}.parquet`,
  /**
   * One manifest per dataset and reporting day (`model`: the dataset's first minute model): a dataset dedupes per
   * day, so the compacted view of a day switches in one write.
   */
  realtimeManifest: (day: string, model = 'sales_minute') =>
    `views/realtime/${declaredName(model)}/dt=${parseDay(day)}/_manifest.json`,
  /** The day's deduplicated events so far (`facts`: the dataset's facts), so the next compaction only reads archives written since. */
  realtimeFactsPrefix: (day: string, facts = 'order_facts') =>
    `views/realtime/${declaredName(facts)}/dt=${parseDay(day)}/`,
  realtimeFacts: (day: string, compactionId: string, facts = 'order_facts') =>
    `views/realtime/${declaredName(facts)}/dt=${parseDay(day)}/facts-${safeId(compactionId, 'compaction id')}.parquet`,
  realtimeRoot: (model = 'sales_minute') => `views/realtime/${declaredName(model)}/`,

  quarantine: (day: string, sourceId: string, dataset = 'orders') =>
    `quarantine/${declaredName(dataset)}/dt=${parseDay(day)}/${safeId(sourceId, 'source id')}.jsonl`,
  quarantinePrefix: (day?: string, dataset = 'orders') =>
    `quarantine/${declaredName(dataset)}/` + (day === undefined ? '' : `dt=${parseDay(day)}/`),

  batchDayState: (day: string, dataset = 'orders') =>
    `state/batch/${declaredName(dataset)}/days/dt=${parseDay(day)}.json`,
  batchRunReport: (day: string, runId: string, dataset = 'orders') =>
    `state/batch/${declaredName(dataset)}/runs/dt=${parseDay(day)}/${safeId(runId, 'run id')}.json`,
  batchRunReportPrefix: (day: string, dataset = 'orders') =>
    `state/batch/${declaredName(dataset)}/runs/dt=${parseDay(day)}/`,
  /**
   * A fanned-out batch day's parts, per version of its inputs (a re-run of the same inputs resumes): the item list the
   * state machine's Map reads, per export file its valid rows by key bucket, its rejected rows and a summary, per
   * bucket its facts, its additive models' rows and a summary.
   */
  fanOutRoot: (day: string, version: string, dataset = 'orders') =>
    `state/batch/${declaredName(dataset)}/fan-out/dt=${parseDay(day)}/${safeId(version, 'version')}/`,
  /** The speed layer's state of a dataset: its watermark and one stats document per micro-batch and event day. */
  streamWatermark: (dataset = 'orders') => `state/stream/${declaredName(dataset)}/watermark.json`,
  /** A Kafka dataset's consumer lag per partition, as the local runtime measures it (AWS: the OffsetLag metric). */
  kafkaLag: (dataset: string) => `state/stream/${declaredName(dataset)}/kafka-lag.json`,
  streamBatchStats: (day: string, batchId: string, dataset = 'orders') =>
    `state/stream/${declaredName(dataset)}/batches/dt=${parseDay(day)}/${safeId(batchId, 'batch id')}.json`,
  streamBatchStatsPrefix: (day: string, dataset = 'orders') =>
    `state/stream/${declaredName(dataset)}/batches/dt=${parseDay(day)}/`,

  reconciliationRun: (day: string, runId: string) =>
    `reconciliation/runs/dt=${parseDay(day)}/${safeId(runId, 'run id')}.json`,
  reconciliationRunPrefix: (day: string) => `reconciliation/runs/dt=${parseDay(day)}/`,
  reconciliationRoot: 'reconciliation/runs/',
  /** A reference table the team maintains (declared under `tables:` in a dataset folder): CSV with a header row. */
  table: (name: string) => `tables/${declaredName(name)}.csv`,
  /**
   * What a count day's batch found: counted vs book level per key (a balance's opening dataset, per day). A batch
   * output, beside the batch views (the batch and reconcile functions write views/batch/, readers read views/).
   */
  balanceDiscrepancies: (balance: string, day: string) =>
    `views/batch/_balances/${declaredName(balance)}/discrepancies/dt=${parseDay(day)}.json`,
  /** A balance's level per key at the end of a published day (written by that day's batch run). */
  balanceClose: (balance: string, day: string) =>
    `views/batch/_balances/${declaredName(balance)}/closes/dt=${parseDay(day)}.json`,
  balanceClosesPrefix: (balance: string) => `views/batch/_balances/${declaredName(balance)}/closes/`,
  balanceDiscrepanciesPrefix: (balance: string) =>
    `views/batch/_balances/${declaredName(balance)}/discrepancies/`,
  /** An alert rule's state: per key that ever fired, whether it is firing and its open alert. */
  alertState: (rule: string) => `state/alerts/${declaredName(rule)}.json`,
  alert: (day: string, alertId: string) => `alerts/dt=${parseDay(day)}/${safeId(alertId, 'alert id')}.json`,
  alertsRoot: 'alerts/',
} as const;

/** Reads `dt=YYYY-MM-DD` (and `hour=HH` if present) back out of a key. */
export function partitionOf(key: string): { day?: string; hour?: string } {
  const day = /(?:^|\/)dt=(\d{4}-\d{2}-\d{2})\//.exec(key)?.[1];
  const hh = /(?:^|\/)hour=(\d{2})\//.exec(key)?.[1];
  return { ...(day ? { day } : {}), ...(hh ? { hour: hh } : {}) };
}
