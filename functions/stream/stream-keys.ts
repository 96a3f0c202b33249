import { parseDay } from '../pipeline/dates.ts';
import { safeId } from '../pipeline/lake-layout.ts';

/**
 * Speed-layer state keys under `state/stream/` (next to `lake.streamState`, the watermark), built from validated
 * parts like every key in `lake-layout.ts`. One stats document per micro-batch and event day: a redelivered
 * batch overwrites its own document, so the counts stay exact.
 */
export const streamKeys = {
  batchStats: (day: string, batchId: string) =>
    `state/stream/batches/dt=${parseDay(day)}/${safeId(batchId, 'batch id')}.json`,
  batchStatsPrefix: (day: string) => `state/stream/batches/dt=${parseDay(day)}/`,
} as const;
