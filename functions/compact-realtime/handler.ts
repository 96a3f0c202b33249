import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { log, logger, metrics } from '../lambda/observability.ts';
import { InvalidInputError } from '../pipeline/errors.ts';
import { compactRealtime } from '../stream/compaction.ts';
import { env } from './env.ts';

const deps = { store: env.store, clock: () => new Date(), log };

/** Scheduled compaction of realtime partials; the logical time is the schedule's `event.time`. */
async function compact(event: { time?: string }) {
  const now = new Date(event?.time ?? Number.NaN);
  if (Number.isNaN(now.getTime()))
    throw new InvalidInputError('expected a Scheduled Event with "time"', 'time');
  const result = await compactRealtime(
    { ...deps, clock: () => now },
    { now, graceMs: env.graceSeconds * 1000, lookbackDays: env.lookbackDays },
  );
  const compacted = result.hours.filter((h) => h.status === 'compacted');
  metrics.addMetric('hoursCompacted', MetricUnit.Count, compacted.length);
  metrics.addMetric(
    'compactionDuplicatesRemoved',
    MetricUnit.Count,
    compacted.reduce((sum, h) => sum + h.duplicates, 0),
  );
  metrics.addMetric('partialsDeleted', MetricUnit.Count, result.deleted.length);
  metrics.addMetric('compactionMs', MetricUnit.Milliseconds, result.durationMs);
  return {
    hours: result.hours.map(({ day, hour, status, orders, duplicates, batches }) => ({
      day,
      hour,
      status,
      orders,
      duplicates,
      batches,
    })),
    deleted: result.deleted.length,
    durationMs: result.durationMs,
  };
}

export const handler = middy(compact)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
