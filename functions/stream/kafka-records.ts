import { kafkaConsumer } from '@aws-lambda-powertools/kafka';
import type { ConsumerRecord } from '@aws-lambda-powertools/kafka/types';
import type { Context, MSKEvent, SelfManagedKafkaEvent } from 'aws-lambda';
import type { StreamMessage } from './micro-batch.ts';

/**
 * The one mapping between Kafka and the consumer core, as `sqs-records.ts` is for SQS. Records reach the core only
 * as Lambda Kafka event records (MSK `aws:kafka` or `SelfManagedKafka`: `records` keyed by `<topic>-<partition>`,
 * base64 `key` and `value`, headers as byte arrays): the Lambda handler gets them from the event source mapping;
 * the local emulation of that mapping and `twinflow replay --from-kafka` build the same records from what kafkajs
 * fetched (`kafkaRecordOf`), then map them here.
 */

export type KafkaEvent = MSKEvent | SelfManagedKafkaEvent;
export type KafkaRecord = MSKEvent['records'][string][number];

/** Whether a Lambda event is a Kafka one (MSK or self-managed): an object of `records` lists, not SQS `Records`. */
export function isKafkaEvent(event: unknown): event is KafkaEvent {
  if (event === null || typeof event !== 'object') return false;
  const records = (event as { records?: unknown }).records;
  return (
    records !== null &&
    typeof records === 'object' &&
    !Array.isArray(records) &&
    Object.values(records).every(Array.isArray)
  );
}

/**
 * A record's identity, and its failure identifier in a partial batch response: `<topic>-<partition>-<offset>`.
 * Unique per record and stable across redeliveries, so the micro-batch id of a redelivered batch is the same.
 */
export function kafkaRecordId(record: Pick<KafkaRecord, 'topic' | 'partition' | 'offset'>): string {
  return `${record.topic}-${record.partition}-${record.offset}`;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Whether a record's raw (base64) value holds bytes that are not UTF-8 (Powertools decodes them to U+FFFD). */
function isInvalidUtf8(base64: string): boolean {
  try {
    strictUtf8.decode(Buffer.from(base64, 'base64'));
    return false;
  } catch {
    return true;
  }
}

/** A deserialized record (Powertools' `ConsumerRecord`, value as text) as the consumer core's message. */
function messageOf(record: TextRecord): StreamMessage {
  const sent = Number(record.timestamp);
  const invalid = typeof record.originalValue === 'string' && isInvalidUtf8(record.originalValue);
  return {
    messageId: kafkaRecordId(record),
    // A record that is not UTF-8 shows its bytes as `\xNN` (as a replayed file line does) and is quarantined.
    body: invalid
      ? [...Buffer.from(record.originalValue, 'base64')]
          .map((b) => (b < 0x80 ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`))
          .join('')
      : (record.value ?? ''),
    ...(Number.isFinite(sent) && sent > 0 ? { sentAt: new Date(sent) } : {}),
    ...(invalid ? { isInvalidUtf8: true } : {}),
  };
}

/** Powertools' Kafka parsing (base64 values as UTF-8 text, headers decoded), its records flattened. */
type TextRecord = ConsumerRecord<unknown, string | null | undefined>;

const deserialize = kafkaConsumer<unknown, string | null | undefined>(async (event) => event.records) as (
  event: KafkaEvent,
  context: Context,
) => Promise<TextRecord[]>;

/**
 * Every record of a Kafka event as the consumer core's messages, parsed by Powertools' Kafka consumer, each
 * partition's in offset order (a batch keeps per-partition order): the value is the body, the record's timestamp
 * the send time.
 * @throws KafkaConsumerError (Powertools) when the event has no `records` object of lists.
 */
export async function kafkaMessagesOf(event: KafkaEvent): Promise<StreamMessage[]> {
  const records = await deserialize(event, {} as Context);
  return [...records]
    .sort((a, b) =>
      a.topic !== b.topic
        ? a.topic < b.topic
          ? -1
          : 1
        : a.partition - b.partition || Number(a.offset) - Number(b.offset),
    )
    .map(messageOf);
}

/** A fetched message (kafkajs' shape: Buffers, string offsets and timestamps) as Lambda's event record. */
export function kafkaRecordOf(
  topic: string,
  partition: number,
  message: {
    offset: string;
    timestamp: string;
    key: Buffer | null;
    value: Buffer | null;
    headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
  },
): KafkaRecord {
  const headers: KafkaRecord['headers'] = [];
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
      headers.push({ [name]: [...Buffer.from(one)] });
    }
  }
  return {
    topic,
    partition,
    offset: Number(message.offset),
    timestamp: Number(message.timestamp),
    timestampType: 'CREATE_TIME',
    key: message.key ? message.key.toString('base64') : '',
    value: message.value ? message.value.toString('base64') : '',
    headers,
  };
}

/** A self-managed Kafka event of records, keyed by `<topic>-<partition>` as Lambda groups them. */
export function kafkaEventOf(
  records: readonly KafkaRecord[],
  bootstrapServers: string,
): SelfManagedKafkaEvent {
  const grouped: Record<string, KafkaRecord[]> = {};
  for (const record of records) {
    const key = `${record.topic}-${record.partition}`;
    grouped[key] ??= [];
    grouped[key].push(record);
  }
  return { eventSource: 'SelfManagedKafka', bootstrapServers, records: grouped };
}

/** The partial batch response (ReportBatchItemFailures) naming the records Kafka must deliver again. */
export function kafkaBatchResponseOf(failedMessageIds: readonly string[]): {
  batchItemFailures: { itemIdentifier: string }[];
} {
  return { batchItemFailures: failedMessageIds.map((itemIdentifier) => ({ itemIdentifier })) };
}
