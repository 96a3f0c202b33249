import { batchBoundary, publishedDays, readPublished } from '../pipeline/batch-published.ts';
import { addDays, dayOf, UTC } from '../pipeline/dates.ts';
import { PreconditionFailedError } from '../pipeline/errors.ts';
import { servedModel } from './metric-model.ts';
import { latestWindow } from './read-buckets.ts';
import { newestRealtimeHourFiles } from './realtime-files.ts';
import type { ServingDeps } from './sales.ts';
import { SALES_MODEL } from './sales.ts';

/** The body of `GET /health`. */
export interface HealthResponse {
  status: 'ok';
  version: string;
  /** End of the contiguous published batch range (exclusive, ISO), or null. */
  batch_boundary: string | null;
  /** Newest realtime minute window of today or yesterday (days of the reporting zone, by the clock), or null. */
  realtime_freshness: string | null;
  /** How many days batch has published, and the first and last of them. */
  published_days: number;
  first_published_day: string | null;
  last_published_day: string | null;
  /** ETag of the publish index: the version of batch data being served. */
  published_version: string;
  /** The reporting time zone: days (landing folders, daily rollups, day buckets) are days in it. */
  time_zone: string;
  generated_at: string;
}

/** Newest realtime window: the newest hour with files today, else yesterday. Retries once if a file vanishes. */
export async function realtimeFreshness(
  deps: Pick<ServingDeps, 'store' | 'clock' | 'timeZone'>,
): Promise<string | null> {
  const today = dayOf(deps.clock(), deps.timeZone);
  for (let attempt = 1; ; attempt++) {
    try {
      for (const day of [today, addDays(today, -1)]) {
        const files = await newestRealtimeHourFiles(deps.store, day, deps.timeZone);
        if (files.length === 0) continue;
        const latest = await latestWindow(
          await Promise.all(files.map((info) => deps.store.localPath(info))),
          servedModel(SALES_MODEL),
        );
        if (latest) return latest;
      }
      return null;
    } catch (error) {
      const vanished = error instanceof PreconditionFailedError || /No files found/i.test(String(error));
      if (!vanished || attempt >= 3) throw error;
    }
  }
}

/** What the serving layer is serving: batch boundary, realtime freshness, published days, code version. */
export async function health(deps: ServingDeps): Promise<HealthResponse> {
  const [{ index, etag }, freshness] = await Promise.all([
    readPublished(deps.store),
    realtimeFreshness(deps),
  ]);
  const days = publishedDays(index);
  return {
    status: 'ok',
    version: deps.version ?? 'dev',
    batch_boundary: batchBoundary(index),
    realtime_freshness: freshness,
    published_days: days.length,
    first_published_day: days[0] ?? null,
    last_published_day: days.at(-1) ?? null,
    published_version: etag,
    time_zone: index.timeZone ?? deps.timeZone ?? UTC,
    generated_at: deps.clock().toISOString(),
  };
}
