import { PreconditionFailedError } from './errors.ts';
import { lake, partitionOf } from './lake-layout.ts';
import { getJson, type ObjectInfo, type ObjectStore } from './object-store.ts';

/**
 * The realtime view of one hour is: the compacted file named by `_manifest.json` (exact, deduped by order_id)
 * plus every partial whose batch id the manifest does not cover (written after that compaction).
 */
export interface RealtimeManifest {
  /** Key of the compacted sales_minute file, or null before the first compaction. */
  compacted: string | null;
  /** Batch ids whose archives the compacted file was computed from. */
  batches: string[];
  compactedAt: string;
  orders: number;
  /** Valid records dropped as duplicates (same order_id) when compacting this hour. */
  duplicates: number;
}

const PARTIAL = /\/part-([A-Za-z0-9._-]+)\.parquet$/;

/** The batch id a partial was written from, or undefined for other files. */
export function batchIdOfPartial(key: string): string | undefined {
  return PARTIAL.exec(key)?.[1];
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

/** One consistent set of sales_minute files per hour of a day, keyed `HH`. */
export type RealtimeSnapshot = Map<string, ObjectInfo[]>;

/**
 * Lists a day's realtime files as a consistent snapshot: each order counted once even while compaction runs.
 * Each listed manifest is read (or taken from the cache when its ETag is unchanged); if one read returns another
 * version than the listing saw, a compaction ran in between and the listing is retried.
 */
export async function realtimeDaySnapshot(
  store: ObjectStore,
  day: string,
  attempts = 5,
): Promise<RealtimeSnapshot> {
  for (let attempt = 1; ; attempt++) {
    const objects = await store.list(lake.realtimePrefix(day));
    const manifestKeys = objects.filter((o) => o.key.endsWith('/_manifest.json'));
    const manifests = new Map<string, { manifest: RealtimeManifest; etag: string }>();
    await Promise.all(
      manifestKeys.map(async (info) => {
        const found = await readManifest(store, info);
        const hh = partitionOf(info.key).hour;
        if (found && hh) manifests.set(hh, found);
      }),
    );
    const stable = manifestKeys.every(
      (info) => manifests.get(partitionOf(info.key).hour ?? '')?.etag === info.etag,
    );
    if (!stable) {
      if (attempt >= attempts) throw new PreconditionFailedError(lake.realtimePrefix(day));
      continue;
    }
    const snapshot: RealtimeSnapshot = new Map();
    for (const info of objects) {
      const hh = partitionOf(info.key).hour;
      if (!hh) continue;
      const manifest = manifests.get(hh)?.manifest;
      const batchId = batchIdOfPartial(info.key);
      const isCurrentCompacted = manifest?.compacted === info.key;
      const isUncoveredPartial = batchId !== undefined && !manifest?.batches.includes(batchId);
      if (!isCurrentCompacted && !isUncoveredPartial) continue;
      const files = snapshot.get(hh) ?? [];
      files.push(info);
      snapshot.set(hh, files);
    }
    return snapshot;
  }
}
