import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import pLimit from 'p-limit';
import { copyToParquet, createNeighbourFacts } from '../pipeline/dataset-views.ts';
import { type Dataset, dataset, isStreamed, measureSqlType, streamedDatasets } from '../pipeline/datasets.ts';
import { addDays, dayOf, parseDay } from '../pipeline/dates.ts';
import { sqlPathList, withConnection } from '../pipeline/duckdb-session.ts';
import { InvalidInputError, PreconditionFailedError } from '../pipeline/errors.ts';
import { shortHash } from '../pipeline/ids.ts';
import { lake, partitionOf } from '../pipeline/lake-layout.ts';
import { getJson, type ObjectInfo, putJson } from '../pipeline/object-store.ts';
import type { CoreDeps } from '../pipeline/ports.ts';
import {
  batchIdOfPartial,
  compactedOf,
  isCovered,
  isRolledUp,
  microBatchModelsOf,
  type RealtimeManifest,
  type RealtimeRollup,
  ROLLUP_PREFIX,
  realtimeViewsOf,
  rollupKeyOf,
} from '../pipeline/realtime-view.ts';
import { materialize } from '../pipeline/sql-models.ts';
import { archiveColumns } from './micro-batch.ts';

/** What compaction recorded about one event hour of the day. */
export interface HourCompactionStats {
  /** Valid records archived for the hour (every copy). */
  records: number;
  /** Events counted in the hour after the day's dedup (the earliest copy of each key wins). */
  orders: number;
}

/**
 * The manifest the speed layer writes: the serving layer's `RealtimeManifest` plus what the next compaction and
 * the clean-up need. A partial is deleted only once its coverage is older than the grace period, so a reader that
 * listed the day under the previous manifest still finds every file it planned to read.
 */
export interface StreamManifest extends RealtimeManifest {
  /** The day's deduplicated events so far (archive columns): the next compaction starts from it. */
  facts: string;
  /** The neighbouring days' facts files the models read (`neighbour_days`): a change re-compacts the day. */
  neighbours?: string[];
  /** Since when each `HH/batchId` is covered. */
  coveredSince: Record<string, string>;
  /**
   * Compacted and facts files this manifest's predecessors named, with when they were superseded. Only these are
   * ever deleted (after the grace period): a file no manifest retired may belong to a compaction still running.
   */
  retired?: Record<string, string>;
  /** Valid records read from the archives (events + duplicates). */
  archivedRecords: number;
  hours: Record<string, HourCompactionStats>;
}

export interface CompactionOptions {
  /** The run's logical time (`event.time` of the schedule). */
  now: Date;
  /** The datasets to compact (default: every declared dataset with a stream). */
  datasets?: readonly string[];
  /** Days to look at; default: the last `lookbackDays` days up to tomorrow (producer clocks run ahead). */
  days?: readonly string[];
  lookbackDays?: number;
  /** How long covered partials and superseded compacted files stay readable, ms (default 5 min). */
  graceMs?: number;
  /**
   * Compaction's tiers. A day whose last fold counted fewer events than this is folded whenever it has new data
   * (default 2,000,000); a larger day is folded once every `foldEveryMs` (default 10 min) and in between only
   * rolled up, at a cost that follows the new partials instead of the day (`rollUpDay`).
   */
  rollUpAboveEvents?: number;
  foldEveryMs?: number;
}

export const DEFAULT_ROLL_UP_ABOVE_EVENTS = 2_000_000;
export const DEFAULT_FOLD_EVERY_MS = 10 * 60_000;

export interface DayCompaction {
  dataset: string;
  day: string;
  /** `rolled-up`: the cheap tier ran (the new partials summed into their hours' roll-ups), not the fold. */
  status: 'compacted' | 'rolled-up' | 'lost-race' | 'empty';
  compacted: string | null;
  /** Archive files (hour × micro-batch) the compacted view covers. */
  batches: number;
  /** Archive files read by this run (all of them for a full recompute, the new ones otherwise). */
  read: number;
  orders: number;
  duplicates: number;
}

export interface CompactionResult {
  days: DayCompaction[];
  deleted: string[];
  durationMs: number;
}

export const DEFAULT_COMPACTION_GRACE_MS = 5 * 60_000;
const DOWNLOAD_CONCURRENCY = 16;
/**
 * `retired` and `coveredSince` entries are kept this long; the clean-up (every run, after the grace period) has
 * deleted their files long before. Forgetting one later only leaves garbage no reader sees, never a wrong count.
 */
const MEMORY_MS = 60 * 60 * 1000;

/** An archive file, with the hour and micro-batch it holds. */
interface Archive {
  info: ObjectInfo;
  hh: string;
  batchId: string;
}

function archivesOf(objects: readonly ObjectInfo[]): Archive[] {
  return objects
    .map((info) => ({
      info,
      hh: partitionOf(info.key).hour,
      batchId: /\/([A-Za-z0-9._-]+)\.parquet$/.exec(info.key)?.[1],
    }))
    .filter((a): a is Archive => a.hh !== undefined && a.batchId !== undefined)
    .sort((a, b) => (a.info.key < b.info.key ? -1 : 1));
}

/**
 * Loads the previous facts and the new archives as `validated_<dataset>` and runs the shared facts (the dedup rule:
 * per day, the earliest copy wins) and minute models. The earliest-copy rule is a minimum, so starting from the
 * previous facts gives exactly what all archives would.
 */
async function computeDay(
  connection: DuckDBConnection,
  ds: Dataset,
  input: {
    day: string;
    factsPath: string | undefined;
    archivePaths: string[];
    workDir: string;
    /** The neighbouring days' compacted facts (`neighbour_days`), by day. */
    neighbours: { day: string; path: string }[];
  },
): Promise<{ newRecordsByHour: Map<string, number>; ordersByHour: Map<string, number>; orders: number }> {
  const columns = archiveColumns(ds);
  const sources = [
    ...(input.factsPath
      ? [`select ${columns}, false as is_new from read_parquet(${sqlPathList([input.factsPath])})`]
      : []),
    ...(input.archivePaths.length > 0
      ? [`select ${columns}, true as is_new from read_parquet(${sqlPathList(input.archivePaths)})`]
      : []),
  ];
  const validated = `validated_${ds.name}`;
  // Every file of the day's partition holds that reporting day's events (the consumer wrote them there).
  await connection.run(
    `create or replace temp table ${validated} as
     select *, true as is_valid, $day::date as reporting_day from (${sources.join(' union all ')})`,
    { day: input.day },
  );
  await materialize(connection, ds.facts);
  if (ds.neighbourDays > 0) {
    const selects = input.neighbours.map(
      (n) =>
        `select ${columns}, date '${parseDay(n.day)}' as reporting_day from read_parquet(${sqlPathList([n.path])})`,
    );
    await createNeighbourFacts(connection, ds, selects.length > 0 ? selects.join(' union all ') : undefined);
  }
  await copyToParquet(
    connection,
    `select ${columns} from ${ds.facts} order by ${[ds.eventTime, ...ds.key].join(', ')}`,
    path.join(input.workDir, 'facts.parquet'),
  );
  for (const model of ds.models.filter((m) => m.grain === 'minute')) {
    await materialize(connection, model.name);
    await copyToParquet(
      connection,
      `select * from ${model.name} order by ${['window_start', ...model.dimensions].join(', ')}`,
      path.join(input.workDir, `compacted-${model.name}.parquet`),
    );
  }
  const byHour = async (sql: string) =>
    new Map(
      (await connection.runAndReadAll(sql))
        .getRowObjectsJson()
        .map((row) => [String(row['hh']), Number(row['n'])] as const),
    );
  const hourOf = `strftime(${ds.eventTime}, '%H')`;
  const newRecordsByHour = await byHour(
    `select ${hourOf} as hh, count(*)::integer as n from ${validated} where is_new group by all`,
  );
  const ordersByHour = await byHour(
    `select ${hourOf} as hh, count(*)::integer as n from ${ds.facts} group by all`,
  );
  const orders = [...ordersByHour.values()].reduce((sum, n) => sum + n, 0);
  return { newRecordsByHour, ordersByHour, orders };
}

/**
 * The compacted facts of the days before and after `day` (for models that read `<facts>_neighbours`): what the speed
 * layer holds of them at this compaction. A session of `day` that continues into the next day is exact once that
 * day's facts were compacted before `day` was; batch (which reads the neighbours' exports) settles it.
 */
async function neighbourFactsKeys(
  { store }: CoreDeps,
  manifestModel: string,
  day: string,
): Promise<{ day: string; key: string }[]> {
  const found = [];
  for (const neighbour of [addDays(day, -1), addDays(day, 1)]) {
    const manifest = (await getJson<StreamManifest>(store, lake.realtimeManifest(neighbour, manifestModel)))
      ?.value;
    if (manifest) found.push({ day: neighbour, key: manifest.facts });
  }
  return found;
}

/** Whether a day must be compacted again because a neighbour's facts changed since (`neighbour_days` only). */
async function isNeighbourChanged(
  deps: CoreDeps,
  ds: Dataset,
  manifestModel: string,
  day: string,
  manifest: StreamManifest | undefined,
): Promise<boolean> {
  if (ds.neighbourDays === 0 || !manifest) return false;
  const now = (await neighbourFactsKeys(deps, manifestModel, day)).map((n) => n.key);
  return now.join('\0') !== (manifest.neighbours ?? []).join('\0');
}

/**
 * Since when each covered `HH/batchId` is covered: kept from the predecessor, `now` for what this run adds; entries
 * older than `MEMORY_MS` are dropped (their partials were deleted long before).
 */
function coveredSinceOf(
  previous: StreamManifest | undefined,
  coveredKeys: readonly string[],
  now: string,
): Record<string, string> {
  const since: Record<string, string> = {};
  for (const key of coveredKeys) {
    const [hh = '', batchId = ''] = key.split('/');
    const at = previous?.coveredSince?.[key] ?? (isCovered(previous, hh, batchId) ? undefined : now);
    if (at !== undefined && Date.parse(now) - Date.parse(at) < MEMORY_MS) since[key] = at;
  }
  return since;
}

/** Every roll-up file a manifest names. */
function rollupFiles(manifest: RealtimeManifest | undefined, day: string): string[] {
  return Object.entries(manifest?.rollups ?? {}).flatMap(([hh, rollup]) =>
    rollup.models.flatMap((model) => rollupKeyOf(manifest, day, hh, model) ?? []),
  );
}

/** The predecessor's retired files, plus the files this compaction replaces. */
function retiredFiles(
  previous: StreamManifest | undefined,
  current: string[],
  now: string,
  day: string,
): Record<string, string> {
  const retired: Record<string, string> = {};
  for (const [key, at] of Object.entries(previous?.retired ?? {})) {
    if (!current.includes(key) && Date.parse(now) - Date.parse(at) < MEMORY_MS) retired[key] = at;
  }
  for (const key of [
    previous?.compacted,
    ...Object.values(previous?.models ?? {}),
    previous?.facts,
    ...rollupFiles(previous, day),
  ]) {
    if (key && !current.includes(key)) retired[key] ??= now;
  }
  return retired;
}

/**
 * Compacts one reporting day of a dataset (default orders): the previous facts (unless `full`) plus every archive
 * the manifest does not cover, deduplicated over the whole day with the shared models, then one
 * `compacted-<id>.parquet` per minute model, then the manifest naming exactly what was read. Readers switch
 * atomically with the manifest. `full` recomputes the day from all its archives (reconciliation's repair).
 */
export async function compactDay(
  deps: CoreDeps,
  day: string,
  options: {
    dataset?: string;
    full?: boolean;
    archives?: readonly ObjectInfo[];
    /** The day's manifest as the caller just read it (with its ETag: the commit is conditional on it). */
    previous?: { value: StreamManifest; etag: string } | undefined;
  } = {},
): Promise<DayCompaction> {
  const { store, clock, log } = deps;
  parseDay(day);
  const ds = dataset(options.dataset ?? 'orders');
  const views = realtimeViewsOf(ds);
  const manifestKey = lake.realtimeManifest(day, views.manifestModel);
  const previous =
    'previous' in options ? options.previous : await getJson<StreamManifest>(store, manifestKey);
  const base = options.full ? undefined : previous?.value;
  const archives = archivesOf(
    options.archives ?? (await store.list(lake.streamArchivePrefix(day, undefined, ds.name))),
  );
  const toRead = archives.filter((a) => !isCovered(base, a.hh, a.batchId));
  const empty: DayCompaction = {
    dataset: ds.name,
    day,
    status: 'empty',
    compacted: null,
    batches: 0,
    read: 0,
    orders: 0,
    duplicates: 0,
  };
  if (archives.length === 0) return empty;
  const covered: Record<string, string[]> = {};
  for (const hh of Object.keys(base?.covered ?? {})) covered[hh] = [...(base?.covered[hh] ?? [])];
  for (const a of toRead) covered[a.hh] = [...(covered[a.hh] ?? []), a.batchId];
  for (const ids of Object.values(covered)) ids.sort();
  const coveredKeys = Object.entries(covered)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .flatMap(([hh, ids]) => ids.map((id) => `${hh}/${id}`));
  // The fold covers every partial a roll-up summed (the manifest naming the roll-up was read before the archives
  // were listed, and a batch's archive is written before its partials), so the roll-ups are dropped.
  const isFolded = new Set(coveredKeys);
  const uncovered = Object.entries(previous?.value.rollups ?? {}).filter(
    ([hh, rollup]) => !rollup.batches.every((id) => isFolded.has(`${hh}/${id}`)),
  );
  if (uncovered.length > 0) {
    log.warn('compaction read a roll-up of batches it did not list; the next run folds again', {
      dataset: ds.name,
      day,
      hours: uncovered.map(([hh]) => hh),
    });
    return { ...empty, status: 'lost-race' };
  }
  // The neighbours' facts a model reads are part of what its files are computed from.
  const neighbourKeys = ds.neighbourDays > 0 ? await neighbourFactsKeys(deps, views.manifestModel, day) : [];
  const compactionId = shortHash(...coveredKeys, ...neighbourKeys.map((n) => n.key));
  // The facts depend on the archives alone: a neighbour's change re-writes the day's models, not its facts, so
  // two neighbours never re-compact each other in turn.
  const factsId = shortHash(...coveredKeys);
  const compactedKeys = Object.fromEntries(
    views.models.map((model) => [model, lake.realtimeCompacted(day, compactionId, model)]),
  );
  const compactedKey = compactedKeys[views.manifestModel] as string;
  const factsKey = lake.realtimeFacts(day, factsId, ds.facts);
  const workDir = await mkdtemp(path.join(os.tmpdir(), `twinflow-compact-${day}-`));
  try {
    const limit = pLimit(DOWNLOAD_CONCURRENCY);
    const baseFacts = base ? await store.head(base.facts) : undefined;
    if (base && !baseFacts) throw new PreconditionFailedError(base.facts);
    const [factsPath, archivePaths, neighbours] = await Promise.all([
      baseFacts ? store.localPath(baseFacts) : Promise.resolve(undefined),
      Promise.all(toRead.map(({ info }) => limit(() => store.localPath(info)))),
      Promise.all(
        neighbourKeys.map(async (n) => {
          const info = await store.head(n.key);
          if (!info) throw new PreconditionFailedError(n.key);
          return { day: n.day, path: await store.localPath(info) };
        }),
      ),
    ]);
    const computed = await withConnection((connection) =>
      computeDay(connection, ds, { day, factsPath, archivePaths, workDir, neighbours }),
    );
    await store.putFile(factsKey, path.join(workDir, 'facts.parquet'));
    for (const [model, key] of Object.entries(compactedKeys)) {
      await store.putFile(key, path.join(workDir, `compacted-${model}.parquet`));
    }
    const now = clock().toISOString();
    const hours: Record<string, HourCompactionStats> = {};
    for (const hh of Object.keys(covered).sort()) {
      hours[hh] = {
        records: (base?.hours[hh]?.records ?? 0) + (computed.newRecordsByHour.get(hh) ?? 0),
        orders: computed.ordersByHour.get(hh) ?? 0,
      };
    }
    const archivedRecords = Object.values(hours).reduce((sum, h) => sum + h.records, 0);
    const retired = retiredFiles(previous?.value, [...Object.values(compactedKeys), factsKey], now, day);
    const manifest: StreamManifest = {
      compacted: compactedKey,
      models: compactedKeys,
      facts: factsKey,
      ...(neighbourKeys.length > 0 ? { neighbours: neighbourKeys.map((n) => n.key) } : {}),
      covered,
      compactedAt: now,
      orders: computed.orders,
      duplicates: archivedRecords - computed.orders,
      archivedRecords,
      hours,
      coveredSince: coveredSinceOf(previous?.value, coveredKeys, now),
      ...(Object.keys(retired).length > 0 ? { retired } : {}),
    };
    const result: DayCompaction = {
      dataset: ds.name,
      day,
      status: 'compacted',
      compacted: compactedKey,
      batches: coveredKeys.length,
      read: toRead.length,
      orders: manifest.orders,
      duplicates: manifest.duplicates,
    };
    try {
      await putJson(
        store,
        manifestKey,
        manifest,
        previous ? { ifMatch: previous.etag } : { ifNoneMatch: true },
      );
    } catch (error) {
      if (!(error instanceof PreconditionFailedError)) throw error;
      // Another compaction of this day won; its manifest covers at least what it listed. Ours stays uncommitted
      // (its files are garbage no reader can see).
      log.warn('compaction lost a race; the other run wins', { dataset: ds.name, day });
      return { ...result, status: 'lost-race', compacted: null, orders: 0, duplicates: 0 };
    }
    log.info('realtime day compacted', { ...result });
    return result;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** The days a scheduled compaction looks at. */
export function compactionDays(now: Date, lookbackDays = 3, timeZone?: string): string[] {
  const today = dayOf(now, timeZone);
  const days = [addDays(today, 1)];
  for (let i = 0; i < lookbackDays; i++) days.push(addDays(today, -i));
  return days.sort();
}

/**
 * Compacts, for each streamed dataset, every day with archives its manifest does not cover, then deletes partials
 * covered for longer than the grace period and superseded compacted files. Safe to run concurrently with
 * consumers, readers and other compactions (manifests are written conditionally).
 */
export async function compactRealtime(deps: CoreDeps, options: CompactionOptions): Promise<CompactionResult> {
  const t0 = performance.now();
  const { store, log } = deps;
  const graceMs = options.graceMs ?? DEFAULT_COMPACTION_GRACE_MS;
  const days = options.days ?? compactionDays(options.now, options.lookbackDays, deps.timeZone);
  const datasets = options.datasets?.map((name) => dataset(name)) ?? streamedDatasets();
  const unstreamed = datasets.find((ds) => !isStreamed(ds));
  if (unstreamed) {
    throw new InvalidInputError(
      `dataset "${unstreamed.name}" is batch-only: it has no stream to compact`,
      'dataset',
    );
  }
  const result: CompactionResult = { days: [], deleted: [], durationMs: 0 };
  const rollUpAbove = options.rollUpAboveEvents ?? DEFAULT_ROLL_UP_ABOVE_EVENTS;
  const foldEveryMs = options.foldEveryMs ?? DEFAULT_FOLD_EVERY_MS;
  for (const ds of datasets) {
    const { manifestModel } = realtimeViewsOf(ds);
    for (const day of days) {
      // The manifest before the listing: every batch a roll-up it names summed has its archive in the listing.
      const found = await getJson<StreamManifest>(store, lake.realtimeManifest(day, manifestModel));
      const archives = await store.list(lake.streamArchivePrefix(day, undefined, ds.name));
      const manifest = found?.value;
      const unfolded = archivesOf(archives).filter((a) => !isCovered(manifest, a.hh, a.batchId));
      const isBehind = unfolded.length > 0;
      const isNeighbourNew = await isNeighbourChanged(deps, ds, manifestModel, day, manifest);
      const rollupModels = microBatchModelsOf(ds)
        .map((m) => m.name)
        .join(',');
      const isFoldDue =
        !found ||
        isNeighbourNew ||
        // A model declared since the roll-ups were written has no roll-up of their batches.
        Object.values(found.value.rollups ?? {}).some((r) => r.models.join(',') !== rollupModels) ||
        found.value.orders < rollUpAbove ||
        options.now.getTime() - Date.parse(found.value.compactedAt) >= foldEveryMs;
      if (found && !isFoldDue) {
        if (unfolded.some((a) => !isRolledUp(manifest, a.hh, a.batchId))) {
          result.days.push(await rollUpDay(deps, day, { dataset: ds.name, previous: found }));
        }
      } else if (isBehind || isNeighbourNew) {
        result.days.push(await compactDay(deps, day, { dataset: ds.name, archives, previous: found }));
      }
      result.deleted.push(...(await removeCoveredFiles(deps, ds, day, options.now, graceMs)));
    }
  }
  result.durationMs = Math.round(performance.now() - t0);
  log.info('realtime compaction finished', {
    datasets: datasets.map((ds) => ds.name),
    days,
    compacted: result.days.filter((d) => d.status === 'compacted').length,
    deleted: result.deleted.length,
    durationMs: result.durationMs,
  });
  return result;
}

/**
 * Deletes, for one day of a dataset, the partials the manifest has covered for longer than `graceMs` (of every
 * minute model), and the compacted and facts files a manifest retired longer than `graceMs` ago.
 */
async function removeCoveredFiles(
  { store }: CoreDeps,
  ds: Dataset,
  day: string,
  now: Date,
  graceMs: number,
): Promise<string[]> {
  const views = realtimeViewsOf(ds);
  const found = await getJson<StreamManifest>(store, lake.realtimeManifest(day, views.manifestModel));
  if (!found) return [];
  const manifest = found.value;
  const cutoff = now.getTime() - graceMs;
  // Logical times only (the run's `now` against times this code recorded), so a replayed schedule behaves alike.
  // Partials only of models the manifest names a compacted file for (a model declared later has none yet).
  const compactedModels = views.models.filter(
    (model) => compactedOf(manifest, { model, manifestModel: views.manifestModel }) !== null,
  );
  const [realtimeObjects, factsObjects] = await Promise.all([
    Promise.all(compactedModels.map((model) => store.list(lake.realtimePrefix(day, undefined, model)))).then(
      (lists) => lists.flat(),
    ),
    store.list(lake.realtimeFactsPrefix(day, ds.facts)),
  ]);
  const current = new Set([
    manifest.compacted,
    ...Object.values(manifest.models ?? {}),
    manifest.facts,
    ...rollupFiles(manifest, day),
  ]);
  const isPast = (at: string | undefined) => at !== undefined && Date.parse(at) <= cutoff;
  const modelOf = (key: string) =>
    compactedModels.find((model) => key.startsWith(lake.realtimePrefix(day, undefined, model)));
  const partials = realtimeObjects.filter((info) => {
    const hh = partitionOf(info.key).hour;
    const batchId = batchIdOfPartial(info.key);
    if (!hh || batchId === undefined || batchId.startsWith(ROLLUP_PREFIX)) return false;
    // Coverage only grows (archives are never deleted), so a covered partial stays covered.
    if (isCovered(manifest, hh, batchId)) return isPast(manifest.coveredSince?.[`${hh}/${batchId}`]);
    // A rolled-up partial is never read again: a roll-up is only replaced by one holding its batches, or dropped by
    // a fold that covers them (the fold reads archives, not partials).
    const model = modelOf(info.key);
    return (
      model !== undefined &&
      isRolledUp(manifest, hh, batchId, model) &&
      isPast(manifest.rollups?.[hh]?.since?.[batchId])
    );
  });
  // Only files a manifest superseded: another compaction may have written new ones and not yet committed them.
  const retired = [...realtimeObjects, ...factsObjects].filter((info) => {
    const at = manifest.retired?.[info.key];
    return !current.has(info.key) && at !== undefined && Date.parse(at) <= cutoff;
  });
  const doomed = [...partials, ...retired].map((info) => info.key);
  if (doomed.length > 0) await store.delete(doomed);
  return doomed;
}

/**
 * A measure of a roll-up: values cast to the type the serving layer reads them as, then summed (distinct values
 * unioned), so a roll-up answers exactly what its partials read one by one do.
 */
function rollupMeasure(name: string, m: { kind: 'count' | 'sum' | 'money' | 'distinct' }): string {
  if (m.kind === 'distinct') return `list_sort(list_distinct(flatten(list(${name}::varchar[])))) as ${name}`;
  return `sum(${name}::${measureSqlType(m)})::${measureSqlType(m)} as ${name}`;
}

/**
 * Compaction's cheap tier, for a day too large to fold every minute: per event hour, the partials written since
 * (neither covered nor rolled up, present for every micro-batch model) and the hour's previous roll-up are summed
 * into one new roll-up file per model — counts, sums and money add, distinct values union, as the serving layer
 * merges partials — and the manifest names it (conditionally on the ETag it was read with). Readers then read one
 * file per hour instead of its partials. Duplicates across micro-batches stay until the next fold, exactly as in the
 * partials; the fold covers the rolled-up batches and drops the roll-ups. Its cost follows the new partials plus
 * one roll-up per hour (at most 60 minutes of rows), not the day.
 */
export async function rollUpDay(
  deps: CoreDeps,
  day: string,
  options: { dataset?: string; previous: { value: StreamManifest; etag: string } },
): Promise<DayCompaction> {
  const { store, clock, log } = deps;
  const ds = dataset(options.dataset ?? 'orders');
  const views = realtimeViewsOf(ds);
  const manifest = options.previous.value;
  const models = microBatchModelsOf(ds);
  const result: DayCompaction = {
    dataset: ds.name,
    day,
    status: 'empty',
    compacted: manifest.compacted,
    batches: 0,
    read: 0,
    orders: manifest.orders,
    duplicates: manifest.duplicates,
  };
  if (models.length === 0) return result;
  // Roll-ups of another set of models (one declared since) cannot be extended: only a fold settles them.
  const names = models.map((m) => m.name).join(',');
  if (Object.values(manifest.rollups ?? {}).some((r) => r.models.join(',') !== names)) {
    log.warn('roll-ups name other models than the declaration; the next fold settles them', {
      dataset: ds.name,
      day,
    });
    return { ...result, status: 'lost-race' };
  }
  // Per model and hour: the partials a reader counts one by one today.
  const open = await Promise.all(
    models.map(async (model) => {
      const byHour = new Map<string, Map<string, ObjectInfo>>();
      for (const info of await store.list(lake.realtimePrefix(day, undefined, model.name))) {
        const hh = partitionOf(info.key).hour;
        const batchId = batchIdOfPartial(info.key);
        if (!hh || batchId === undefined || batchId.startsWith(ROLLUP_PREFIX)) continue;
        if (isCovered(manifest, hh, batchId) || isRolledUp(manifest, hh, batchId, model.name)) continue;
        byHour.set(hh, (byHour.get(hh) ?? new Map()).set(batchId, info));
      }
      return byHour;
    }),
  );
  const hours = [...new Set(open.flatMap((byHour) => [...byHour.keys()]))].sort();
  const rollups: Record<string, RealtimeRollup> = { ...manifest.rollups };
  const now = clock().toISOString();
  const written: { key: string; file: string }[] = [];
  const workDir = await mkdtemp(path.join(os.tmpdir(), `twinflow-rollup-${day}-`));
  try {
    const read = withConnection(async (connection) => {
      const limit = pLimit(DOWNLOAD_CONCURRENCY);
      for (const hh of hours) {
        // A batch whose partial of some model is not uploaded yet waits for the next run.
        const ids = [...(open[0]?.get(hh)?.keys() ?? [])].filter((id) =>
          open.every((m) => m.get(hh)?.has(id)),
        );
        if (ids.length === 0) continue;
        const before = manifest.rollups?.[hh];
        const batches = [...(before?.batches ?? []), ...ids].sort();
        const id = shortHash(...batches);
        for (const [i, model] of models.entries()) {
          const previousKey = rollupKeyOf(manifest, day, hh, model.name);
          const previousInfo = previousKey ? await store.head(previousKey) : undefined;
          if (previousKey && !previousInfo) throw new PreconditionFailedError(previousKey);
          const infos = [
            ...(previousInfo ? [previousInfo] : []),
            ...ids.map((b) => open[i]?.get(hh)?.get(b)),
          ];
          const files = await Promise.all(
            infos.map((info) => limit(() => store.localPath(info as ObjectInfo))),
          );
          const measures = Object.entries(model.measures).map(([name, m]) => rollupMeasure(name, m));
          const file = path.join(workDir, `${model.name}-${hh}.parquet`);
          await copyToParquet(
            connection,
            `select window_start, ${[...model.dimensions, ...measures].join(', ')}
             from read_parquet(${sqlPathList(files)}, union_by_name = true)
             group by ${['window_start', ...model.dimensions].join(', ')}
             order by ${['window_start', ...model.dimensions].join(', ')}`,
            file,
          );
          written.push({ key: lake.realtimePartial(day, hh, `${ROLLUP_PREFIX}${id}`, model.name), file });
          result.read += files.length;
        }
        const since = { ...before?.since, ...Object.fromEntries(ids.map((b) => [b, now])) };
        rollups[hh] = { id, batches, models: models.map((m) => m.name), since };
        result.batches += ids.length;
      }
    });
    try {
      await read;
    } catch (error) {
      // A roll-up this run read the manifest for was retired and deleted by a newer one: that run wins.
      if (!(error instanceof PreconditionFailedError)) throw error;
      log.warn('roll-up read a file a newer manifest retired; the other run wins', { dataset: ds.name, day });
      return { ...result, status: 'lost-race' };
    }
    if (result.batches === 0) return result;
    const limit = pLimit(DOWNLOAD_CONCURRENCY);
    await Promise.all(written.map(({ key, file }) => limit(() => store.putFile(key, file))));
    const next: StreamManifest = { ...manifest, rollups };
    const current = [
      ...[manifest.compacted, ...Object.values(manifest.models ?? {}), manifest.facts].flatMap(
        (k) => k ?? [],
      ),
      ...rollupFiles(next, day),
    ];
    const retired = retiredFiles(manifest, current, now, day);
    if (Object.keys(retired).length > 0) next.retired = retired;
    try {
      await putJson(store, lake.realtimeManifest(day, views.manifestModel), next, {
        ifMatch: options.previous.etag,
      });
    } catch (error) {
      if (!(error instanceof PreconditionFailedError)) throw error;
      log.warn('roll-up lost a race; the other run wins', { dataset: ds.name, day });
      return { ...result, status: 'lost-race' };
    }
    log.info('realtime day rolled up', { ...result, status: 'rolled-up' });
    return { ...result, status: 'rolled-up' };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
