import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import { BatchRunFailedError, backfillDays, runBatchRange, scheduledDays } from '../batch/run-batch.ts';
import { log, logger, metrics } from '../lambda/observability.ts';
import { dataset, listDatasets } from '../pipeline/datasets.ts';
import { parseDay } from '../pipeline/dates.ts';
import { parseBatchRequest } from './batch-request.ts';
import { env } from './env.ts';
import { sfnClient, startFanOutExecution } from './fan-out-executions.ts';

const deps = { store: env.store, clock: () => new Date(), log, timeZone: env.timeZone };

/** A day from the threshold on goes to the fan-out state machine (without one, its fan-out runs here). */
const fanOut = {
  thresholdBytes: env.fanOutThresholdBytes,
  buckets: env.fanOutBuckets,
  ...(env.fanOutStateMachineArn
    ? { startExecution: startFanOutExecution(sfnClient(), env.fanOutStateMachineArn) }
    : {}),
};

/**
 * Batch layer: `{time}` from EventBridge (yesterday + changed days of every dataset with landing exports), `{date}`
 * or `{startDate, endDate}` (with `dataset`, default orders).
 */
async function runBatch(event: unknown) {
  const request = parseBatchRequest(event);
  const names =
    'time' in request
      ? listDatasets()
          .filter((ds) => ds.source !== 'stream')
          .map((ds) => ds.name)
      : [dataset(request.dataset ?? 'orders').name];
  const results = [];
  for (const name of names) results.push({ name, result: await runDatasetBatch(request, name) });
  const outcomes = results.flatMap(({ name, result }) =>
    result.outcomes.map((o) => ({ ...o, dataset: name })),
  );
  const count = (status: (typeof outcomes)[number]['status']) =>
    outcomes.filter((o) => o.status === status).length;
  const failed = count('failed');
  const handedOver = count('handed-over');
  metrics.addMetric('batchDaysFailed', MetricUnit.Count, failed);
  metrics.addMetric('batchDaysHandedOver', MetricUnit.Count, handedOver);
  // A failed day fails the invocation: the errors alarm fires and EventBridge retries (runs are idempotent; a
  // handed-over day's execution is named after its inputs, so a retry does not start a second one).
  if (failed > 0) {
    throw new BatchRunFailedError({
      outcomes,
      published: count('published'),
      skipped: count('skipped'),
      failed,
      handedOver,
    });
  }
  return {
    published: count('published'),
    skipped: count('skipped'),
    failed,
    handedOver,
    days: outcomes.map(({ day, status, detail, dataset: name, executionArn }) => ({
      day,
      status,
      detail,
      ...(name !== 'orders' ? { dataset: name } : {}),
      ...(executionArn ? { executionArn } : {}),
    })),
  };
}

async function runDatasetBatch(request: ReturnType<typeof parseBatchRequest>, name: string) {
  const thresholds = { spikeFactor: env.spikeFactor, maxMalformedShare: env.maxMalformedShare };
  const plan =
    'time' in request
      ? { days: await scheduledDays(new Date(request.time), env.lookbackDays, deps, name), force: false }
      : 'date' in request
        ? { days: [parseDay(request.date)], force: true }
        : { days: backfillDays(request.startDate, request.endDate), force: request.force ?? false };
  const result = await runBatchRange(
    {
      ...plan,
      dataset: name,
      concurrency: 'concurrency' in request ? request.concurrency : env.concurrency,
      force: 'force' in request && request.force !== undefined ? request.force : plan.force,
      thresholds,
      policy: env.policy,
      fanOut,
      onProgress: ({ done, total, outcome }) =>
        logger.info('batch progress', { done, total, ...outcome, report: undefined }),
    },
    deps,
  );
  for (const outcome of result.outcomes) {
    if (outcome.status !== 'published' || !outcome.report) continue;
    metrics.addDimension('day', outcome.day);
    if (name !== 'orders') metrics.addDimension('dataset', name);
    metrics.addMetric('batchDayPublished', MetricUnit.Count, 1);
    metrics.addMetric('batchOrders', MetricUnit.Count, outcome.report.counts.orders);
    metrics.addMetric('batchQuarantined', MetricUnit.Count, outcome.report.counts.quarantined);
    metrics.addMetric('batchDurationMs', MetricUnit.Milliseconds, outcome.report.durationsMs.total);
    metrics.publishStoredMetrics();
  }
  return result;
}

export const handler = middy(runBatch)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
