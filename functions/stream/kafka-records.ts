import { isUtf8 } from 'node:buffer';
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

/**
 * Whether a Lambda event is a Kafka one: `eventSource` `aws:kafka` (MSK) or `SelfManagedKafka`, and `records` an
 * object of lists of records that name their topic, partition and offset (not SQS `Records`).
 */
export function isKafkaEvent(event: unknown): event is KafkaEvent {
  if (event === null || typeof event !== 'object') return false;
  const { eventSource, records } = event as { eventSource?: unknown; records?: unknown };
  return (
    (eventSource === 'aws:kafka' || eventSource === 'SelfManagedKafka') &&
    records !== null &&
    typeof records === 'object' &&
    !Array.isArray(records) &&
    Object.values(records).every((list) => Array.isArray(list) && list.every(isRecordShaped))
  );
}

/** A record with what its identity needs: a topic, a partition and an offset (the rest is parsed later). */
function isRecordShaped(record: unknown): boolean {
  if (record === null || typeof record !== 'object') return false;
  const { topic, partition, offset } = record as Record<string, unknown>;
  return typeof topic === 'string' && Number.isInteger(partition) && Number.isInteger(Number(offset));
}

/**
 * A record's identity (its message id in the core and in quarantine): `<topic>-<partition>-<offset>`. Unique per
 * record and stable across redeliveries, so the micro-batch id of a redelivered batch is the same. A partial batch
 * response names the record by the same parts as an object (`KafkaItemIdentifier`).
 */
export function kafkaRecordId(record: Pick<KafkaRecord, 'topic' | 'partition' | 'offset'>): string {
  return `${record.topic}-${record.partition}-${record.offset}`;
}

/**
 * A value's bytes as text where they are not UTF-8, as a replayed file line shows them: valid sequences decoded,
 * every other byte as `\xNN` — recoverable from the quarantine record, and never valid JSON.
 */
function escapedInvalidUtf8(bytes: Buffer): string {
  let text = '';
  for (let at = 0; at < bytes.length; ) {
    const lead = bytes[at] ?? 0;
    const size = lead < 0x80 ? 1 : lead < 0xc2 ? 0 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : lead < 0xf5 ? 4 : 0;
    if (size > 0 && isUtf8(bytes.subarray(at, at + size))) {
      text += bytes.toString('utf8', at, at + size);
      at += size;
    } else {
      text += `\\x${lead.toString(16).toUpperCase().padStart(2, '0')}`;
      at += 1;
    }
  }
  return text;
}

/** A deserialized record (Powertools' `ConsumerRecord`, value as text) as the consumer core's message. */
function messageOf(record: TextRecord): StreamMessage {
  const sent = Number(record.timestamp);
  // Powertools decodes bytes that are not UTF-8 to U+FFFD, which could pass validation: such a record is
  // quarantined as not UTF-8 instead, its bytes shown as `\xNN`.
  const bytes =
    typeof record.originalValue === 'string' ? Buffer.from(record.originalValue, 'base64') : undefined;
  const invalid = bytes !== undefined && !isUtf8(bytes);
  return {
    messageId: kafkaRecordId(record),
    body: invalid ? escapedInvalidUtf8(bytes) : (record.value ?? ''),
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

/**
 * A Kafka partial batch response's item identifier: the `records` key of the record's topic-partition and its offset.
 * Unlike SQS, Kinesis and DynamoDB (a string), Lambda's Kafka mappings read an object here; a string, a missing
 * key or a record the event did not hold fails the whole batch.
 */
export interface KafkaItemIdentifier {
  partition: string;
  offset: number;
}

/** `twinflow.orders-3-120` (a record's id, `kafkaRecordId`) → `{partition: 'twinflow.orders-3', offset: 120}`. */
function itemIdentifierOf(recordId: string): KafkaItemIdentifier {
  const at = recordId.lastIndexOf('-');
  const offset = Number(recordId.slice(at + 1));
  if (at <= 0 || !Number.isInteger(offset))
    throw new Error(`"${recordId}" is not <topic>-<partition>-<offset>`);
  return { partition: recordId.slice(0, at), offset };
}

/**
 * The record id (`<topic>-<partition>-<offset>`) a partial batch response's item identifier names, or undefined
 * when it is not a Kafka item identifier (`{partition: '<topic>-<partition>', offset}`).
 */
export function recordIdOfItemIdentifier(identifier: unknown): string | undefined {
  if (identifier === null || typeof identifier !== 'object') return undefined;
  const { partition, offset } = identifier as Record<string, unknown>;
  if (typeof partition !== 'string' || partition === '') return undefined;
  const at = Number(offset);
  if ((typeof offset !== 'number' && typeof offset !== 'string') || !Number.isInteger(at) || at < 0)
    return undefined;
  return `${partition}-${at}`;
}

/** The partial batch response (ReportBatchItemFailures) naming the records Kafka must deliver again. */
export function kafkaBatchResponseOf(failedRecordIds: readonly string[]): {
  batchItemFailures: { itemIdentifier: KafkaItemIdentifier }[];
} {
  return { batchItemFailures: failedRecordIds.map((id) => ({ itemIdentifier: itemIdentifierOf(id) })) };
}
