import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { scheduledTime } from '../lambda/event-input.ts';
import { log, logger, metrics } from '../lambda/observability.ts';
import { streamedDatasets } from '../pipeline/datasets.ts';
import { compactRealtime } from '../stream/compaction.ts';
import { readWatermark } from '../stream/watermark.ts';
import { env } from './env.ts';

const deps = { store: env.store, clock: () => new Date(), log, timeZone: env.timeZone };

/** Scheduled compaction of realtime partials; the logical time is the schedule's `event.time`. */
async function compact(event: unknown) {
  const now = scheduledTime(event);
  const result = await compactRealtime(
    { ...deps, clock: () => now },
    {
      now,
      graceMs: env.graceSeconds * 1000,
      lookbackDays: env.lookbackDays,
      rollUpAboveEvents: env.rollUpAboveEvents,
      foldEveryMs: env.foldEveryMinutes * 60_000,
    },
  );
  const compacted = result.days.filter((d) => d.status === 'compacted');
  metrics.addMetric('daysCompacted', MetricUnit.Count, compacted.length);
  metrics.addMetric(
    'compactionDuplicatesRemoved',
    MetricUnit.Count,
    compacted.reduce((sum, d) => sum + d.duplicates, 0),
  );
  metrics.addMetric('partialsDeleted', MetricUnit.Count, result.deleted.length);
  metrics.addMetric('compactionMs', MetricUnit.Milliseconds, result.durationMs);
  // Freshness feeds the realtime-freshness alarm: how far the newest accepted event lags the schedule's time, for
  // the stalest streamed dataset (any stream that stops raises it).
  const freshness: Record<string, number | null> = {};
  for (const ds of streamedDatasets()) {
    const { value: watermark } = await readWatermark(env.store, ds.name);
    freshness[ds.name] =
      watermark.maxEventTime === null
        ? null
        : Math.max(0, Math.round((now.getTime() - Date.parse(watermark.maxEventTime)) / 1000));
  }
  const known = Object.values(freshness).filter((seconds): seconds is number => seconds !== null);
  const freshnessSeconds = known.length > 0 ? Math.max(...known) : undefined;
  if (freshnessSeconds !== undefined) {
    metrics.addMetric('realtimeFreshnessSeconds', MetricUnit.Seconds, freshnessSeconds);
  }
  return {
    days: result.days.map(({ dataset, day, status, orders, duplicates, batches, read }) => ({
      dataset,
      day,
      status,
      orders,
      duplicates,
      batches,
      read,
    })),
    deleted: result.deleted.length,
    durationMs: result.durationMs,
    realtimeFreshnessSeconds: freshnessSeconds ?? null,
    realtimeFreshnessByDataset: freshness,
  };
}

export const handler = middy(compact)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
