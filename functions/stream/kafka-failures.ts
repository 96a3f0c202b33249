import { z } from 'zod';

/**
 * What a Kafka event source mapping sends its on-failure destination (the dataset's DLQ, an SQS queue) when a
 * batch keeps failing (retries exhausted, or records older than the maximum record age): not the records, but
 * which offsets of which partitions failed. Operators replay those ranges from the topic
 * (`twinflow dlq redrive`, `twinflow replay --from-kafka`). The local emulation writes the same document.
 */

const rangeSchema = z.object({
  firstRecordOffset: z.coerce.string(),
  firstRecordTimestamp: z.string().optional(),
  lastRecordOffset: z.coerce.string(),
  lastRecordTimestamp: z.string().optional(),
});

export const kafkaFailureSchema = z.object({
  requestContext: z.object({
    requestId: z.string(),
    functionArn: z.string(),
    condition: z.string(),
    approximateInvokeCount: z.number(),
  }),
  responseContext: z
    .object({
      statusCode: z.number().optional(),
      executedVersion: z.string().optional(),
      functionError: z.string().optional(),
    })
    .optional(),
  version: z.string(),
  timestamp: z.string(),
  KafkaBatchInfo: z.object({
    batchSize: z.number(),
    bootstrapServers: z.string().optional(),
    payloadSize: z.number().optional(),
    /** By `<topic>-<partition>`: the offsets (inclusive) of the failed batch's records there. */
    recordsInfo: z.record(z.string(), rangeSchema),
  }),
});

export type KafkaFailureRecord = z.infer<typeof kafkaFailureSchema>;

/** One partition's failed offsets, inclusive. */
export interface FailedRange {
  topic: string;
  partition: number;
  firstOffset: number;
  lastOffset: number;
}

/** `twinflow.orders-3` → topic `twinflow.orders`, partition 3 (topics may contain `-`). */
export function splitTopicPartition(key: string): { topic: string; partition: number } {
  const at = key.lastIndexOf('-');
  const partition = Number(key.slice(at + 1));
  if (at <= 0 || !Number.isInteger(partition) || partition < 0) {
    throw new Error(`"${key}" is not <topic>-<partition>`);
  }
  return { topic: key.slice(0, at), partition };
}

/** The failed ranges a DLQ message names, or undefined when the body is not a Kafka failure record. */
export function failedRangesOf(body: string): FailedRange[] | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  const parsed = kafkaFailureSchema.safeParse(json);
  if (!parsed.success) return undefined;
  return Object.entries(parsed.data.KafkaBatchInfo.recordsInfo).map(([key, range]) => ({
    ...splitTopicPartition(key),
    firstOffset: Number(range.firstRecordOffset),
    lastOffset: Number(range.lastRecordOffset),
  }));
}

/** The failure record of a batch of records (`{topic, partition, offset, timestamp}`), as Lambda writes it. */
export function kafkaFailureRecordOf(input: {
  records: readonly { topic: string; partition: number; offset: number; timestamp: number }[];
  functionArn: string;
  requestId: string;
  condition: 'RetryAttemptsExhausted' | 'RecordAgeExceeded';
  invokeCount: number;
  functionError?: string;
  bootstrapServers: string;
  payloadSize: number;
  now: Date;
}): KafkaFailureRecord {
  const recordsInfo: KafkaFailureRecord['KafkaBatchInfo']['recordsInfo'] = {};
  const iso = (ms: number) => new Date(ms).toISOString();
  for (const r of input.records) {
    const key = `${r.topic}-${r.partition}`;
    const range = recordsInfo[key];
    if (!range) {
      recordsInfo[key] = {
        firstRecordOffset: String(r.offset),
        firstRecordTimestamp: iso(r.timestamp),
        lastRecordOffset: String(r.offset),
        lastRecordTimestamp: iso(r.timestamp),
      };
      continue;
    }
    if (r.offset < Number(range.firstRecordOffset)) {
      range.firstRecordOffset = String(r.offset);
      range.firstRecordTimestamp = iso(r.timestamp);
    }
    if (r.offset > Number(range.lastRecordOffset)) {
      range.lastRecordOffset = String(r.offset);
      range.lastRecordTimestamp = iso(r.timestamp);
    }
  }
  return {
    requestContext: {
      requestId: input.requestId,
      functionArn: input.functionArn,
      condition: input.condition,
      approximateInvokeCount: input.invokeCount,
    },
    responseContext: {
      statusCode: 200,
      executedVersion: '$LATEST',
      ...(input.functionError ? { functionError: input.functionError } : {}),
    },
    version: '1.0',
    timestamp: input.now.toISOString(),
    KafkaBatchInfo: {
      batchSize: input.records.length,
      bootstrapServers: input.bootstrapServers,
      payloadSize: input.payloadSize,
      recordsInfo,
    },
  };
}
