import { randomUUID } from 'node:crypto';
import { type Admin, type Consumer, type EachBatchPayload, Kafka, logLevel } from 'kafkajs';
import pLimit from 'p-limit';
import { type KafkaFailureRecord, kafkaFailureRecordOf } from '../functions/stream/kafka-failures.ts';
import {
  type KafkaRecord,
  kafkaEventOf,
  kafkaRecordId,
  kafkaRecordOf,
  recordIdOfItemIdentifier,
} from '../functions/stream/kafka-records.ts';
import type { InvocationOutcome } from './function-host.ts';
import { recordsToRetry } from './sqs-event-source.ts';

/**
 * The one emulation of Lambda's Kafka event source mapping (MSK or self-managed), as `SqsEventSource` is for SQS.
 * The local runtime runs one per enabled Kafka mapping of the template; tests drive the consumer core through it.
 * As Lambda does:
 *
 * - **Consumer group.** It joins the mapping's consumer group on the mapping's topic; a new group starts at the
 *   oldest record (TRIM_HORIZON) or at new records only (LATEST). Partitions are invoked concurrently (up to
 *   `maxConcurrency`), each in offset order: a partition's next batch waits until its current one settled.
 * - **Batch size and batching window.** A partition's records gather into a batch until it holds `batchSize`
 *   records or the window, counted from its first record, has passed; the function gets a Kafka event of them
 *   (`records` keyed by `<topic>-<partition>`). Each partition has one batch in flight at a time.
 * - **Offsets.** A partition's offset is committed only after the records before it succeeded (or went to the
 *   failure destination): a crash before that delivers them again, and the consumer core counts them once.
 * - **Errors.** A failed invocation (thrown error, timeout, crash, malformed response) is retried with the whole
 *   batch; with ReportBatchItemFailures only each partition's records from its lowest failed offset on. After
 *   `retryAttempts` retries (-1: forever, but 10 with a destination, as Lambda caps it), the failed records go to
 *   the failure destination as a record of their offsets (`kafka-failures.ts`) and are committed past. Records
 *   older than `maxRecordAgeSeconds` go there without an invocation.
 *
 * Not emulated: the 6 MB payload limit, poller scaling, bisecting a batch on error, SASL/TLS (the local broker
 * has no authentication).
 */

export interface KafkaEventSourceOptions {
  bootstrapServers: string;
  topic: string;
  groupId: string;
  startingPosition: 'TRIM_HORIZON' | 'LATEST';
  batchSize: number;
  maxBatchingWindowSeconds: number;
  reportBatchItemFailures: boolean;
  /** Retries of a failed batch: -1 forever (10 with a failure destination). */
  retryAttempts: number;
  /** -1: any age. */
  maxRecordAgeSeconds: number;
  /** Partitions processed at once (invocations in flight). */
  maxConcurrency: number;
  /** The function's ARN, for the failure records. */
  functionArn: string;
  invoke: (event: ReturnType<typeof kafkaEventOf>) => Promise<InvocationOutcome>;
  /**
   * The failure destination: sends a failure record (e.g. to the DLQ). Without one, records whose retries ran out
   * are dropped (reported through `onError`), as Lambda does.
   */
  onFailure?: (record: KafkaFailureRecord) => Promise<void>;
  onBatch?: (report: KafkaBatchReport) => void;
  onError?: (error: Error) => void;
  /** Wait between retries of a failed batch, ms (default 500). */
  retryDelayMs?: number;
}

export interface KafkaBatchReport {
  size: number;
  /** Records that succeeded (committed past). */
  succeeded: number;
  /** Records sent to the failure destination. */
  failed: number;
  attempts: number;
  outcome: InvocationOutcome;
  batchFailure?: string;
}

/** One partition's consumer lag: the high watermark minus the group's committed offset. */
export interface PartitionLag {
  partition: number;
  committed: number;
  high: number;
  lag: number;
}

/**
 * A consumer group's lag on each partition of a topic: the high watermark minus the group's committed offset (the
 * partition's low watermark while the group has committed nothing there).
 */
export async function groupLag(admin: Admin, topic: string, groupId: string): Promise<PartitionLag[]> {
  const [ends, [committed]] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId, topics: [topic] }),
  ]);
  return ends
    .map((end) => {
      const at = Number(committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? -1);
      const position = at < 0 ? Number(end.low) : at;
      const high = Number(end.high);
      return { partition: end.partition, committed: position, high, lag: Math.max(0, high - position) };
    })
    .sort((a, b) => a.partition - b.partition);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A partition's records fetched and not yet settled, in offset order. */
interface PartitionQueue {
  topic: string;
  partition: number;
  records: KafkaRecord[];
  timer?: NodeJS.Timeout | undefined;
  /** A batch of it is being invoked. */
  running: boolean;
  paused: boolean;
}

/** A partition this many batches behind its function stops fetching until it catches up. */
const PAUSE_AFTER_BATCHES = 10;

export class KafkaEventSource {
  private readonly kafka: Kafka;
  private consumer: Consumer | undefined;
  private readonly queues = new Map<string, PartitionQueue>();
  private readonly limit: ReturnType<typeof pLimit>;
  private stopping = false;
  private assigned: number[] = [];
  /** Connected on the first `lag()` (the runtime asks every few seconds), disconnected on stop. */
  private admin: Promise<Admin> | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: KafkaEventSourceOptions) {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1 || options.batchSize > 10_000) {
      throw new RangeError(`batch size must be an integer from 1 to 10000, not ${options.batchSize}`);
    }
    this.kafka = new Kafka({
      clientId: `twinflow-esm-${options.groupId}`,
      brokers: options.bootstrapServers.split(','),
      logLevel: logLevel.NOTHING,
      retry: { retries: 8 },
    });
    this.limit = pLimit(Math.max(1, options.maxConcurrency));
  }

  /** Joins the consumer group and consumes until `stop()`. Resolves once the consumer runs. */
  async start(): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: this.options.groupId,
      // A member that crashed is replaced after this (the mock broker ignores LeaveGroup, so a clean stop too).
      sessionTimeout: 6000,
      rebalanceTimeout: 6000,
      heartbeatInterval: 1000,
      // Fetches return within 250 ms (the broker holds a fetch its whole wait even when records arrive): the
      // batching window is the partition queue's timer, not the fetch's.
      maxWaitTimeInMs: 250,
    });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({
      topic: this.options.topic,
      fromBeginning: this.options.startingPosition === 'TRIM_HORIZON',
    });
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      this.assigned = [...(event.payload.memberAssignment[this.options.topic] ?? [])].sort((a, b) => a - b);
    });
    consumer.on(consumer.events.CRASH, (event) => {
      this.options.onError?.(event.payload.error);
      // kafkajs restarts itself after retriable errors only; a mapping keeps polling whatever the error (the mock
      // broker answers a follower's SyncGroup during a rebalance with a protocol error now and then).
      if (!event.payload.restart && !this.stopping) this.restartAfterCrash();
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.max(1, this.options.maxConcurrency),
      eachBatch: (payload) => this.consumePartitionBatch(payload),
    });
  }

  /**
   * A new consumer in place of a crashed one: the records it had fetched but not invoked are dropped (uncommitted,
   * so the new member of the group fetches them again from the committed offsets).
   */
  private restartAfterCrash(): void {
    for (const queue of this.queues.values()) {
      clearTimeout(queue.timer);
      queue.timer = undefined;
      queue.records = [];
      queue.paused = false;
    }
    this.assigned = [];
    setTimeout(() => {
      if (this.stopping) return;
      this.start().catch((error: unknown) => {
        this.options.onError?.(error as Error);
        if (!this.stopping) this.restartAfterCrash();
      });
    }, 1000);
  }

  /** Stops taking records, invokes the batches being gathered, waits for running batches, leaves the group. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const queue of this.queues.values()) this.schedule(queue);
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    await this.consumer?.disconnect().catch(() => undefined);
    await (await this.admin?.catch(() => undefined))?.disconnect().catch(() => undefined);
  }

  /** The partitions of the topic the group gave this member at its last join. */
  assignedPartitions(): number[] {
    return [...this.assigned];
  }

  /** The group's lag per partition of the topic. */
  async lag(): Promise<PartitionLag[]> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      this.admin = admin.connect().then(() => admin);
    }
    return groupLag(await this.admin, this.options.topic, this.options.groupId);
  }

  /**
   * One fetch of one partition: its records join the partition's queue (kafkajs may fetch on; nothing is
   * committed until they settle), and a partition far behind its function is paused until it catches up.
   */
  private async consumePartitionBatch({ batch, resolveOffset, heartbeat }: EachBatchPayload) {
    if (this.stopping) return;
    const key = `${batch.topic}-${batch.partition}`;
    let queue = this.queues.get(key);
    if (!queue) {
      queue = { topic: batch.topic, partition: batch.partition, records: [], running: false, paused: false };
      this.queues.set(key, queue);
    }
    for (const message of batch.messages) {
      queue.records.push(kafkaRecordOf(batch.topic, batch.partition, message));
      resolveOffset(message.offset);
    }
    if (queue.records.length >= PAUSE_AFTER_BATCHES * this.options.batchSize && !queue.paused) {
      queue.paused = true;
      this.consumer?.pause([{ topic: queue.topic, partitions: [queue.partition] }]);
    }
    this.schedule(queue);
    await heartbeat();
  }

  /**
   * Invokes a partition's next batch when it is full (or the source stops), else once the batching window
   * since its first record has passed; one batch of a partition at a time, so its records go in order.
   */
  private schedule(queue: PartitionQueue): void {
    if (queue.running || queue.records.length === 0) return;
    if (queue.records.length < this.options.batchSize && !this.stopping) {
      queue.timer ??= setTimeout(() => this.run(queue), this.options.maxBatchingWindowSeconds * 1000);
      return;
    }
    this.run(queue);
  }

  private run(queue: PartitionQueue): void {
    clearTimeout(queue.timer);
    queue.timer = undefined;
    if (queue.running || queue.records.length === 0) return;
    queue.running = true;
    const batch = queue.records.splice(0, this.options.batchSize);
    const task = this.limit(() => this.dispatch(batch))
      .then(async (done) => {
        const last = batch.at(-1);
        if (!done || !last) {
          // Stopped while failing: these and the later records stay uncommitted, to be delivered again.
          queue.records = [];
          return;
        }
        await this.consumer?.commitOffsets([
          { topic: queue.topic, partition: queue.partition, offset: String(last.offset + 1) },
        ]);
      })
      .catch((error: unknown) => {
        // A commit refused after a rebalance: the partition's new owner delivers the records again.
        this.options.onError?.(error as Error);
        queue.records = [];
      })
      .finally(() => {
        queue.running = false;
        if (queue.paused && queue.records.length < this.options.batchSize) {
          queue.paused = false;
          this.consumer?.resume([{ topic: queue.topic, partitions: [queue.partition] }]);
        }
        this.schedule(queue);
      });
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
  }

  /**
   * Invokes a batch until it succeeds, or its failing records go to the destination (see the class comment):
   * `true`, or `false` when the source stopped while it was still failing.
   */
  private async dispatch(batch: KafkaRecord[]): Promise<boolean> {
    const { options } = this;
    const now = Date.now();
    const tooOld = (r: KafkaRecord) =>
      options.maxRecordAgeSeconds >= 0 && now - r.timestamp > options.maxRecordAgeSeconds * 1000;
    const expired = batch.filter(tooOld);
    if (expired.length > 0) await this.sendToDestination(expired, 'RecordAgeExceeded', 0, undefined);
    let records = batch.filter((r) => !tooOld(r));
    const maxRetries =
      options.retryAttempts < 0 ? (options.onFailure ? 10 : Number.POSITIVE_INFINITY) : options.retryAttempts;
    let attempts = 0;
    const size = records.length;
    while (records.length > 0) {
      attempts += 1;
      const t0 = performance.now();
      const outcome = await options.invoke(kafkaEventOf(records, options.bootstrapServers)).catch(
        (error: unknown): InvocationOutcome => ({
          requestId: randomUUID(),
          ok: false,
          error: { name: (error as Error).name, message: (error as Error).message },
          durationMs: performance.now() - t0,
          coldStart: false,
        }),
      );
      const keyed = records.map((r) => ({ ...r, messageId: kafkaRecordId(r) }));
      const { retry, batchFailure } = recordsToRetry(
        keyed,
        outcome,
        options.reportBatchItemFailures,
        recordIdOfItemIdentifier,
      );
      // A stream retries each partition from its lowest failed offset on.
      const retried = records.filter((r) =>
        keyed.some(
          (k) =>
            retry.has(k.messageId) &&
            k.topic === r.topic &&
            k.partition === r.partition &&
            k.offset <= r.offset,
        ),
      );
      if (retried.length === 0) {
        options.onBatch?.({ size, succeeded: size, failed: 0, attempts, outcome });
        return true;
      }
      if (attempts > maxRetries) {
        await this.sendToDestination(retried, 'RetryAttemptsExhausted', attempts, outcome);
        options.onBatch?.({
          size,
          succeeded: size - retried.length,
          failed: retried.length,
          attempts,
          outcome,
          ...(batchFailure ? { batchFailure } : {}),
        });
        return true;
      }
      records = retried;
      await sleep(options.retryDelayMs ?? 500);
      if (this.stopping) return false;
    }
    return true;
  }

  private async sendToDestination(
    records: KafkaRecord[],
    condition: 'RetryAttemptsExhausted' | 'RecordAgeExceeded',
    invokeCount: number,
    outcome: InvocationOutcome | undefined,
  ): Promise<void> {
    const { options } = this;
    const record = kafkaFailureRecordOf({
      records,
      functionArn: options.functionArn,
      requestId: outcome?.requestId ?? randomUUID(),
      condition,
      invokeCount,
      ...(outcome && !outcome.ok ? { functionError: 'Unhandled' } : {}),
      bootstrapServers: options.bootstrapServers,
      payloadSize: records.reduce((n, r) => n + r.value.length, 0),
      now: new Date(),
    });
    if (!options.onFailure) {
      // Lambda discards them too: retries exhausted and nowhere to send them.
      options.onError?.(
        new Error(
          `${records.length} record(s) dropped (${condition}, no failure destination): ${Object.keys(record.KafkaBatchInfo.recordsInfo).join(', ')}`,
        ),
      );
      return;
    }
    for (;;) {
      try {
        await options.onFailure(record);
        return;
      } catch (error) {
        options.onError?.(error as Error);
        await sleep(1000);
        if (this.stopping) return;
      }
    }
  }
}
