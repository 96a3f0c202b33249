import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import {
  assertIndexTimeZone,
  type PublishedDay,
  type PublishedIndex,
  publishDay,
  publishedDays,
  readPublished,
} from '../pipeline/batch-published.ts';
import {
  buildDatasetViews,
  copyQuarantine,
  copyToParquet,
  createNeighbourFacts,
  type ReasonCount,
  type RecordCounts,
  topRejectReasons,
  validateRawTable,
} from '../pipeline/dataset-views.ts';
import { archiveColumns, type Dataset, dataset, listBalances } from '../pipeline/datasets.ts';
import { addDays, parseDay, UTC } from '../pipeline/dates.ts';
import { sqlPath, withConnection } from '../pipeline/duckdb-session.ts';
import { runId as newRunId } from '../pipeline/ids.ts';
import { type BatchView, lake } from '../pipeline/lake-layout.ts';
import { getJson, putJson } from '../pipeline/object-store.ts';
import type { CoreDeps } from '../pipeline/ports.ts';
import { appendExportFile, createRawTable } from '../pipeline/record-sources.ts';
import { materialize } from '../pipeline/sql-models.ts';
import type { ValidationPolicy } from '../pipeline/validation-policy.ts';
import { recordBatchClose } from '../serving/balances.ts';
import { recordDiscrepanciesFrom } from '../serving/discrepancies.ts';
import { dayInputs, type LandingFile } from './landing-files.ts';
import {
  evaluateGates,
  failedFatalGates,
  type GateResult,
  type GateThresholds,
  gateThresholds,
  QualityGateError,
} from './quality-gates.ts';

/** What a run of one day did; stored under `state/batch/runs/` and returned to the caller. */
export interface BatchRunReport {
  day: string;
  runId: string;
  status: 'published' | 'failed';
  version: string;
  startedAt: string;
  finishedAt: string;
  inputs: { key: string; etag: string; size: number; format: string }[];
  counts: RecordCounts;
  /** Revenue of the day per ISO 4217 code (decimal strings); never summed across currencies. */
  revenue_by_currency: Record<string, string>;
  gates: GateResult[];
  /**
   * Orders of this day whose order_id is also counted on a neighbouring published day, by that day. Copies on two
   * days count on each day (the dedup rule is per day); this says how many, as of the run.
   */
  cross_day_duplicates: Record<string, number>;
  durationsMs: { load: number; transform: number; write: number; publish: number; total: number };
  /** Where the rejected records are; written whether or not the day was published. */
  quarantineKey: string | null;
  /** The most frequent reasons records were rejected (up to 5), most frequent first. */
  topReasons: ReasonCount[];
  /**
   * A day of a balance's openings (counts): per balance, the counts compared with the book level, how many differ
   * and the net difference in units (the rows: `GET /<balance>/discrepancies`).
   */
  discrepancies?: Record<string, { counts: number; mismatched: number; net: number }>;
  error?: string;
}

/** Marks the landing fingerprint of a day's last successful run (incremental mode compares against it). */
export interface BatchDayState {
  day: string;
  version: string;
  runId: string;
  completedAt: string;
}

/** A run planned on one version of a day's exports found another: it publishes nothing (run the day again). */
export class LandingChangedError extends Error {
  constructor(dataset: string, day: string, planned: string, now: string) {
    super(
      `${dataset} ${day}: the landing exports changed since the run was planned (version ${planned}, now ${now}); run the day again`,
    );
    this.name = 'LandingChangedError';
  }
}

/** Old view versions are kept this long after being replaced, so a reader holding the old index can finish. */
const SUPERSEDED_GRACE_MS = 15 * 60_000;

const EMPTY_COUNTS: RecordCounts = { received: 0, valid: 0, quarantined: 0, duplicates: 0, orders: 0 };

/** What a day's computation left in its connection's tables (`<facts>`, the models) and tells the publish step. */
export interface DayComputation {
  counts: RecordCounts;
  /** Per export file, the required columns it lacks. */
  missingColumns: Record<string, string[]>;
  /** Export files none of which could be read, with why. */
  unreadableFiles: Record<string, string>;
  topReasons: ReasonCount[];
  /** Writes the day's rejected records (JSONL, by record ref) to `localPath`; how many. */
  writeQuarantine(localPath: string): Promise<number>;
}

/** What a day's computation is given: the day, its dataset, its inputs as of the run's start. */
export interface DayContext {
  day: string;
  ds: Dataset;
  timeZone: string;
  files: LandingFile[];
  neighbourFiles: LandingFile[];
  version: string;
  started: Date;
  policy?: ValidationPolicy | undefined;
  durations: BatchRunReport['durationsMs'];
}

/**
 * Computes a day in one function: every export into one table, validated, deduplicated and modelled by the shared
 * SQL (the fan-out computes the same tables from its workers' parts: fan-out.ts).
 */
async function computeInOneFunction(
  connection: DuckDBConnection,
  ctx: DayContext,
  deps: CoreDeps,
): Promise<DayComputation> {
  const { ds, day, files } = ctx;
  const t0 = performance.now();
  if (ds.neighbourDays > 0) await loadNeighbours(connection, deps, ds, day, ctx.neighbourFiles, ctx.policy);
  await createRawTable(connection, ds);
  const missingColumns: Record<string, string[]> = {};
  const unreadableFiles: Record<string, string> = {};
  for (const file of files) {
    const local = await deps.store.localPath(file);
    const problems = await appendExportFile(connection, local, file.format, file.key, ds);
    missingColumns[file.key] = problems.missingColumns;
    if (problems.unreadable) unreadableFiles[file.key] = problems.unreadable;
  }
  ctx.durations.load = performance.now() - t0;
  const counts = await buildDatasetViews(connection, {
    daily: true,
    expectedDay: day,
    dataset: ds,
    timeZone: ctx.timeZone,
    ...(ctx.policy ? { policy: ctx.policy } : {}),
  });
  const validated = `validated_${ds.name}`;
  return {
    counts,
    missingColumns,
    unreadableFiles,
    topReasons: counts.quarantined > 0 ? await topRejectReasons(connection, 5, validated) : [],
    writeQuarantine: (localPath) => copyQuarantine(connection, localPath, ctx.started, 'true', validated),
  };
}

/**
 * Runs the batch layer for one day: read its exports, validate, gate, aggregate with the shared SQL, write the
 * views under a deterministic version, and only then publish the day. A failed fatal gate publishes nothing
 * and throws `QualityGateError` (after storing the failed run's report).
 */
export function runBatchDay(
  input: { day: string; thresholds?: Partial<GateThresholds>; policy?: ValidationPolicy; dataset?: string },
  deps: CoreDeps,
): Promise<BatchRunReport> {
  return runDay(input, deps, (connection, ctx) => computeInOneFunction(connection, ctx, deps));
}

/**
 * One batch run of a day, whoever computes it: the inputs and version, the run report, the gates, the quarantine,
 * the views under the version, the publish, the day's state and the balances' closes. `compute` fills the
 * connection's tables (one function, or the fan-out's merge); `expectedVersion` makes a run fail rather than
 * publish when the day's inputs changed since it was planned.
 */
export async function runDay(
  input: {
    day: string;
    thresholds?: Partial<GateThresholds>;
    policy?: ValidationPolicy;
    dataset?: string;
    expectedVersion?: string;
    runId?: string;
    startedAt?: Date;
  },
  deps: CoreDeps,
  compute: (connection: DuckDBConnection, ctx: DayContext) => Promise<DayComputation>,
): Promise<BatchRunReport> {
  const day = parseDay(input.day);
  const ds = dataset(input.dataset ?? 'orders');
  const thresholds = gateThresholds(input.thresholds);
  const { store, clock, log } = deps;
  const started = input.startedAt ?? clock();
  const t0 = performance.now();
  const runId = input.runId ?? newRunId(started);
  // A dataset whose models read the neighbouring days (sessions across midnight) validates their exports too, so
  // the day's views follow from its own and its neighbours' exports: a neighbour's new export is a new version.
  const { files, neighbourFiles, version } = await dayInputs(store, day, ds.name);
  const { index } = await readPublished(store, ds.name);
  const timeZone = deps.timeZone ?? UTC;
  assertIndexTimeZone(index, timeZone);
  const trailingOrders = Array.from(
    { length: 7 },
    (_, i) => index.days[addDays(day, -(i + 1))]?.orders,
  ).filter((orders): orders is number => orders !== undefined);
  const workDir = await mkdtemp(path.join(os.tmpdir(), `twinflow-batch-${day}-`));
  const durations = { load: 0, transform: 0, write: 0, publish: 0, total: 0 };
  const report: BatchRunReport = {
    day,
    runId,
    status: 'failed',
    version,
    startedAt: started.toISOString(),
    finishedAt: '',
    inputs: files.map(({ key, etag, size, format }) => ({ key, etag, size, format })),
    counts: EMPTY_COUNTS,
    revenue_by_currency: {},
    gates: [],
    cross_day_duplicates: {},
    durationsMs: durations,
    quarantineKey: null,
    topReasons: [],
  };
  log.info('batch day started', { day, runId, version, files: files.length });
  try {
    if (input.expectedVersion !== undefined && input.expectedVersion !== version) {
      throw new LandingChangedError(ds.name, day, input.expectedVersion, version);
    }
    await withConnection(async (connection) => {
      const computed = await compute(connection, {
        day,
        ds,
        timeZone,
        files,
        neighbourFiles,
        version,
        started,
        policy: input.policy,
        durations,
      });
      const { counts } = computed;
      const revenueRows = await dayMoney(connection, ds);
      report.counts = counts;
      report.revenue_by_currency = Object.fromEntries(
        revenueRows.map((row) => [String(row['currency']), String(row['revenue'])]),
      );
      report.topReasons = computed.topReasons;
      durations.transform = performance.now() - t0 - durations.load;
      report.cross_day_duplicates = await crossDayDuplicates(connection, deps, index, day, ds);
      report.gates = evaluateGates(
        {
          day,
          dataset: ds.name,
          key: ds.key,
          counts,
          missingColumns: computed.missingColumns,
          unreadableFiles: computed.unreadableFiles,
          trailingOrders,
          crossDayDuplicates: report.cross_day_duplicates,
          newestLandingAt: files.length
            ? new Date(Math.max(...files.map((f) => f.lastModified.getTime())))
            : undefined,
          topReasons: report.topReasons,
          timeZone,
        },
        thresholds,
      );

      const tWrite = performance.now();
      // Kept whether or not the day publishes: when a gate fails because records are invalid, these are the
      // records an operator has to look at.
      const quarantinePath = path.join(workDir, 'quarantine.jsonl');
      if ((await computed.writeQuarantine(quarantinePath)) > 0) {
        report.quarantineKey = lake.quarantine(day, `batch-${version}`, ds.name);
        await store.putFile(report.quarantineKey, quarantinePath);
      }
      const failed = failedFatalGates(report.gates);
      if (failed.length > 0) throw new QualityGateError(day, failed);

      const views = batchViewSelects(ds);
      const viewKeys: Record<BatchView, string> = {};
      for (const [view, select] of Object.entries(views)) {
        const localFile = path.join(workDir, `${view}.parquet`);
        await copyToParquet(connection, select, localFile);
        viewKeys[view] = lake.batchView(view, day, version);
        await store.putFile(viewKeys[view], localFile);
      }
      durations.write = performance.now() - tWrite;

      const tPublish = performance.now();
      const entry: PublishedDay = {
        day,
        version,
        runId,
        publishedAt: clock().toISOString(),
        orders: counts.orders,
        revenue_by_currency: report.revenue_by_currency,
        files: viewKeys,
      };
      await publishDay(store, entry, clock(), timeZone, ds.name);
      report.status = 'published';
      await putJson(store, lake.batchDayState(day, ds.name), {
        day,
        version,
        runId,
        completedAt: clock().toISOString(),
      } satisfies BatchDayState);
      durations.publish = performance.now() - tPublish;
    });
    await removeSupersededViews(deps, day, version, Object.keys(batchViewSelects(ds)));
    // A day of counts: each compared with the book level at its instant (the count is the opening from then on).
    // Either side of a balance: the close of its newest published movement day is written again (levels open there).
    for (const balance of listBalances().filter(
      (b) => b.dataset === ds.name || b.opening.dataset === ds.name,
    )) {
      try {
        const found =
          balance.opening.dataset === ds.name ? await recordDiscrepanciesFrom(balance, day, deps) : undefined;
        if (found) {
          report.discrepancies = {
            ...report.discrepancies,
            [balance.name]: {
              counts: found.counts,
              mismatched: found.mismatched,
              net: found.net_discrepancy,
            },
          };
        }
        const newest = publishedDays((await readPublished(store, balance.dataset)).index).at(-1);
        if (newest) await recordBatchClose(balance, newest, deps);
      } catch (error) {
        // The day is published either way; the next run writes them (levels ignore a stale close).
        log.error('could not record count discrepancies or the batch close', {
          day,
          balance: balance.name,
          error: (error as Error).message,
        });
      }
    }
    return report;
  } catch (error) {
    report.error = (error as Error).message;
    log.error('batch day failed', { day, runId, error: report.error });
    throw error;
  } finally {
    durations.total = performance.now() - t0;
    report.finishedAt = clock().toISOString();
    await putJson(store, lake.batchRunReport(day, runId, ds.name), report).catch((error: Error) =>
      log.error('could not store run report', { day, runId, error: error.message }),
    );
    await rm(workDir, { recursive: true, force: true });
    if (report.status === 'published') {
      log.info('batch day published', { day, runId, version, counts: report.counts, durationsMs: durations });
    }
  }
}

/**
 * `<facts>_neighbours` from the neighbouring days' exports: validated and deduplicated by the same models (their own
 * runs quarantine and gate them; here they are context only).
 */
export async function loadNeighbours(
  connection: DuckDBConnection,
  deps: CoreDeps,
  ds: Dataset,
  day: string,
  files: readonly LandingFile[],
  policy: ValidationPolicy | undefined,
): Promise<void> {
  if (files.length === 0) {
    await createNeighbourFacts(connection, ds);
    return;
  }
  await createRawTable(connection, ds);
  for (const file of files) {
    await appendExportFile(connection, await deps.store.localPath(file), file.format, file.key, ds);
  }
  await validateRawTable(connection, policy, deps.timeZone ?? UTC, ds);
  await materialize(connection, ds.facts);
  await createNeighbourFacts(
    connection,
    ds,
    `select * from ${ds.facts} where reporting_day in (date '${addDays(day, -1)}', date '${addDays(day, 1)}')`,
  );
}

/** Whether a declared balance reads this dataset's events: its movements, or its openings. */
function readByBalances(ds: Dataset): boolean {
  return listBalances().some((b) => b.dataset === ds.name || b.opening.dataset === ds.name);
}

/**
 * The views a batch day publishes: the dataset's facts (reconciliation names missing events from them) and each
 * declared model, ordered for compact files.
 */
function batchViewSelects(ds: Dataset): Record<BatchView, string> {
  // The key and the event time are what reconciliation and the cross-day check read from the facts; a dataset a
  // balance reads (its movements, or its openings) keeps every field, for levels exact to the event.
  const columns = readByBalances(ds) ? archiveColumns(ds) : [...ds.key, ds.eventTime].join(', ');
  const views: Record<BatchView, string> = {
    [ds.facts]: `select ${columns} from ${ds.facts} order by ${ds.eventTime}`,
  };
  for (const model of ds.models) {
    const time = model.grain === 'day' ? [] : ['window_start'];
    views[model.name] = `select * from ${model.name} order by ${[...time, ...model.dimensions].join(', ')}`;
  }
  return views;
}

/**
 * The day's money per currency for the run report and the publish index: the first money measure of the first day
 * rollup (orders: `daily_sales.revenue`); none when the dataset has no money.
 */
async function dayMoney(connection: DuckDBConnection, ds: Dataset): Promise<Record<string, unknown>[]> {
  for (const model of ds.models.filter((m) => m.grain === 'day')) {
    const money = Object.entries(model.measures).find(([, m]) => m.kind === 'money');
    if (!money) continue;
    const [measure, declaration] = money;
    const currency = declaration.kind === 'money' ? declaration.currency : 'currency';
    return (
      await connection.runAndReadAll(
        `select ${currency} as currency, sum(${measure})::decimal(38, 2)::varchar as revenue
         from ${model.name} group by all order by 1`,
      )
    ).getRowObjectsJson();
  }
  return [];
}

/** Counts this day's facts whose key the published day before or after also counts. */
async function crossDayDuplicates(
  connection: DuckDBConnection,
  { store }: CoreDeps,
  index: PublishedIndex,
  day: string,
  ds: Dataset,
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const key = ds.key.join(', ');
  for (const neighbour of [addDays(day, -1), addDays(day, 1)]) {
    const file = index.days[neighbour]?.files[ds.facts];
    const info = file ? await store.head(file) : undefined;
    if (!info) continue;
    const local = await store.localPath(info);
    const reader = await connection.runAndReadAll(
      `select count(*)::integer as n from ${ds.facts}
       where (${key}) in (select (${key}) from read_parquet(${sqlPath(local)}))`,
    );
    const n = Number(reader.getRowObjectsJson()[0]?.['n'] ?? 0);
    if (n > 0) counts[neighbour] = n;
  }
  return counts;
}

/** Deletes a day's view files from other versions once they are older than the grace period. */
async function removeSupersededViews(
  { store, clock }: CoreDeps,
  day: string,
  current: string,
  views: readonly BatchView[],
): Promise<void> {
  const cutoff = clock().getTime() - SUPERSEDED_GRACE_MS;
  const listed = await Promise.all(views.map((view) => store.list(lake.batchViewPrefix(view, day))));
  const stale = listed
    .flat()
    .filter((info) => !info.key.endsWith(`/${current}.parquet`) && info.lastModified.getTime() < cutoff);
  if (stale.length > 0) await store.delete(stale.map((info) => info.key));
}

/** The state of a day's last successful run, if any. */
export async function batchDayState(
  deps: Pick<CoreDeps, 'store'>,
  day: string,
  datasetName = 'orders',
): Promise<BatchDayState | undefined> {
  return (await getJson<BatchDayState>(deps.store, lake.batchDayState(day, datasetName)))?.value;
}
