import type { Dataset } from './datasets.ts';
import { PreconditionFailedError } from './errors.ts';
import { lake, partitionOf } from './lake-layout.ts';
import { getJson, type ObjectInfo, type ObjectStore } from './object-store.ts';

/**
 * Where one minute model's realtime view lives: its own folder (`views/realtime/<model>/`) and the day manifest of
 * its dataset, which sits in the folder of the dataset's first minute model and names every model's compacted file.
 */
export interface RealtimeViewRef {
  model: string;
  manifestModel: string;
}

/** The speed layer of a dataset: its minute models (each a realtime view) and the model whose folder holds the manifest. */
export function realtimeViewsOf(ds: Dataset): { models: string[]; manifestModel: string } {
  const models = ds.models.filter((m) => m.grain === 'minute').map((m) => m.name);
  const manifestModel = models[0];
  if (manifestModel === undefined)
    throw new Error(`dataset "${ds.name}" declares no minute model to stream into`);
  return { models, manifestModel };
}

/**
 * The minute models a micro-batch computes and writes partials of (`realtime: micro-batch`); the others
 * (`realtime: compaction`, e.g. sessions) only compaction writes. The ingest function's grants follow this list.
 */
export function microBatchModelsOf(ds: Pick<Dataset, 'models'>): Dataset['models'] {
  return ds.models.filter((m) => m.grain === 'minute' && m.realtime === 'micro-batch');
}

/** Orders' sales_minute: the view `/sales` and health read. */
export const SALES_VIEW: RealtimeViewRef = { model: 'sales_minute', manifestModel: 'sales_minute' };

/**
 * The realtime view of one reporting day is: the compacted file named by the day's `_manifest.json` (exact: orders
 * deduplicated over the whole day) plus every partial whose (hour, batch) the manifest does not cover (written
 * after that compaction).
 */
export interface RealtimeManifest {
  /** Key of the day's compacted file of the first minute model, or null before the first compaction. */
  compacted: string | null;
  /** Each minute model's compacted file (manifests written before datasets had several models lack it). */
  models?: Record<string, string>;
  /** Per event hour `HH`: the batch ids whose archives of that hour the compacted file was computed from. */
  covered: Record<string, string[]>;
  compactedAt: string;
  orders: number;
  /** Valid records dropped as duplicates (same order_id on the same day) when compacting. */
  duplicates: number;
  /**
   * Per event hour `HH`: the hour's roll-up (compaction's cheap tier), one file per model in `models` at
   * `hour=HH/part-r.<id>.parquet`, the sum of the partials of `batches` (none of them covered). Readers count the
   * roll-up instead of those partials; the next full fold covers them and drops the roll-up.
   */
  rollups?: Record<string, RealtimeRollup>;
}
// A manifest object is never mutated once read or built (a change is a new manifest): the lookups below cache
// their sets per object.

export interface RealtimeRollup {
  id: string;
  batches: string[];
  models: string[];
  /** When each batch was first rolled up: its partials are deleted once that is older than the grace period. */
  since?: Record<string, string>;
}

/** The batch-id form of a roll-up's files (`part-r.<id>.parquet`): never an SQS or replay batch id. */
export const ROLLUP_PREFIX = 'r.';

/** The roll-up file of `model` for hour `hh` a manifest names, or undefined. */
export function rollupKeyOf(
  manifest: RealtimeManifest | undefined,
  day: string,
  hh: string,
  model: string,
): string | undefined {
  const rollup = manifest?.rollups?.[hh];
  return rollup?.models.includes(model)
    ? lake.realtimePartial(day, hh, `${ROLLUP_PREFIX}${rollup.id}`, model)
    : undefined;
}

const PARTIAL = /\/part-([A-Za-z0-9._-]+)\.parquet$/;

/** The batch id a partial was written from, or undefined for other files. */
export function batchIdOfPartial(key: string): string | undefined {
  return PARTIAL.exec(key)?.[1];
}

/**
 * Each manifest's covered batch ids as sets, built on first use: a day's manifest lists every micro-batch of the
 * day, and a listing of N partials checked against arrays of N ids would cost N² (manifests are never mutated).
 */
const coveredSets = new WeakMap<RealtimeManifest, Map<string, Set<string>>>();

const rolledUpSets = new WeakMap<RealtimeManifest, Map<string, Set<string>>>();

function setsOf(
  cache: WeakMap<RealtimeManifest, Map<string, Set<string>>>,
  manifest: RealtimeManifest,
  idsByHour: () => [string, string[]][],
): Map<string, Set<string>> {
  let sets = cache.get(manifest);
  if (!sets) {
    sets = new Map(idsByHour().map(([hour, ids]) => [hour, new Set(ids)]));
    cache.set(manifest, sets);
  }
  return sets;
}

/** Whether `manifest` covers the partial of `batchId` in hour `hh`. */
export function isCovered(manifest: RealtimeManifest | undefined, hh: string, batchId: string): boolean {
  if (!manifest) return false;
  return (
    setsOf(coveredSets, manifest, () => Object.entries(manifest.covered))
      .get(hh)
      ?.has(batchId) ?? false
  );
}

/** Whether the partial of `batchId` in hour `hh` is summed into the hour's roll-up. */
export function isRolledUp(
  manifest: RealtimeManifest | undefined,
  hh: string,
  batchId: string,
  model?: string,
): boolean {
  if (!manifest?.rollups) return false;
  // A batch stays counted as a partial of a model the hour's roll-up has no file of.
  if (model !== undefined && !manifest.rollups[hh]?.models.includes(model)) return false;
  const rollups = manifest.rollups;
  return (
    setsOf(rolledUpSets, manifest, () => Object.entries(rollups).map(([hour, r]) => [hour, r.batches]))
      .get(hh)
      ?.has(batchId) ?? false
  );
}

/**
 * Whether a reader counts the partial (or roll-up) of `batchId` in hour `hh`: a roll-up only while the manifest
 * names it, a partial unless it is covered by the compacted file or summed into the hour's roll-up.
 */
export function isCounted(
  manifest: RealtimeManifest | undefined,
  hh: string,
  batchId: string,
  model: string,
): boolean {
  if (batchId.startsWith(ROLLUP_PREFIX)) {
    const rollup = manifest?.rollups?.[hh];
    return rollup?.id === batchId.slice(ROLLUP_PREFIX.length) && rollup.models.includes(model);
  }
  return !isCovered(manifest, hh, batchId) && !isRolledUp(manifest, hh, batchId, model);
}

/**
 * Manifests by store, key and ETag. A manifest version never changes (a rewrite has a new ETag, which the listing
 * shows), so a reader that lists often — the query API — only GETs manifests that changed since it last looked.
 */
const manifestCache = new Map<string, { manifest: RealtimeManifest; etag: string }>();
const MANIFEST_CACHE_LIMIT = 10_000;

async function readManifest(
  store: ObjectStore,
  info: ObjectInfo,
): Promise<{ manifest: RealtimeManifest; etag: string } | undefined> {
  const cacheKey = `${store.location}\0${info.key}`;
  const cached = manifestCache.get(cacheKey);
  if (cached?.etag === info.etag) return cached;
  const found = await getJson<RealtimeManifest>(store, info.key);
  if (!found) return undefined;
  if (manifestCache.size >= MANIFEST_CACHE_LIMIT) manifestCache.clear();
  const entry = { manifest: found.value, etag: found.etag };
  manifestCache.set(cacheKey, entry);
  return entry;
}

/** The compacted file of `model` a manifest names, or null. */
export function compactedOf(manifest: RealtimeManifest | undefined, view: RealtimeViewRef): string | null {
  if (!manifest) return null;
  return manifest.models?.[view.model] ?? (view.model === view.manifestModel ? manifest.compacted : null);
}

/** One consistent set of realtime files of one minute model and day. */
export interface RealtimeSnapshot {
  /** The day's current compacted file (every covered hour), or null. */
  compacted: ObjectInfo | null;
  /** Uncovered partials (and the hour's roll-up) by hour `HH`. */
  partials: Map<string, ObjectInfo[]>;
  /** Hours `HH` with realtime data: covered by the compacted file or with an uncovered partial. */
  hours: Set<string>;
}

/** Every file of a snapshot. */
export function snapshotFiles(snapshot: RealtimeSnapshot): ObjectInfo[] {
  return [...(snapshot.compacted ? [snapshot.compacted] : []), ...[...snapshot.partials.values()].flat()];
}

/**
 * Lists a day's realtime files as a consistent snapshot: each order counted once even while compaction runs.
 * The listed manifest is read (or taken from the cache when its ETag is unchanged); if the read returns another
 * version than the listing saw, a compaction ran in between and the listing is retried.
 */
export async function realtimeDaySnapshot(
  store: ObjectStore,
  day: string,
  view: RealtimeViewRef = SALES_VIEW,
  attempts = 5,
): Promise<RealtimeSnapshot> {
  const manifestKey = lake.realtimeManifest(day, view.manifestModel);
  const prefix = lake.realtimePrefix(day, undefined, view.model);
  for (let attempt = 1; ; attempt++) {
    const objects = await store.list(prefix);
    // Another model's manifest is looked up after the listing: a compaction committed since names a compacted file
    // the listing lacks, and the check below lists again.
    const listed =
      view.model === view.manifestModel
        ? objects.find((o) => o.key === manifestKey)
        : await store.head(manifestKey);
    const found = listed ? await readManifest(store, listed) : undefined;
    const compacted = compactedOf(found?.manifest, view);
    const keys = new Set(objects.map((o) => o.key));
    // A roll-up is written before the manifest that names it: missing from the listing, a newer manifest was read.
    const rollups = Object.keys(found?.manifest.rollups ?? {}).map((hh) =>
      rollupKeyOf(found?.manifest, day, hh, view.model),
    );
    const isListed = (!compacted || keys.has(compacted)) && rollups.every((key) => !key || keys.has(key));
    if ((listed && found?.etag !== listed.etag) || !isListed) {
      if (attempt >= attempts) throw new PreconditionFailedError(prefix);
      continue;
    }
    // A manifest that names no file of this model (written before the model was declared) covers none of its partials.
    const manifest = compacted === null && found?.manifest.compacted ? undefined : found?.manifest;
    const snapshot: RealtimeSnapshot = {
      compacted: null,
      partials: new Map(),
      hours: new Set(Object.keys(manifest?.covered ?? {})),
    };
    for (const info of objects) {
      if (compacted === info.key) {
        snapshot.compacted = info;
        continue;
      }
      const hh = partitionOf(info.key).hour;
      const batchId = batchIdOfPartial(info.key);
      if (!hh || batchId === undefined || !isCounted(manifest, hh, batchId, view.model)) continue;
      const files = snapshot.partials.get(hh) ?? [];
      files.push(info);
      snapshot.partials.set(hh, files);
      snapshot.hours.add(hh);
    }
    return snapshot;
  }
}
