import { randomUUID } from 'node:crypto';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { type Consumer, Kafka, logLevel } from 'kafkajs';
import { InvalidInputError } from '../pipeline/errors.ts';
import type { CoreDeps } from '../pipeline/ports.ts';
import { type FailedRange, failedRangesOf, kafkaFailureSchema } from '../stream/kafka-failures.ts';
import { type KafkaRecord, kafkaEventOf, kafkaMessagesOf, kafkaRecordOf } from '../stream/kafka-records.ts';
import { emptyTotals, type ReplayBatchOptions, type ReplayTotals, replayBatch } from './replay.ts';

/**
 * `twinflow replay --from-kafka` and the redrive of a Kafka dataset's DLQ: re-reads offset ranges of a topic and
 * runs them through the consumer core in-process, as the Lambda gets them (kafkajs message → Lambda Kafka record
 * → Powertools' parsing → the core). Records keep their identity `<topic>-<partition>-<offset>` and the core
 * dedups by the dataset's key, so reading a range that was already ingested counts nothing twice.
 *
 * The reader never disturbs the dataset's consumer group: it joins a throwaway group of its own, seeks each
 * partition to where the range starts and commits nothing.
 */

/** The env variable naming the Kafka cluster (`endpoints.env` of `twinflow start --ingest kafka` sets it). */
export const KAFKA_BOOTSTRAP_ENV = 'KAFKA_BOOTSTRAP_SERVERS';

/** The broker did not answer (or refused what we asked): one line naming the address. */
export class KafkaUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KafkaUnavailableError';
  }
}

/** What to read: a topic from an offset or a time on (every partition, or one), or explicit offset ranges. */
export type KafkaSelection =
  | { topic: string; partition?: number; fromOffset: number }
  | { topic: string; partition?: number; fromTimestamp: number }
  | { ranges: readonly FailedRange[] };

export interface KafkaReplayOptions extends ReplayBatchOptions {
  /** `host:port[,host:port…]`. */
  bootstrapServers: string;
  selection: KafkaSelection;
  /** Records per micro-batch (each micro-batch holds one partition's consecutive records). */
  batchSize: number;
  /** How long to wait for the broker to answer a connect, ms (default 5 s). */
  connectTimeoutMs?: number;
  /** Give up when no record arrives for this long while partitions still have records to read, ms (default 30 s). */
  idleTimeoutMs?: number;
}

/** What one partition contributed: the offsets read (inclusive) and the records replayed from them. */
export interface PartitionReplay {
  topic: string;
  partition: number;
  fromOffset: number;
  /** The last offset to read: the high watermark − 1 when the replay started, or the range's end. */
  toOffset: number;
  events: number;
}

export type KafkaReplayTotals = ReplayTotals & { partitions: PartitionReplay[] };

/** One partition's reading plan: offsets [start, end) and which of them belong to the replay. */
interface PartitionPlan {
  topic: string;
  partition: number;
  start: number;
  end: number;
  ranges: { first: number; last: number; fromTimestamp?: number; reached: boolean }[];
  buffer: KafkaRecord[];
  done: boolean;
  report: PartitionReplay;
}

/** `--from-offset` / `--partition`: a whole number ≥ 0. */
export function offsetArg(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) {
      throw new InvalidInputError(`--${name} must be a whole number ≥ 0, got "${value}"`, name);
    }
    return n;
  };
}

/** `--from-timestamp`: an ISO 8601 time or epoch milliseconds → epoch ms. */
export function timestampArg(value: string): number {
  const ms = /^\d+$/.test(value.trim()) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms)) {
    throw new InvalidInputError(
      `--from-timestamp must be an ISO 8601 time (2026-11-21T10:00:00Z) or epoch milliseconds, got "${value}"`,
      'from-timestamp',
    );
  }
  return ms;
}

/** The cluster to read: `given` (the flag), else `KAFKA_BOOTSTRAP_SERVERS`, else `fallback` (e.g. a DLQ record's). */
export function bootstrapServersOf(
  given: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  fallback?: string,
): string {
  const servers = given?.trim() || env[KAFKA_BOOTSTRAP_ENV]?.trim() || fallback?.trim();
  if (!servers) {
    throw new InvalidInputError(
      `no Kafka bootstrap servers: pass --bootstrap-servers host:port or set ${KAFKA_BOOTSTRAP_ENV} ` +
        '(.twinflow/endpoints.env of `twinflow start --ingest kafka` names it)',
      'bootstrap-servers',
    );
  }
  return servers;
}

function kafkaClient(bootstrapServers: string, connectTimeoutMs: number): Kafka {
  return new Kafka({
    clientId: 'twinflow-replay',
    brokers: bootstrapServers.split(',').map((s) => s.trim()),
    connectionTimeout: connectTimeoutMs,
    requestTimeout: Math.max(10_000, connectTimeoutMs),
    // A bounded wait for a broker that does not answer: a few quick retries, then one clear error.
    retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 1000 },
    logLevel: logLevel.NOTHING,
  });
}

function unavailable(bootstrapServers: string, error: unknown): KafkaUnavailableError {
  const e = error as Error & { cause?: Error };
  const why =
    e.cause?.message && e.cause.message !== e.message ? `${e.message} (${e.cause.message})` : e.message;
  return new KafkaUnavailableError(`cannot read from Kafka at ${bootstrapServers}: ${why}`);
}

/** The partitions to read and where, from the topics' metadata and their watermarks as they are now. */
async function plan(
  kafka: Kafka,
  bootstrapServers: string,
  selection: KafkaSelection,
): Promise<PartitionPlan[]> {
  const admin = kafka.admin();
  try {
    await admin.connect().catch((error: unknown) => {
      throw unavailable(bootstrapServers, error);
    });
    const wanted: {
      topic: string;
      partition?: number;
      first: number;
      last?: number;
      fromTimestamp?: number;
    }[] =
      'ranges' in selection
        ? selection.ranges.map((r) => ({
            topic: r.topic,
            partition: r.partition,
            first: r.firstOffset,
            last: r.lastOffset,
          }))
        : [
            {
              topic: selection.topic,
              ...(selection.partition !== undefined ? { partition: selection.partition } : {}),
              ...('fromOffset' in selection
                ? { first: selection.fromOffset }
                : // The broker may not answer offset-by-timestamp lookups (the local mock cluster does not), so the
                  // first record at or after the time is found by reading each partition from its start.
                  { first: 0, fromTimestamp: selection.fromTimestamp }),
            },
          ];
    const plans = new Map<string, PartitionPlan>();
    for (const topic of new Set(wanted.map((w) => w.topic))) {
      const offsets = await admin.fetchTopicOffsets(topic).catch((error: unknown) => {
        if ((error as { type?: string }).type === 'UNKNOWN_TOPIC_OR_PARTITION') {
          throw new InvalidInputError(
            `no topic ${topic} on the Kafka cluster at ${bootstrapServers}`,
            'topic',
          );
        }
        throw unavailable(bootstrapServers, error);
      });
      const watermarks = new Map(
        offsets.map((o) => [o.partition, { low: Number(o.low), high: Number(o.high) }]),
      );
      for (const w of wanted.filter((x) => x.topic === topic)) {
        if (w.partition !== undefined && !watermarks.has(w.partition)) {
          throw new InvalidInputError(
            `topic ${topic} has no partition ${w.partition} (it has ${watermarks.size}: ${[...watermarks.keys()].sort((a, b) => a - b).join(', ')})`,
            'partition',
          );
        }
        const partitions = w.partition !== undefined ? [w.partition] : [...watermarks.keys()];
        for (const partition of partitions) {
          const { low, high } = watermarks.get(partition) ?? { low: 0, high: 0 };
          // Up to the high watermark as it is now: records produced during the replay are the consumer's.
          const last = Math.min(high - 1, w.last ?? Number.POSITIVE_INFINITY);
          const first = Math.max(low, w.first);
          const key = `${topic}-${partition}`;
          const p =
            plans.get(key) ??
            ({
              topic,
              partition,
              start: first,
              end: last + 1,
              ranges: [],
              buffer: [],
              done: false,
              report: { topic, partition, fromOffset: first, toOffset: last, events: 0 },
            } satisfies PartitionPlan);
          plans.set(key, p);
          p.ranges.push({
            first,
            last,
            ...(w.fromTimestamp !== undefined ? { fromTimestamp: w.fromTimestamp } : {}),
            reached: w.fromTimestamp === undefined,
          });
          p.start = Math.min(p.start, first);
          p.end = Math.max(p.end, last + 1);
          p.report.fromOffset = Math.min(p.report.fromOffset, first);
          p.report.toOffset = Math.max(p.report.toOffset, last);
        }
      }
    }
    return [...plans.values()].sort((a, b) =>
      a.topic !== b.topic ? (a.topic < b.topic ? -1 : 1) : a.partition - b.partition,
    );
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Whether a record at `offset` with `timestamp` belongs to the replay (and notes a time range's first record). */
function isWanted(p: PartitionPlan, offset: number, timestamp: number): boolean {
  let wanted = false;
  for (const range of p.ranges) {
    if (offset < range.first || offset > range.last) continue;
    if (!range.reached && range.fromTimestamp !== undefined && timestamp >= range.fromTimestamp)
      range.reached = true;
    if (range.reached) wanted = true;
  }
  return wanted;
}

/**
 * Replays the selected offsets from Kafka through the consumer core, each partition's in order and in
 * micro-batches of `batchSize`. Always disconnects.
 * @throws InvalidInputError for a partition the topic lacks; KafkaUnavailableError when the broker does not
 *   answer in time or the records stop coming.
 */
export async function replayFromKafka(
  options: KafkaReplayOptions,
  deps: CoreDeps,
): Promise<KafkaReplayTotals> {
  const t0 = performance.now();
  const totals: KafkaReplayTotals = { ...emptyTotals(), partitions: [] };
  const { bootstrapServers } = options;
  const kafka = kafkaClient(bootstrapServers, options.connectTimeoutMs ?? 5000);
  const plans = await plan(kafka, bootstrapServers, options.selection);
  totals.partitions = plans.map((p) => p.report);
  const toRead = plans.filter((p) => p.start < p.end);
  if (toRead.length > 0) await read(kafka, toRead, totals, options, deps);
  totals.durationMs = Math.round(performance.now() - t0);
  return totals;
}

async function flush(p: PartitionPlan, totals: ReplayTotals, options: KafkaReplayOptions, deps: CoreDeps) {
  if (p.buffer.length === 0) return;
  const records = p.buffer.splice(0);
  const messages = await kafkaMessagesOf(kafkaEventOf(records, options.bootstrapServers));
  await replayBatch(messages, totals, options, deps);
  p.report.events += records.length;
}

async function read(
  kafka: Kafka,
  plans: PartitionPlan[],
  totals: ReplayTotals,
  options: KafkaReplayOptions,
  deps: CoreDeps,
): Promise<void> {
  const byKey = new Map(plans.map((p) => [`${p.topic}-${p.partition}`, p]));
  const { bootstrapServers } = options;
  // A group of its own (never the dataset's): nothing is committed, so the next replay starts where it is told.
  const consumer: Consumer = kafka.consumer({
    groupId: `twinflow-replay-${randomUUID()}`,
    retry: { retries: 2 },
  });
  let lastProgress = Date.now();
  let watchdog: NodeJS.Timeout | undefined;
  try {
    await consumer.connect().catch((error: unknown) => {
      throw unavailable(bootstrapServers, error);
    });
    const topics = [...new Set(plans.map((p) => p.topic))];
    await consumer.subscribe({ topics, fromBeginning: true }).catch((error: unknown) => {
      throw unavailable(bootstrapServers, error);
    });
    await new Promise<void>((resolve, reject) => {
      const idleMs = options.idleTimeoutMs ?? 30_000;
      watchdog = setInterval(() => {
        if (Date.now() - lastProgress < idleMs) return;
        const left = plans.filter((p) => !p.done).map((p) => `${p.topic}-${p.partition}`);
        reject(
          new KafkaUnavailableError(
            `no records from Kafka at ${bootstrapServers} for ${Math.round(idleMs / 1000)} s; still to read: ${left.join(', ')}`,
          ),
        );
      }, 250);
      consumer.on(consumer.events.CRASH, ({ payload }) =>
        reject(unavailable(bootstrapServers, payload.error)),
      );
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch, resolveOffset, heartbeat, pause }) => {
            lastProgress = Date.now();
            const p = byKey.get(`${batch.topic}-${batch.partition}`);
            if (!p || p.done) {
              pause();
              return;
            }
            try {
              for (const message of batch.messages) {
                const offset = Number(message.offset);
                if (offset >= p.end) break;
                if (offset >= p.start && isWanted(p, offset, Number(message.timestamp))) {
                  p.buffer.push(kafkaRecordOf(p.topic, p.partition, message));
                  if (p.buffer.length >= options.batchSize) await flush(p, totals, options, deps);
                }
                resolveOffset(message.offset);
                await heartbeat();
                lastProgress = Date.now();
              }
              if (Number(batch.lastOffset()) >= p.end - 1) {
                await flush(p, totals, options, deps);
                p.done = true;
                pause();
                if (plans.every((x) => x.done)) resolve();
              }
            } catch (error) {
              p.done = true;
              pause();
              reject(error);
            }
          },
        })
        .catch((error: unknown) => reject(unavailable(bootstrapServers, error)));
      for (const p of plans)
        consumer.seek({ topic: p.topic, partition: p.partition, offset: String(p.start) });
    });
  } finally {
    clearInterval(watchdog);
    await consumer.disconnect().catch(() => undefined);
  }
}

/** A DLQ message body as one readable line when it is a Kafka failure record (`undefined` otherwise). */
export function describeKafkaFailure(body: string): string | undefined {
  const ranges = failedRangesOf(body);
  if (!ranges) return undefined;
  const record = kafkaFailureSchema.parse(JSON.parse(body));
  const where = [...ranges]
    .sort((a, b) => (a.topic !== b.topic ? (a.topic < b.topic ? -1 : 1) : a.partition - b.partition))
    .map((r) => `${r.topic}-${r.partition} offsets ${r.firstOffset}..${r.lastOffset}`)
    .join('; ');
  const error = record.responseContext?.functionError ? `, ${record.responseContext.functionError}` : '';
  return (
    `Kafka failure record (${record.requestContext.condition}, ${record.requestContext.approximateInvokeCount} ` +
    `invocation(s)${error}, ${record.timestamp}): ${where}`
  );
}

/** Sums replay totals (the micro-batch counts, and the partitions' reports one after the other). */
function addTotals(into: KafkaReplayTotals, more: KafkaReplayTotals): void {
  for (const key of [
    'batches',
    'received',
    'valid',
    'quarantined',
    'duplicates',
    'late',
    'orders',
    'failed',
  ] as const)
    into[key] += more[key];
  into.partitions.push(...more.partitions);
}

export interface KafkaRedriveResult extends KafkaReplayTotals {
  /** Kafka failure records whose ranges went through the core, deleted from the DLQ. */
  redriven: number;
  /** Kafka failure records left in the DLQ (their replay had failed records). */
  kept: number;
  /** Other (SQS) messages seen, left in the DLQ for the queue redrive. */
  others: number;
}

/**
 * Redrives the Kafka failure records of a DLQ: receives its messages, replays the ranges each Kafka failure
 * record names from the topic (through the core, as `replay --from-kafka`), and deletes a record only after its
 * ranges went through without failed records. Every other message is made visible again at the end, for the SQS
 * redrive. The cluster: `bootstrapServers(recordsServers)` per record.
 */
export async function redriveKafkaFailures(
  client: SQSClient,
  options: Omit<KafkaReplayOptions, 'selection' | 'bootstrapServers'> & {
    dlqUrl: string;
    bootstrapServers: (recordServers: string | undefined) => string;
  },
  deps: CoreDeps,
): Promise<KafkaRedriveResult> {
  const t0 = performance.now();
  const result: KafkaRedriveResult = { ...emptyTotals(), partitions: [], redriven: 0, kept: 0, others: 0 };
  const release: Message[] = [];
  try {
    for (;;) {
      const received = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: options.dlqUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 300,
          // A long poll: a short one may come back empty while messages wait, ending the redrive early.
          WaitTimeSeconds: 1,
        }),
      );
      const messages = received.Messages ?? [];
      if (messages.length === 0) break;
      // By cluster: one read per cluster for the records of this receive.
      const groups = new Map<string, { messages: Message[]; ranges: FailedRange[] }>();
      for (const m of messages) {
        const ranges = failedRangesOf(m.Body ?? '');
        if (!ranges) {
          result.others += 1;
          release.push(m);
          continue;
        }
        const recordServers = kafkaFailureSchema.parse(JSON.parse(m.Body ?? '')).KafkaBatchInfo
          .bootstrapServers;
        const servers = options.bootstrapServers(recordServers);
        const group = groups.get(servers) ?? { messages: [], ranges: [] };
        groups.set(servers, group);
        group.messages.push(m);
        group.ranges.push(...ranges);
      }
      for (const [servers, group] of groups) {
        // Until their ranges went through, the records are released (visible again) if anything goes wrong.
        release.push(...group.messages);
        const totals = await replayFromKafka(
          { ...options, bootstrapServers: servers, selection: { ranges: group.ranges } },
          deps,
        );
        addTotals(result, totals);
        if (totals.failed > 0) {
          result.kept += group.messages.length;
          continue;
        }
        const deleted = await client.send(
          new DeleteMessageBatchCommand({
            QueueUrl: options.dlqUrl,
            Entries: group.messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
          }),
        );
        const gone = new Set((deleted.Successful ?? []).map((d) => group.messages[Number(d.Id)]));
        result.redriven += gone.size;
        result.kept += group.messages.length - gone.size;
        release.splice(0, release.length, ...release.filter((m) => !gone.has(m)));
      }
    }
  } finally {
    for (let i = 0; i < release.length; i += 10) {
      await client
        .send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: options.dlqUrl,
            Entries: release.slice(i, i + 10).map((m, j) => ({
              Id: String(j),
              ReceiptHandle: m.ReceiptHandle,
              VisibilityTimeout: 0,
            })),
          }),
        )
        .catch(() => undefined);
    }
  }
  result.durationMs = Math.round(performance.now() - t0);
  return result;
}
