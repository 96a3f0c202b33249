import pLimit from 'p-limit';
import { parseDay } from '../pipeline/dates.ts';
import { lake } from '../pipeline/lake-layout.ts';
import { getJson, type ObjectStore } from '../pipeline/object-store.ts';
import { isCovered, type RealtimeViewRef, SALES_VIEW } from '../pipeline/realtime-view.ts';
import type { StreamManifest } from './compaction.ts';
import type { BatchStatsDoc } from './micro-batch.ts';

/** What the speed layer did for one event hour: the counts reconciliation explains deviations with. */
export interface StreamHourStats {
  /** valid + quarantined (quarantined records are attributed to the hour their batch was sent). */
  received: number;
  valid: number;
  quarantined: number;
  /** Orders that arrived behind the watermark (counted in their own minute anyway). */
  late: number;
  /** Valid records dropped as duplicates within one micro-batch. */
  duplicatesInBatch: number;
  /**
   * Archived copies of this hour dropped by compaction: the same order_id earlier on the same reporting day (redeliveries,
   * producer retries, whatever their hour).
   */
  duplicatesRemovedByCompaction: number;
  /** Orders written to partials (sum over batches; before cross-batch dedup). */
  partialOrders: number;
  /** Exact orders of the last compaction, or null if the hour was never compacted. */
  compactedOrders: number | null;
  /** Micro-batches that wrote to the hour. */
  batches: number;
  /** Batches written after the last compaction (their partials are still served on top of it). */
  uncompactedBatches: number;
}

function emptyHour(): StreamHourStats {
  return {
    received: 0,
    valid: 0,
    quarantined: 0,
    late: 0,
    duplicatesInBatch: 0,
    duplicatesRemovedByCompaction: 0,
    partialOrders: 0,
    compactedOrders: null,
    batches: 0,
    uncompactedBatches: 0,
  };
}

/** Per-hour (`HH`) speed-layer counts of one reporting day, from the per-batch stats and the compaction manifests. */
export async function streamStats(
  store: ObjectStore,
  day: string,
  stream: { dataset: string; view: RealtimeViewRef } = { dataset: 'orders', view: SALES_VIEW },
): Promise<Record<string, StreamHourStats>> {
  parseDay(day);
  const limit = pLimit(16);
  const statObjects = await store.list(lake.streamBatchStatsPrefix(day, stream.dataset));
  const docs = await Promise.all(
    statObjects.map((info) => limit(async () => (await getJson<BatchStatsDoc>(store, info.key))?.value)),
  );
  const hours: Record<string, StreamHourStats> = {};
  const hourOf = (hh: string) => {
    hours[hh] ??= emptyHour();
    return hours[hh];
  };
  const batchesByHour = new Map<string, Set<string>>();
  for (const doc of docs) {
    if (!doc) continue;
    for (const [hh, counts] of Object.entries(doc.hours)) {
      const stats = hourOf(hh);
      stats.valid += counts.valid;
      stats.received += counts.valid;
      stats.late += counts.late;
      stats.duplicatesInBatch += counts.duplicates;
      stats.partialOrders += counts.orders;
      stats.batches += 1;
      const ids = batchesByHour.get(hh) ?? new Set<string>();
      ids.add(doc.batchId);
      batchesByHour.set(hh, ids);
    }
    if (doc.quarantined) {
      const stats = hourOf(doc.quarantined.hour);
      stats.quarantined += doc.quarantined.count;
      stats.received += doc.quarantined.count;
    }
  }
  const manifest = (
    await getJson<StreamManifest>(store, lake.realtimeManifest(day, stream.view.manifestModel))
  )?.value;
  for (const [hh, counts] of Object.entries(manifest?.hours ?? {})) {
    const stats = hourOf(hh);
    stats.compactedOrders = counts.orders;
    // Attributed to the hour of the dropped copy: the day's earliest copy of an order may sit in another hour.
    stats.duplicatesRemovedByCompaction = counts.records - counts.orders;
    stats.uncompactedBatches = [...(batchesByHour.get(hh) ?? [])].filter(
      (id) => !isCovered(manifest, hh, id),
    ).length;
  }
  for (const [hh, ids] of batchesByHour) {
    const stats = hourOf(hh);
    if (stats.compactedOrders === null) stats.uncompactedBatches = ids.size;
  }
  return Object.fromEntries(Object.entries(hours).sort(([a], [b]) => (a < b ? -1 : 1)));
}
