import {
  BatchProcessor,
  EventType,
  FullBatchFailureError,
  processPartialResponse,
} from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { SNSClient } from '@aws-sdk/client-sns';
import middy from '@middy/core';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { alertRulesOf, evaluateAlerts } from '../alerts/rules.ts';
import { snsRuleAlertSink } from '../alerts/sns-sink.ts';
import { log, logger, metrics } from '../lambda/observability.ts';
import { InvalidInputError } from '../pipeline/errors.ts';
import {
  isKafkaEvent,
  type KafkaEvent,
  type KafkaItemIdentifier,
  kafkaBatchResponseOf,
  kafkaMessagesOf,
} from '../stream/kafka-records.ts';
import { consumeMicroBatch, type MicroBatchResult, type StreamMessage } from '../stream/micro-batch.ts';
import { streamMessageOf } from '../stream/sqs-records.ts';
import { LEGACY_INGEST_DATASET } from './dataset.ts';
import { env } from './env.ts';

const deps = { store: env.store, clock: () => new Date(), log, timeZone: env.timeZone };
/** The dataset's balance alert rules (inventory's low_stock): evaluated after each micro-batch, within seconds. */
const balanceRules = alertRulesOf({ datasets: [env.dataset.name], balancesOnly: true });
const sns = env.alertTopicArn && balanceRules.length > 0 ? new SNSClient({}) : undefined;
const sinks = sns && env.alertTopicArn ? [snsRuleAlertSink(sns, env.alertTopicArn)] : [];
const processor = new BatchProcessor(EventType.SQS);

/** A record whose micro-batch write failed: reported so the source delivers it again (and finally dead-letters it). */
class RecordNotStoredError extends Error {
  override readonly name = 'RecordNotStoredError';
}

/**
 * The partial batch response (ReportBatchItemFailures) of both sources: SQS message ids, Kafka
 * `{partition: '<topic>-<partition>', offset}` objects.
 */
type BatchResponse = { batchItemFailures: { itemIdentifier: string | KafkaItemIdentifier }[] };

/** The one error of every record the core did not store: the same words for each, so a console says them once. */
function notStored(result: MicroBatchResult): RecordNotStoredError {
  return new RecordNotStoredError(
    `not stored by micro-batch ${result.batchId}: ${result.error ?? 'write failed'}`,
  );
}

/**
 * The part both sources share: the micro-batch through the consumer core, its metrics, then the dataset's balance
 * alert rules. Only the adapters around it differ (how records become messages, how failures are reported).
 */
async function consume(messages: StreamMessage[], source: 'sqs' | 'kafka'): Promise<MicroBatchResult> {
  const result = await consumeMicroBatch(
    {
      messages,
      dataset: env.dataset.name,
      allowedLatenessSeconds: env.allowedLatenessSeconds,
      policy: env.policy,
      source,
    },
    deps,
  );
  logger.appendKeys({ batchId: result.batchId, dataset: env.dataset.name, source });
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
  return result;
}

/**
 * Kafka adapter: failures are `{partition: '<topic>-<partition>', offset}`, in partition and offset order. Powertools' batch
 * processor has no Kafka event type, so a batch where no record was stored throws FullBatchFailureError itself,
 * as it does for SQS: the function's Errors metric, the mapping's retries and its on-failure destination see it.
 */
async function ingestKafka(event: KafkaEvent): Promise<BatchResponse> {
  const messages = await kafkaMessagesOf(event);
  const result = await consume(messages, 'kafka');
  const failed = new Set(result.failedMessageIds);
  const failedIds = messages.map((m) => m.messageId).filter((id) => failed.has(id));
  if (messages.length > 0 && failedIds.length === messages.length) {
    throw new FullBatchFailureError(failedIds.map(() => notStored(result)));
  }
  return kafkaBatchResponseOf(failedIds);
}

/**
 * SQS adapter: the core decides which records failed; Powertools' batch processor turns that into the partial
 * response — and, when every record failed, fails the invocation (FullBatchFailureError).
 */
async function ingestSqs(event: SQSEvent): Promise<BatchResponse> {
  const result = await consume(event.Records.map(streamMessageOf), 'sqs');
  const failed = new Set(result.failedMessageIds);
  return processPartialResponse(
    event,
    (record: SQSRecord) => {
      if (failed.has(record.messageId)) throw notStored(result);
    },
    processor,
  );
}

/**
 * Speed layer: one micro-batch of the function's dataset (`TWINFLOW_DATASET`) through the consumer core, from an
 * SQS queue or a Kafka topic (MSK `aws:kafka` or `SelfManagedKafka`) — the same quarantine, dedup and metrics.
 * Poison records are quarantined and acknowledged; a transient failure comes back as `batchItemFailures`
 * (ReportBatchItemFailures) so the source retries, then dead-letters (SQS DLQ, Kafka on-failure destination).
 * The core works on the whole batch at once (one DuckDB pass, one file per hour), so it decides which records
 * failed; when every record failed the invocation fails, so the outage shows in the function's error metric.
 */
async function ingest(event: unknown): Promise<BatchResponse> {
  if (isKafkaEvent(event)) return ingestKafka(event);
  if (Array.isArray((event as Partial<SQSEvent> | null)?.Records)) return ingestSqs(event as SQSEvent);
  throw new InvalidInputError(
    'expected an SQS event with Records, or a Kafka event (eventSource "aws:kafka" or "SelfManagedKafka") with ' +
      'records keyed by topic-partition',
  );
}

export const handler = middy(ingest)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
