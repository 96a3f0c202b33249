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

/** A dataset name as a path segment (declared names are lower_snake_case). */
function datasetSegment(dataset: string): string {
  if (!/^[a-z][a-z0-9_]{0,62}$/.test(dataset))
    throw new InvalidInputError(`not a dataset name: "${dataset}"`, 'dataset');
  return dataset;
}

export const lake = {
  landingPrefix: (day: string, dataset = 'orders') =>
    `landing/${datasetSegment(dataset)}/dt=${parseDay(day)}/`,
  landingRoot: (dataset = 'orders') => `landing/${datasetSegment(dataset)}/`,

  streamArchive: (day: string, hh: string, batchId: string) =>
    `stream/orders/dt=${parseDay(day)}/hour=${hour(hh)}/${safeId(batchId, 'batch id')}.parquet`,
  streamArchivePrefix: (day: string, hh?: string) =>
    `stream/orders/dt=${parseDay(day)}/` + (hh === undefined ? '' : `hour=${hour(hh)}/`),
  streamRoot: 'stream/orders/',

  batchView: (view: BatchView, day: string, version: string) =>
    `views/batch/${view}/dt=${parseDay(day)}/${safeId(version, 'version')}.parquet`,
  batchViewPrefix: (view: BatchView, day: string) => `views/batch/${view}/dt=${parseDay(day)}/`,
  /** One publish index per dataset: what batch has published of it. */
  batchPublished: (dataset = 'orders') => `views/batch/_published/${datasetSegment(dataset)}.json`,

  realtimePrefix: (day: string, hh?: string) =>
    `views/realtime/sales_minute/dt=${parseDay(day)}/` + (hh === undefined ? '' : `hour=${hour(hh)}/`),
  realtimePartial: (day: string, hh: string, batchId: string) =>
    `views/realtime/sales_minute/dt=${parseDay(day)}/hour=${hour(hh)}/part-${safeId(batchId, 'batch id')}.parquet`,
  realtimeCompacted: (day: string, compactionId: string) =>
    `views/realtime/sales_minute/dt=${parseDay(day)}/compacted-${safeId(compactionId, 'compaction id')}.parquet`,
  /** One manifest per reporting day: orders dedupe per day, so the compacted view of a day switches in one write. */
  realtimeManifest: (day: string) => `views/realtime/sales_minute/dt=${parseDay(day)}/_manifest.json`,
  /** The day's deduplicated orders so far, so the next compaction only reads archives written since. */
  realtimeFactsPrefix: (day: string) => `views/realtime/order_facts/dt=${parseDay(day)}/`,
  realtimeFacts: (day: string, compactionId: string) =>
    `views/realtime/order_facts/dt=${parseDay(day)}/facts-${safeId(compactionId, 'compaction id')}.parquet`,
  realtimeRoot: 'views/realtime/sales_minute/',

  quarantine: (day: string, sourceId: string, dataset = 'orders') =>
    `quarantine/${datasetSegment(dataset)}/dt=${parseDay(day)}/${safeId(sourceId, 'source id')}.jsonl`,
  quarantinePrefix: (day?: string, dataset = 'orders') =>
    `quarantine/${datasetSegment(dataset)}/` + (day === undefined ? '' : `dt=${parseDay(day)}/`),

  batchDayState: (day: string, dataset = 'orders') =>
    `state/batch/${datasetSegment(dataset)}/days/dt=${parseDay(day)}.json`,
  batchRunReport: (day: string, runId: string, dataset = 'orders') =>
    `state/batch/${datasetSegment(dataset)}/runs/dt=${parseDay(day)}/${safeId(runId, 'run id')}.json`,
  batchRunReportPrefix: (day: string, dataset = 'orders') =>
    `state/batch/${datasetSegment(dataset)}/runs/dt=${parseDay(day)}/`,
  streamState: 'state/stream/watermark.json',

  reconciliationRun: (day: string, runId: string) =>
    `reconciliation/runs/dt=${parseDay(day)}/${safeId(runId, 'run id')}.json`,
  reconciliationRunPrefix: (day: string) => `reconciliation/runs/dt=${parseDay(day)}/`,
  reconciliationRoot: 'reconciliation/runs/',
  alert: (day: string, alertId: string) => `alerts/dt=${parseDay(day)}/${safeId(alertId, 'alert id')}.json`,
  alertsRoot: 'alerts/',
} as const;

/** Reads `dt=YYYY-MM-DD` (and `hour=HH` if present) back out of a key. */
export function partitionOf(key: string): { day?: string; hour?: string } {
  const day = /(?:^|\/)dt=(\d{4}-\d{2}-\d{2})\//.exec(key)?.[1];
  const hh = /(?:^|\/)hour=(\d{2})\//.exec(key)?.[1];
  return { ...(day ? { day } : {}), ...(hh ? { hour: hh } : {}) };
}
