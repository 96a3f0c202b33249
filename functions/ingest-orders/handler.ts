import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { SNSClient } from '@aws-sdk/client-sns';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { alertRulesOf, evaluateAlerts } from '../alerts/rules.ts';
import { snsRuleAlertSink } from '../alerts/sns-sink.ts';
import { log, logger, metrics } from '../lambda/observability.ts';
import { InvalidInputError } from '../pipeline/errors.ts';
import { consumeMicroBatch } from '../stream/micro-batch.ts';
import { streamMessageOf } from '../stream/sqs-records.ts';
import { LEGACY_INGEST_DATASET } from './dataset.ts';
import { env } from './env.ts';

const deps = { store: env.store, clock: () => new Date(), log, timeZone: env.timeZone };
/** The dataset's balance alert rules (inventory's low_stock): evaluated after each micro-batch, within seconds. */
const balanceRules = alertRulesOf({ datasets: [env.dataset.name], balancesOnly: true });
const sns = env.alertTopicArn && balanceRules.length > 0 ? new SNSClient({}) : undefined;
const sinks = sns && env.alertTopicArn ? [snsRuleAlertSink(sns, env.alertTopicArn)] : [];
const processor = new BatchProcessor(EventType.SQS);

/** A record whose micro-batch write failed: reported so SQS delivers it again (and finally dead-letters it). */
class RecordNotStoredError extends Error {
  override readonly name = 'RecordNotStoredError';
}

/**
 * Speed layer: one SQS micro-batch of the function's dataset (`TWINFLOW_DATASET`) through the consumer core.
 * Poison records are quarantined and acknowledged; a transient failure comes back as `batchItemFailures`
 * (ReportBatchItemFailures) so SQS retries, then DLQs.
 * The core works on the whole batch at once (one DuckDB pass, one file per hour), so it decides which records
 * failed; Powertools' batch processor turns that into the partial response — and, when every record failed,
 * fails the invocation (FullBatchFailureError) so the outage shows in the function's error metric and alarm.
 */
async function ingest(event: SQSEvent): Promise<SQSBatchResponse> {
  if (!Array.isArray(event?.Records)) throw new InvalidInputError('expected an SQS event with Records');
  const result = await consumeMicroBatch(
    {
      messages: event.Records.map(streamMessageOf),
      dataset: env.dataset.name,
      allowedLatenessSeconds: env.allowedLatenessSeconds,
      policy: env.policy,
      source: 'sqs',
    },
    deps,
  );
  logger.appendKeys({ batchId: result.batchId, dataset: env.dataset.name });
  // Orders' metrics keep the dimensions they always had; another dataset's are told apart by theirs.
  if (env.dataset.name !== LEGACY_INGEST_DATASET) metrics.addDimension('dataset', env.dataset.name);
  metrics.addMetric('recordsReceived', MetricUnit.Count, result.received);
  metrics.addMetric('recordsValid', MetricUnit.Count, result.valid);
  metrics.addMetric('recordsQuarantined', MetricUnit.Count, result.quarantined);
  metrics.addMetric('recordsLate', MetricUnit.Count, result.late);
  metrics.addMetric('duplicatesRemoved', MetricUnit.Count, result.duplicates);
  metrics.addMetric('recordsFailed', MetricUnit.Count, result.failedMessageIds.length);
  metrics.addMetric('microBatchMs', MetricUnit.Milliseconds, result.durationMs);
  if (result.ingestLagMs) metrics.addMetric('ingestLagMs', MetricUnit.Milliseconds, result.ingestLagMs.max);
  // After the batch is stored: a level it moved may cross its threshold. A rule that fails is logged; it never
  // fails the batch (whose events are stored), and the scheduled evaluate-alerts catches up within a minute.
  if (balanceRules.length > 0 && result.valid > 0) {
    const started = performance.now();
    const { results } = await evaluateAlerts(balanceRules, { ...deps, sinks });
    metrics.addMetric(
      'alertsRaised',
      MetricUnit.Count,
      results.reduce((n, r) => n + r.fired.length, 0),
    );
    metrics.addMetric('alertEvaluationMs', MetricUnit.Milliseconds, performance.now() - started);
  }
  const failed = new Set(result.failedMessageIds);
  return processPartialResponse(
    event,
    (record: SQSRecord) => {
      if (failed.has(record.messageId)) {
        // The same words for every record of the batch, so a console can say them once with a count.
        throw new RecordNotStoredError(
          `not stored by micro-batch ${result.batchId}: ${result.error ?? 'write failed'}`,
        );
      }
    },
    processor,
  );
}

export const handler = middy(ingest)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
