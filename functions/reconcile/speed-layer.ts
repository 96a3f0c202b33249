import { compactDay } from '../stream/compaction.ts';
import { streamStats } from '../stream/stream-stats.ts';
import type { HourStreamStats, SpeedLayerPort } from './ports.ts';

/** The speed layer's own functions behind the port: its per-hour counts and its exact recompute of an hour. */
export const speedLayer: SpeedLayerPort = {
  async streamStats(store, day, { dataset, model }) {
    const hours = await streamStats(store, day, { dataset: dataset.name, view: model.realtime });
    return new Map(
      Object.entries(hours).map(([hour, s]): [string, HourStreamStats] => [
        hour,
        {
          received: s.received,
          valid: s.valid,
          quarantined: s.quarantined,
          late: s.late,
          duplicates: s.duplicatesInBatch + s.duplicatesRemovedByCompaction,
        },
      ]),
    );
  },
  recomputeRealtimeDay: (deps, day, dataset) => compactDay(deps, day, { dataset, full: true }),
};
