import { type Dataset, isStreamed } from '../pipeline/datasets.ts';
import { InvalidInputError } from '../pipeline/errors.ts';

/** A dataset's stream queue, or the dead-letter queue behind it. */
export type QueueKind = 'queue' | 'dlq';

/** The env variable naming a dataset's queue URL: `ORDERS_QUEUE_URL`, `STOCK_MOVES_DLQ_URL`. */
export function queueUrlEnv(datasetName: string, kind: QueueKind): string {
  return `${datasetName.toUpperCase()}_${kind === 'dlq' ? 'DLQ' : 'QUEUE'}_URL`;
}

/**
 * Refuses a dataset without a stream (`source: batch`) for what only a stream has (`what`: "a DLQ to inspect").
 * @throws InvalidInputError naming the dataset.
 */
export function requireStream(ds: Dataset, what: string): void {
  if (!isStreamed(ds)) {
    throw new InvalidInputError(
      `dataset "${ds.name}" has no stream (source: batch), so it has no ${what}`,
      'dataset',
    );
  }
}

/**
 * The URL of a stream dataset's queue or DLQ: `given` (the `--queue-url` flag), else `<DATASET>_QUEUE_URL` /
 * `<DATASET>_DLQ_URL` from `env`.
 * @throws InvalidInputError naming the dataset (no stream) or the flag and the variable (no URL).
 */
export function datasetQueueUrl(
  ds: Dataset,
  kind: QueueKind,
  given: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): string {
  requireStream(ds, kind === 'dlq' ? 'dead-letter queue' : 'queue');
  const url = given ?? env[queueUrlEnv(ds.name, kind)];
  if (url === undefined || url.trim() === '') {
    throw new InvalidInputError(
      `no ${kind === 'dlq' ? 'DLQ' : 'queue'} URL for dataset "${ds.name}": pass --queue-url or set ${queueUrlEnv(ds.name, kind)}`,
      'queue-url',
    );
  }
  return url;
}

/** The env variable naming a dataset's Kafka topic: `KAFKA_TOPIC_ORDERS` (`endpoints.env` names one per dataset). */
export function kafkaTopicEnv(datasetName: string): string {
  return `KAFKA_TOPIC_${datasetName.toUpperCase()}`;
}
