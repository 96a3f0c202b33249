import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import { addDays, dayOf, parseDay } from '../pipeline/dates.ts';
import { sqlPathList, withConnection } from '../pipeline/duckdb-session.ts';
import { PreconditionFailedError } from '../pipeline/errors.ts';
import { shortHash } from '../pipeline/ids.ts';
import { lake, partitionOf } from '../pipeline/lake-layout.ts';
import { getJson, type ObjectInfo, putJson } from '../pipeline/object-store.ts';
import { copyToParquet } from '../pipeline/order-views.ts';
import type { CoreDeps } from '../pipeline/ports.ts';
import { batchIdOfPartial, type RealtimeManifest } from '../pipeline/realtime-view.ts';
import { materialize } from '../pipeline/sql-models.ts';

/**
 * The manifest the speed layer writes: the serving layer's `RealtimeManifest` plus, per covered batch, since when
 * it is covered. A partial is deleted only once its coverage is older than the grace period, so a reader that
 * listed the hour under the previous manifest still finds every file it planned to read.
 */
export interface StreamManifest extends RealtimeManifest {
  coveredSince: Record<string, string>;
  /**
   * Compacted files this manifest's predecessors named, with when they were superseded. Only these are ever
   * deleted (after the grace period): a compacted file no manifest retired may belong to a compaction still
   * running, which is about to commit it.
   */
  retired?: Record<string, string>;
  /** Valid records read from the archives (orders + duplicates). */
  archivedRecords: number;
}

export interface CompactionOptions {
  /** The run's logical time (`event.time` of the schedule). */
  now: Date;
  /** Days to look at; default: the last `lookbackDays` days up to tomorrow (producer clocks run ahead). */
  days?: readonly string[];
  lookbackDays?: number;
  /** How long covered partials and superseded compacted files stay readable, ms (default 5 min). */
  graceMs?: number;
}

export interface HourCompaction {
  day: string;
  hour: string;
  status: 'compacted' | 'lost-race' | 'empty';
  compacted: string | null;
  batches: number;
  orders: number;
  duplicates: number;
}

export interface CompactionResult {
  hours: HourCompaction[];
  deleted: string[];
  durationMs: number;
}

export const DEFAULT_COMPACTION_GRACE_MS = 5 * 60_000;
const DOWNLOAD_CONCURRENCY = 16;

function archiveBatchId(key: string): string | undefined {
  return /\/([A-Za-z0-9._-]+)\.parquet$/.exec(key)?.[1];
}

function groupByHour(objects: readonly ObjectInfo[]): Map<string, ObjectInfo[]> {
  const hours = new Map<string, ObjectInfo[]>();
  for (const info of objects) {
    const hh = partitionOf(info.key).hour;
    if (!hh) continue;
    const list = hours.get(hh) ?? [];
    list.push(info);
    hours.set(hh, list);
  }
  return hours;
}

/**
 * Recomputes one realtime hour exactly from ALL its stream archives: dedup by order_id with the shared models
 * (`order_facts`, `sales_minute`), write `compacted-<id>.parquet`, then the manifest naming exactly the batches
 * read. Readers switch atomically with the manifest. Reconciliation calls this to repair an hour.
 */
export async function recomputeRealtimeHour(
  deps: CoreDeps,
  day: string,
  hour: string,
  archives?: readonly ObjectInfo[],
): Promise<HourCompaction> {
  const { store, clock, log } = deps;
  parseDay(day);
  const manifestKey = lake.realtimeManifest(day, hour);
  const previous = await getJson<StreamManifest>(store, manifestKey);
  const files = archives ?? (await store.list(lake.streamArchivePrefix(day, hour)));
  const batches = files
    .map((info) => ({ info, batchId: archiveBatchId(info.key) }))
    .filter((f): f is { info: ObjectInfo; batchId: string } => f.batchId !== undefined)
    .sort((a, b) => (a.batchId < b.batchId ? -1 : 1));
  if (batches.length === 0) {
    return { day, hour, status: 'empty', compacted: null, batches: 0, orders: 0, duplicates: 0 };
  }
  const batchIds = batches.map((b) => b.batchId);
  const compactionId = shortHash(...batchIds);
  const compactedKey = lake.realtimeCompacted(day, hour, compactionId);
  const workDir = await mkdtemp(path.join(os.tmpdir(), `twinflow-compact-${day}-${hour}-`));
  try {
    const limit = pLimit(DOWNLOAD_CONCURRENCY);
    const localPaths = await Promise.all(batches.map(({ info }) => limit(() => store.localPath(info))));
    const counts = await withConnection(async (connection) => {
      // Archived rows are validated orders already: load them in validated_orders' shape and let the shared
      // order_facts model dedup across batches, exactly as the batch layer dedups a day.
      await connection.run(
        `create or replace temp table validated_orders as
         select order_id, event_id, user_id, product_id, quantity, unit_price, currency, event_time,
                true as is_valid
         from read_parquet(${sqlPathList(localPaths)})`,
      );
      await materialize(connection, 'order_facts');
      await materialize(connection, 'sales_minute');
      await copyToParquet(
        connection,
        'select * from sales_minute order by window_start, product_id',
        path.join(workDir, 'compacted.parquet'),
      );
      const row = (
        await connection.runAndReadAll(
          `select (select count(*) from validated_orders)::integer as records,
                  (select count(*) from order_facts)::integer as orders`,
        )
      ).getRowObjectsJson()[0] as { records: number; orders: number };
      return row;
    });
    await store.putFile(compactedKey, path.join(workDir, 'compacted.parquet'));
    const now = clock().toISOString();
    const retired = retiredFiles(previous?.value, compactedKey, now);
    const manifest: StreamManifest = {
      compacted: compactedKey,
      batches: batchIds,
      compactedAt: now,
      orders: counts.orders,
      duplicates: counts.records - counts.orders,
      archivedRecords: counts.records,
      coveredSince: Object.fromEntries(
        batchIds.map((id) => [id, previous?.value.coveredSince?.[id] ?? now] as const),
      ),
      ...(Object.keys(retired).length > 0 ? { retired } : {}),
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
      // Another compaction of this hour won; its manifest covers at least what it listed. Ours is left
      // uncommitted (its compacted file is garbage once the grace period has passed).
      log.warn('compaction lost a race; the other run wins', { day, hour });
      return {
        day,
        hour,
        status: 'lost-race',
        compacted: null,
        batches: batchIds.length,
        orders: 0,
        duplicates: 0,
      };
    }
    log.info('realtime hour compacted', {
      day,
      hour,
      compacted: compactedKey,
      batches: batchIds.length,
      orders: manifest.orders,
      duplicates: manifest.duplicates,
    });
    return {
      day,
      hour,
      status: 'compacted',
      compacted: compactedKey,
      batches: batchIds.length,
      orders: manifest.orders,
      duplicates: manifest.duplicates,
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/** The days a scheduled compaction looks at. */
export function compactionDays(now: Date, lookbackDays = 3): string[] {
  const today = dayOf(now);
  const days = [addDays(today, 1)];
  for (let i = 0; i < lookbackDays; i++) days.push(addDays(today, -i));
  return days.sort();
}

/**
 * Compacts every hour whose archives are not all covered by its manifest, then deletes partials covered for
 * longer than the grace period and superseded compacted files. Safe to run concurrently with consumers,
 * readers and other compactions (manifests are written conditionally).
 */
export async function compactRealtime(deps: CoreDeps, options: CompactionOptions): Promise<CompactionResult> {
  const t0 = performance.now();
  const { store, log } = deps;
  const graceMs = options.graceMs ?? DEFAULT_COMPACTION_GRACE_MS;
  const days = options.days ?? compactionDays(options.now, options.lookbackDays);
  const result: CompactionResult = { hours: [], deleted: [], durationMs: 0 };
  for (const day of days) {
    const [archiveObjects, realtimeObjects] = await Promise.all([
      store.list(lake.streamArchivePrefix(day)),
      store.list(lake.realtimePrefix(day)),
    ]);
    const archivesByHour = groupByHour(archiveObjects);
    const realtimeByHour = groupByHour(realtimeObjects);
    const hours = [...new Set([...archivesByHour.keys(), ...realtimeByHour.keys()])].sort();
    for (const hour of hours) {
      const archives = archivesByHour.get(hour) ?? [];
      const manifestKey = lake.realtimeManifest(day, hour);
      const before = await getJson<StreamManifest>(store, manifestKey);
      const covered = new Set(before?.value.batches ?? []);
      const isDirty = archives.some((info) => {
        const id = archiveBatchId(info.key);
        return id !== undefined && !covered.has(id);
      });
      if (isDirty) result.hours.push(await recomputeRealtimeHour(deps, day, hour, archives));
      result.deleted.push(...(await removeCoveredFiles(deps, day, hour, options.now, graceMs)));
    }
  }
  result.durationMs = Math.round(performance.now() - t0);
  log.info('realtime compaction finished', {
    days,
    compacted: result.hours.filter((h) => h.status === 'compacted').length,
    deleted: result.deleted.length,
    durationMs: result.durationMs,
  });
  return result;
}

/**
 * Deletes, for one hour, the partials whose batch the manifest has covered for longer than `graceMs`, and the
 * compacted files the manifest no longer names once it has been current for longer than `graceMs`.
 */
/** Entries kept in `retired` this long after superseding; compaction deletes the files long before. */
const RETIRED_MEMORY_MS = 24 * 60 * 60 * 1000;

/** The predecessor's retired files, plus its compacted file when this compaction replaces it. */
function retiredFiles(
  previous: StreamManifest | undefined,
  compactedKey: string,
  now: string,
): Record<string, string> {
  const retired: Record<string, string> = {};
  for (const [key, at] of Object.entries(previous?.retired ?? {})) {
    if (key !== compactedKey && Date.parse(now) - Date.parse(at) < RETIRED_MEMORY_MS) retired[key] = at;
  }
  if (previous?.compacted && previous.compacted !== compactedKey) retired[previous.compacted] ??= now;
  return retired;
}

async function removeCoveredFiles(
  { store }: CoreDeps,
  day: string,
  hour: string,
  now: Date,
  graceMs: number,
): Promise<string[]> {
  const found = await getJson<StreamManifest>(store, lake.realtimeManifest(day, hour));
  if (!found) return [];
  const manifest = found.value;
  const cutoff = now.getTime() - graceMs;
  // Logical times only (the run's `now` against times this code recorded), so a replayed schedule behaves alike.
  const objects = await store.list(lake.realtimePrefix(day, hour));
  const doomed = objects
    .filter((info) => {
      const batchId = batchIdOfPartial(info.key);
      if (batchId !== undefined) {
        const since = manifest.coveredSince?.[batchId];
        // Coverage only grows (archives are never deleted), so a covered partial stays covered.
        return manifest.batches.includes(batchId) && since !== undefined && Date.parse(since) <= cutoff;
      }
      // Only files a manifest superseded: another compaction of this hour may have written a new file and not
      // yet committed the manifest naming it.
      const retiredAt = manifest.retired?.[info.key];
      return info.key !== manifest.compacted && retiredAt !== undefined && Date.parse(retiredAt) <= cutoff;
    })
    .map((info) => info.key);
  if (doomed.length > 0) await store.delete(doomed);
  return doomed;
}
