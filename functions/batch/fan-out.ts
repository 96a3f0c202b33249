import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import pLimit from 'p-limit';
import {
  copyQuarantine,
  copyToParquet,
  createNeighbourFacts,
  type RecordCounts,
  topRejectReasons,
  validateRecords,
} from '../pipeline/dataset-views.ts';
import { type Dataset, dataset } from '../pipeline/datasets.ts';
import { parseDay, UTC } from '../pipeline/dates.ts';
import { sqlPath, sqlPathList, withConnection, withMemoryLimit } from '../pipeline/duckdb-session.ts';
import { InvalidInputError } from '../pipeline/errors.ts';
import { runId as newRunId } from '../pipeline/ids.ts';
import { lake } from '../pipeline/lake-layout.ts';
import { getJson, type ObjectStore, putJson } from '../pipeline/object-store.ts';
import type { CoreDeps } from '../pipeline/ports.ts';
import { appendExportFile, createRawTable, type ExportFormat } from '../pipeline/record-sources.ts';
import { materialize } from '../pipeline/sql-models.ts';
import { createPolicyTables, type ValidationPolicy } from '../pipeline/validation-policy.ts';
import { fieldSqlType } from '../pipeline/validation-sql.ts';
import { dayInputs } from './landing-files.ts';
import type { GateThresholds } from './quality-gates.ts';
import {
  type BatchRunReport,
  type DayComputation,
  type DayContext,
  loadNeighbours,
  runDay,
} from './run-batch-day.ts';

/**
 * A batch day fanned out over many functions (the Step Functions state machine of lib/constructs/batch-fan-out.ts):
 *
 * 1. plan: a day whose exports reach the threshold is fanned out; the item list (one per export file) goes to the
 *    lake for the Map's ItemReader. A smaller day keeps the one-function path (`runBatchDay`).
 * 2. map, per export file: load and validate it with the shared SQL (a rejected row's ref is its file and row, as in
 *    one function); its rejected rows to a quarantine part, its valid rows split by a hash of the dataset's key into
 *    buckets, so every copy of a key lands in one bucket.
 * 3. reduce, per bucket: the dedup rule (the facts model) over the bucket's valid rows, then each additive model
 *    (a minute model the speed layer computes per micro-batch: its rows over disjoint facts add up) per bucket.
 * 4. merge: the buckets' facts side by side are the day's facts (a view of the parts, streamed, never a table); the
 *    additive models' rows are summed per window and dimensions; every other model (sessions, distinct counts, day
 *    rollups) is computed from the merged facts, where each key lives once. Then the one-function run's publish step
 *    (`runDay`): gates, quarantine, views, index.
 *
 * Parts live under `lake.fanOutRoot(day, version)`: the same inputs are the same version, so a re-run resumes —
 * a map or reduce whose summary exists for its input is not done again.
 */

/** A day's run across the fan-out: the same on every item. */
export interface FanOutJob {
  dataset: string;
  day: string;
  /** The version of the day's inputs when planned; the merge fails rather than publish another one. */
  version: string;
  runId: string;
  startedAt: string;
  buckets: number;
}

export interface FanOutFile {
  index: number;
  key: string;
  etag: string;
  size: number;
  format: ExportFormat;
}

/** One item of the map: an export file of the day. */
export interface MapItem {
  job: FanOutJob;
  file: FanOutFile;
}

/** One item of the reduce: a key bucket of the day. */
export interface ReduceItem {
  job: FanOutJob;
  bucket: number;
}

export interface FanOutPlan {
  /** `single`: under the threshold, the day runs in one function. */
  mode: 'fan-out' | 'single';
  dataset: string;
  day: string;
  files: number;
  bytes: number;
  thresholdBytes: number;
  job?: FanOutJob;
  /** Where the map's items are (the Map state's ItemReader reads this key of the lake bucket). */
  itemsKey?: string;
  reduceItems?: ReduceItem[];
}

/** What a map worker found in its file. */
export interface MapSummary {
  key: string;
  etag: string;
  received: number;
  valid: number;
  missingColumns: string[];
  unreadable?: string;
  /** Every reason records were rejected for, with how many gave it. */
  reasons: Record<string, number>;
  /** Valid rows per bucket. */
  bucketRows: Record<string, number>;
  quarantined: number;
}

/** What a reduce worker computed for its bucket. */
export interface ReduceSummary {
  bucket: number;
  /** Valid rows read (copies included) and distinct keys kept (the facts). */
  valid: number;
  facts: number;
  models: string[];
}

/** The default number of key buckets: enough reducers to share a day, few enough parts per merge. */
export const DEFAULT_BUCKETS = 16;

const pad = (n: number) => String(n).padStart(5, '0');

const parts = (job: Pick<FanOutJob, 'dataset' | 'day' | 'version'>) => {
  const root = lake.fanOutRoot(job.day, job.version, job.dataset);
  return {
    root,
    items: `${root}items.json`,
    mapSummary: (index: number) => `${root}map/${pad(index)}.json`,
    validPrefix: (bucket: number) => `${root}valid/bucket=${pad(bucket)}/`,
    validPart: (bucket: number, index: number) => `${root}valid/bucket=${pad(bucket)}/${pad(index)}.parquet`,
    quarantinePart: (index: number) => `${root}quarantine/${pad(index)}.jsonl`,
    reduceSummary: (bucket: number) => `${root}reduce/${pad(bucket)}.json`,
    factsPart: (bucket: number) => `${root}facts/${pad(bucket)}.parquet`,
    modelPart: (model: string, bucket: number) => `${root}models/${model}/${pad(bucket)}.parquet`,
  };
};

/**
 * A minute model whose rows over disjoint sets of facts add up to its rows over their union: the speed layer
 * already sums it across micro-batches (`realtime: micro-batch`) and its measures are counts, sums or money.
 */
export function isAdditive(ds: Dataset, modelName: string): boolean {
  const model = ds.models.find((m) => m.name === modelName);
  return (
    model !== undefined &&
    model.grain === 'minute' &&
    model.realtime === 'micro-batch' &&
    Object.values(model.measures).every((m) => m.kind === 'count' || m.kind === 'sum' || m.kind === 'money')
  );
}

async function withWorkDir<T>(name: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `twinflow-fan-out-${name}-`));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Plans a day: `fan-out` when its exports hold at least `thresholdBytes` (the item list is written for the Map),
 * else `single`. The job's version pins the inputs the workers read.
 */
export async function planFanOut(
  input: { day: string; dataset?: string; thresholdBytes: number; buckets?: number },
  deps: CoreDeps,
): Promise<FanOutPlan> {
  const day = parseDay(input.day);
  const ds = dataset(input.dataset ?? 'orders');
  const buckets = input.buckets ?? DEFAULT_BUCKETS;
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > 1024) {
    throw new InvalidInputError(`buckets must be a whole number from 1 to 1024, not ${buckets}`, 'buckets');
  }
  const { files, version } = await dayInputs(deps.store, day, ds.name);
  const bytes = files.reduce((n, f) => n + f.size, 0);
  const base = { dataset: ds.name, day, files: files.length, bytes, thresholdBytes: input.thresholdBytes };
  if (files.length === 0 || bytes < input.thresholdBytes) return { mode: 'single', ...base };
  const started = deps.clock();
  const job: FanOutJob = {
    dataset: ds.name,
    day,
    version,
    runId: newRunId(started),
    startedAt: started.toISOString(),
    buckets,
  };
  const items: MapItem[] = files.map((f, index) => ({
    job,
    file: { index, key: f.key, etag: f.etag, size: f.size, format: f.format },
  }));
  const { items: itemsKey } = parts(job);
  await putJson(deps.store, itemsKey, items);
  deps.log.info('batch day fanned out', { ...base, version, buckets });
  return {
    mode: 'fan-out',
    ...base,
    job,
    itemsKey,
    reduceItems: Array.from({ length: buckets }, (_, bucket) => ({ job, bucket })),
  };
}

/** The summary a part's worker stored for this input, if a previous attempt finished it. */
async function doneBefore<T>(store: ObjectStore, key: string, matches: (value: T) => boolean) {
  const found = (await getJson<T>(store, key))?.value;
  return found !== undefined && matches(found) ? found : undefined;
}

/** The map: one export file loaded, validated, its rejected rows kept and its valid rows split into buckets. */
export async function mapFile(item: MapItem, deps: CoreDeps, policy?: ValidationPolicy): Promise<MapSummary> {
  const { job, file } = item;
  const ds = dataset(job.dataset);
  const at = parts(job);
  const summaryKey = at.mapSummary(file.index);
  const done = await doneBefore<MapSummary>(deps.store, summaryKey, (s) => s.etag === file.etag);
  if (done) return done;
  const info = await deps.store.head(file.key);
  if (!info || info.etag !== file.etag) {
    throw new InvalidInputError(
      `${file.key} changed or vanished since the day was planned (ETag ${file.etag}); run the day again`,
      'file',
    );
  }
  const local = await deps.store.localPath(info);
  return withWorkDir(`map-${file.index}`, (dir) =>
    withConnection(async (connection) => {
      await createRawTable(connection, ds);
      const problems = await appendExportFile(connection, local, file.format, file.key, ds);
      await validateRecords(connection, {
        expectedDay: job.day,
        policy,
        timeZone: deps.timeZone ?? UTC,
        dataset: ds,
      });
      const validated = `validated_${ds.name}`;
      const [counts] = (
        await connection.runAndReadAll(
          `select count(*)::integer as received, count(*) filter (where is_valid)::integer as valid from ${validated}`,
        )
      ).getRowObjectsJson() as { received: number; valid: number }[];
      // Every reason (not only the top 5): the merge adds them up across files before it ranks them.
      const reasons = await topRejectReasons(connection, Number.MAX_SAFE_INTEGER, validated);
      const quarantinePath = path.join(dir, 'quarantine.jsonl');
      const startedAt = new Date(job.startedAt);
      const quarantined = await copyQuarantine(connection, quarantinePath, startedAt, 'true', validated);
      if (quarantined > 0) await deps.store.putFile(at.quarantinePart(file.index), quarantinePath);
      const bucketDir = path.join(dir, 'buckets');
      const columns = [...Object.keys(ds.fields), 'reporting_day'].join(', ');
      const bucketOf = `(hash(${ds.key.join(', ')}) % ${job.buckets})::integer`;
      await connection.run(
        `copy (
           select ${columns}, ${bucketOf} as bucket from ${validated} where is_valid
         ) to ${sqlPath(bucketDir)} (format parquet, compression zstd, partition_by (bucket))`,
      );
      const bucketRows = Object.fromEntries(
        (
          await connection.runAndReadAll(
            `select ${bucketOf} as bucket, count(*)::integer as n
             from ${validated} where is_valid group by all order by 1`,
          )
        )
          .getRowObjectsJson()
          .map((r) => [String(r['bucket']), Number(r['n'])]),
      );
      for (const bucket of Object.keys(bucketRows)) {
        const folder = path.join(bucketDir, `bucket=${bucket}`);
        const written = (await readdir(folder)).filter((f) => f.endsWith('.parquet'));
        if (written.length !== 1)
          throw new Error(`expected one Parquet file in ${folder}, found ${written.length}`);
        await deps.store.putFile(
          at.validPart(Number(bucket), file.index),
          path.join(folder, written[0] as string),
        );
      }
      const summary: MapSummary = {
        key: file.key,
        etag: file.etag,
        received: counts?.received ?? 0,
        valid: counts?.valid ?? 0,
        missingColumns: problems.missingColumns,
        ...(problems.unreadable ? { unreadable: problems.unreadable } : {}),
        reasons: Object.fromEntries(reasons.map((r) => [r.reason, r.count])),
        bucketRows,
        quarantined,
      };
      await putJson(deps.store, summaryKey, summary);
      return summary;
    }),
  );
}

/** The reduce: the dedup rule over one bucket's valid rows, then the additive models per bucket. */
export async function reduceBucket(
  item: ReduceItem,
  deps: CoreDeps,
  policy?: ValidationPolicy,
): Promise<ReduceSummary> {
  const { job, bucket } = item;
  const ds = dataset(job.dataset);
  const at = parts(job);
  const summaryKey = at.reduceSummary(bucket);
  const done = await doneBefore<ReduceSummary>(deps.store, summaryKey, (s) => s.bucket === bucket);
  if (done) return done;
  const inputs = await deps.store.list(at.validPrefix(bucket));
  const locals = await Promise.all(inputs.map((info) => deps.store.localPath(info)));
  const additive = ds.models.filter((m) => isAdditive(ds, m.name)).map((m) => m.name);
  const summary = await withWorkDir(`reduce-${bucket}`, (dir) =>
    withConnection(async (connection) => {
      if (locals.length === 0) return { bucket, valid: 0, facts: 0, models: [] };
      await connection.run(
        `create temp table validated_${ds.name} as
         select *, true as is_valid from read_parquet(${sqlPathList(locals)}, hive_partitioning = false)`,
      );
      await createPolicyTables(connection, policy, deps.timeZone ?? UTC);
      await materialize(connection, ds.facts);
      const factsPath = path.join(dir, 'facts.parquet');
      await copyToParquet(connection, `select * from ${ds.facts}`, factsPath);
      await deps.store.putFile(at.factsPart(bucket), factsPath);
      for (const model of additive) {
        await materialize(connection, model);
        const modelPath = path.join(dir, `${model}.parquet`);
        await copyToParquet(connection, `select * from ${model}`, modelPath);
        await deps.store.putFile(at.modelPart(model, bucket), modelPath);
      }
      const [row] = (
        await connection.runAndReadAll(
          `select (select count(*) from validated_${ds.name})::integer as valid,
                  (select count(*) from ${ds.facts})::integer as facts`,
        )
      ).getRowObjectsJson() as { valid: number; facts: number }[];
      return { bucket, valid: row?.valid ?? 0, facts: row?.facts ?? 0, models: additive };
    }),
  );
  await putJson(deps.store, summaryKey, summary);
  return summary;
}

/**
 * The merge: the buckets' parts into the day's facts and models, then the one-function run's publish step. Every
 * planned file must have its map summary and every bucket its reduce summary (a missing one names the part).
 */
export async function mergeDay(
  input: {
    job: FanOutJob;
    thresholds?: Partial<GateThresholds>;
    policy?: ValidationPolicy;
    /** DuckDB's memory limit for the merge (default DuckDB's own: 80 % of the function's memory). */
    memoryLimitMb?: number;
  },
  deps: CoreDeps,
): Promise<BatchRunReport> {
  const { job } = input;
  return withMemoryLimit(input.memoryLimitMb, () =>
    runDay(
      {
        day: job.day,
        dataset: job.dataset,
        expectedVersion: job.version,
        runId: job.runId,
        startedAt: new Date(job.startedAt),
        ...(input.thresholds ? { thresholds: input.thresholds } : {}),
        ...(input.policy ? { policy: input.policy } : {}),
      },
      deps,
      (connection, ctx) => mergeParts(connection, ctx, job, deps),
    ),
  );
}

async function mergeParts(
  connection: DuckDBConnection,
  ctx: DayContext,
  job: FanOutJob,
  deps: CoreDeps,
): Promise<DayComputation> {
  const { ds } = ctx;
  const { store } = deps;
  const at = parts(job);
  const t0 = performance.now();
  const limit = pLimit(16);
  const maps = await Promise.all(
    ctx.files.map((file, index) =>
      limit(async () => {
        const summary = (await getJson<MapSummary>(store, at.mapSummary(index)))?.value;
        if (!summary || summary.key !== file.key || summary.etag !== file.etag) {
          throw new Error(
            `${job.dataset} ${job.day}: the map of ${file.key} (item ${index}) has not finished`,
          );
        }
        return summary;
      }),
    ),
  );
  const reduces = await Promise.all(
    Array.from({ length: job.buckets }, (_, bucket) =>
      limit(async () => {
        const summary = (await getJson<ReduceSummary>(store, at.reduceSummary(bucket)))?.value;
        if (!summary)
          throw new Error(`${job.dataset} ${job.day}: the reduce of bucket ${bucket} has not finished`);
        return summary;
      }),
    ),
  );
  const localsOf = async (keys: string[]) =>
    Promise.all(
      keys.map(async (key) => {
        const info = await store.head(key);
        if (!info) throw new Error(`${job.dataset} ${job.day}: part ${key} is missing`);
        return store.localPath(info);
      }),
    );
  const withFacts = reduces.filter((r) => r.facts > 0);
  const factsParts = await localsOf(withFacts.map((r) => at.factsPart(r.bucket)));
  // The neighbours first (they load through the day's tables, which are then dropped).
  if (ds.neighbourDays > 0) {
    await loadNeighbours(connection, deps, ds, job.day, ctx.neighbourFiles, ctx.policy);
  } else {
    await createNeighbourFacts(connection, ds);
  }
  for (const table of [ds.facts, `validated_${ds.name}`, `raw_${ds.name}`]) {
    await connection.run(`drop table if exists ${table}`);
  }
  await createFactsView(connection, ds, factsParts);
  await createPolicyTables(connection, ctx.policy, ctx.timeZone);
  ctx.durations.load = performance.now() - t0;
  for (const model of ds.models.filter((m) => m.grain === 'minute')) {
    const modelParts = isAdditive(ds, model.name)
      ? await localsOf(withFacts.map((r) => at.modelPart(model.name, r.bucket)))
      : [];
    if (modelParts.length === 0) {
      // Not additive (or no rows at all): the model over the day's merged facts, as in one function.
      await materialize(connection, model.name);
      continue;
    }
    await sumParts(connection, model.name, Object.keys(model.measures), modelParts);
  }
  for (const model of ds.models.filter((m) => m.grain === 'day')) await materialize(connection, model.name);

  const received = maps.reduce((n, m) => n + m.received, 0);
  const valid = maps.reduce((n, m) => n + m.valid, 0);
  const orders = reduces.reduce((n, r) => n + r.facts, 0);
  const counts: RecordCounts = {
    received,
    valid,
    quarantined: received - valid,
    duplicates: valid - orders,
    orders,
  };
  const reasons = new Map<string, number>();
  for (const m of maps)
    for (const [reason, n] of Object.entries(m.reasons)) reasons.set(reason, (reasons.get(reason) ?? 0) + n);
  const topReasons = [...reasons]
    .map(([reason, count]) => ({ reason, count }))
    .sort((a, b) => b.count - a.count || (a.reason < b.reason ? -1 : a.reason > b.reason ? 1 : 0))
    .slice(0, 5);
  const quarantineParts = maps.flatMap((m, index) => (m.quarantined > 0 ? [at.quarantinePart(index)] : []));
  return {
    counts,
    missingColumns: Object.fromEntries(maps.map((m) => [m.key, m.missingColumns])),
    unreadableFiles: Object.fromEntries(maps.flatMap((m) => (m.unreadable ? [[m.key, m.unreadable]] : []))),
    topReasons,
    writeQuarantine: async (localPath) => {
      if (quarantineParts.length === 0) return 0;
      const locals = await localsOf(quarantineParts);
      await connection.run(
        `copy (
           select * from read_json(${sqlPathList(locals)}, format = 'newline_delimited', hive_partitioning = false, columns = {
             record_ref: 'varchar', source: 'varchar', reasons: 'varchar[]', raw: 'varchar', quarantined_at: 'varchar'
           }) order by record_ref
         ) to ${sqlPath(localPath)} (format json)`,
      );
      return counts.quarantined;
    },
  };
}

/**
 * `<facts>` as a view of the buckets' facts parts (disjoint by key: each key's copies were deduplicated in its one
 * bucket), never a table: every reader (the facts view's file, the models computed from the facts, the cross-day
 * check) streams the parts, and what it has to hold (a sort, a window's partitions, an aggregate's groups) is DuckDB's
 * to spill under its memory limit, so the merge's memory does not grow with the day's facts. Columns and types are
 * the facts' own (those of `<facts>_neighbours`); with no parts the view is empty.
 */
async function createFactsView(
  connection: DuckDBConnection,
  ds: Dataset,
  factsParts: string[],
): Promise<void> {
  const columns = [
    ...Object.entries(ds.fields).map(([name, f]) => `${name}::${fieldSqlType(f)} as ${name}`),
    'reporting_day::date as reporting_day',
  ];
  const select =
    factsParts.length > 0
      ? `select ${columns.join(', ')} from read_parquet(${sqlPathList(factsParts)}, hive_partitioning = false)`
      : `select * from ${ds.facts}_neighbours where false`;
  await connection.run(`create or replace temp view ${ds.facts} as ${select}`);
}

/** `<model>` as the sum of its buckets' rows per window and dimensions, each measure keeping its column type. */
async function sumParts(
  connection: DuckDBConnection,
  model: string,
  measures: string[],
  locals: string[],
): Promise<void> {
  const relation = `read_parquet(${sqlPathList(locals)}, hive_partitioning = false)`;
  const columns = (await connection.runAndReadAll(`describe select * from ${relation}`))
    .getRowObjectsJson()
    .map((r) => ({ name: String(r['column_name']), type: String(r['column_type']) }));
  const select = columns.map(({ name, type }) =>
    measures.includes(name) ? `sum(${name})::${type} as ${name}` : name,
  );
  await connection.run(
    `create or replace temp table ${model} as select ${select.join(', ')} from ${relation} group by all`,
  );
}

/** Runs a planned day's whole fan-out in this process, `workers` items at a time (benchmarks, tests). */
export async function runFanOutInProcess(
  plan: FanOutPlan,
  deps: CoreDeps,
  options: {
    workers?: number;
    policy?: ValidationPolicy;
    thresholds?: Partial<GateThresholds>;
    memoryLimitMb?: number;
  } = {},
): Promise<BatchRunReport> {
  if (plan.mode !== 'fan-out' || !plan.job || !plan.itemsKey) {
    throw new InvalidInputError(`${plan.dataset} ${plan.day} is not fanned out (${plan.mode})`, 'plan');
  }
  const { job } = plan;
  const limit = pLimit(options.workers ?? 1);
  const items = (await getJson<MapItem[]>(deps.store, plan.itemsKey))?.value ?? [];
  await Promise.all(items.map((item) => limit(() => mapFile(item, deps, options.policy))));
  await Promise.all(
    (plan.reduceItems ?? []).map((item) => limit(() => reduceBucket(item, deps, options.policy))),
  );
  return mergeDay({ job, ...options }, deps);
}
