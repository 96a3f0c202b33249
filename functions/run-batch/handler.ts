import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { BatchRunFailedError, backfillDays, runBatchRange, scheduledDays } from '../batch/run-batch.ts';
import { log, logger, metrics } from '../lambda/observability.ts';
import { parseDay } from '../pipeline/dates.ts';
import { parseBatchRequest } from './batch-request.ts';
import { env } from './env.ts';

const deps = { store: env.store, clock: () => new Date(), log, timeZone: env.timeZone };

/** Batch layer: `{time}` from EventBridge (yesterday + changed days), `{date}` or `{startDate, endDate}`. */
async function runBatch(event: unknown) {
  const request = parseBatchRequest(event);
  const thresholds = { spikeFactor: env.spikeFactor, maxMalformedShare: env.maxMalformedShare };
  const plan =
    'time' in request
      ? { days: await scheduledDays(new Date(request.time), env.lookbackDays, deps), force: false }
      : 'date' in request
        ? { days: [parseDay(request.date)], force: true }
        : { days: backfillDays(request.startDate, request.endDate), force: request.force ?? false };
  const result = await runBatchRange(
    {
      ...plan,
      concurrency: 'concurrency' in request ? request.concurrency : env.concurrency,
      force: 'force' in request && request.force !== undefined ? request.force : plan.force,
      thresholds,
      policy: env.policy,
      onProgress: ({ done, total, outcome }) =>
        logger.info('batch progress', { done, total, ...outcome, report: undefined }),
    },
    deps,
  );
  for (const outcome of result.outcomes) {
    if (outcome.status !== 'published' || !outcome.report) continue;
    metrics.addDimension('day', outcome.day);
    metrics.addMetric('batchDayPublished', MetricUnit.Count, 1);
    metrics.addMetric('batchOrders', MetricUnit.Count, outcome.report.counts.orders);
    metrics.addMetric('batchQuarantined', MetricUnit.Count, outcome.report.counts.quarantined);
    metrics.addMetric('batchDurationMs', MetricUnit.Milliseconds, outcome.report.durationsMs.total);
    metrics.publishStoredMetrics();
  }
  metrics.addMetric('batchDaysFailed', MetricUnit.Count, result.failed);
  // A failed day fails the invocation: the errors alarm fires and EventBridge retries (runs are idempotent).
  if (result.failed > 0) throw new BatchRunFailedError(result);
  return {
    published: result.published,
    skipped: result.skipped,
    failed: result.failed,
    days: result.outcomes.map(({ day, status, detail }) => ({ day, status, detail })),
  };
}

export const handler = middy(runBatch)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
