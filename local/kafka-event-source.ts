import { randomUUID } from 'node:crypto';
import { type Consumer, type EachBatchPayload, Kafka, type KafkaMessage, logLevel } from 'kafkajs';
import pLimit from 'p-limit';
import { type KafkaFailureRecord, kafkaFailureRecordOf } from '../functions/stream/kafka-failures.ts';
import {
  type KafkaRecord,
  kafkaEventOf,
  kafkaRecordId,
  kafkaRecordOf,
} from '../functions/stream/kafka-records.ts';
import type { InvocationOutcome } from './function-host.ts';
import { recordsToRetry } from './sqs-event-source.ts';

/**
 * The one emulation of Lambda's Kafka event source mapping (MSK or self-managed), as `SqsEventSource` is for SQS.
 * The local runtime runs one per enabled Kafka mapping of the template; tests drive the consumer core through it.
 * As Lambda does:
 *
 * - **Consumer group.** It joins the mapping's consumer group on the mapping's topic; a new group starts at the
 *   oldest record (TRIM_HORIZON) or at new records only (LATEST). Partitions are consumed concurrently (up to
 *   `maxConcurrency`), each in offset order: a partition's next records wait until its current ones settled.
 * - **Batch size and batching window.** Records of any partition gather into one batch until it holds
 *   `batchSize` records or the window, counted from its first record, has passed; the function gets a Kafka event
 *   of them (`records` keyed by `<topic>-<partition>`).
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
  /** The failure destination: sends a failure record (e.g. to the DLQ). Without one, failing records block. */
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Pending {
  records: KafkaRecord[];
  /** `true`: the records are done with (offsets may be committed past them); `false`: deliver them again. */
  settle: (done: boolean) => void;
}

export class KafkaEventSource {
  private readonly kafka: Kafka;
  private consumer: Consumer | undefined;
  private pending: Pending[] = [];
  private pendingSize = 0;
  private windowTimer: NodeJS.Timeout | undefined;
  private readonly limit: ReturnType<typeof pLimit>;
  private stopping = false;
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
      // The batching window bounds how long a fetch waits for records, as Lambda's poller does.
      maxWaitTimeInMs: Math.min(5000, Math.max(100, this.options.maxBatchingWindowSeconds * 1000)),
    });
    this.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({
      topic: this.options.topic,
      fromBeginning: this.options.startingPosition === 'TRIM_HORIZON',
    });
    consumer.on(consumer.events.CRASH, (event) => {
      this.options.onError?.(event.payload.error);
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: Math.max(1, this.options.maxConcurrency),
      eachBatch: (payload) => this.consumePartitionBatch(payload),
    });
  }

  /** Stops fetching, invokes the batch being gathered, waits for running batches, leaves the group. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.flush();
    await Promise.all(this.inFlight);
    await this.consumer?.disconnect().catch(() => undefined);
  }

  /** The group's lag per partition of the topic. */
  async lag(): Promise<PartitionLag[]> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const [ends, [committed]] = await Promise.all([
        admin.fetchTopicOffsets(this.options.topic),
        admin.fetchOffsets({ groupId: this.options.groupId, topics: [this.options.topic] }),
      ]);
      return ends
        .map((end) => {
          const at = Number(committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? -1);
          const low = Number(end.low);
          const position = at < 0 ? low : at;
          const high = Number(end.high);
          return { partition: end.partition, committed: position, high, lag: Math.max(0, high - position) };
        })
        .sort((a, b) => a.partition - b.partition);
    } finally {
      await admin.disconnect();
    }
  }

  /** One fetch of one partition: its records go out in batches (in order), then its offset is committed. */
  private async consumePartitionBatch({
    batch,
    resolveOffset,
    heartbeat,
    isRunning,
    isStale,
  }: EachBatchPayload) {
    const heartbeats = setInterval(() => heartbeat().catch(() => undefined), 3000);
    try {
      const records = batch.messages.map((m: KafkaMessage) => kafkaRecordOf(batch.topic, batch.partition, m));
      for (let i = 0; i < records.length; i += this.options.batchSize) {
        if (!isRunning() || isStale() || this.stopping) return;
        const chunk = records.slice(i, i + this.options.batchSize);
        const done = await this.add(chunk);
        const last = chunk.at(-1);
        if (!done || !last || !isRunning() || isStale()) return;
        resolveOffset(String(last.offset));
        await this.consumer?.commitOffsets([
          { topic: batch.topic, partition: batch.partition, offset: String(last.offset + 1) },
        ]);
      }
    } finally {
      clearInterval(heartbeats);
    }
  }

  /**
   * Adds records to the batch being gathered; resolves `true` once they succeeded or went to the destination,
   * `false` when the source stopped first (they stay uncommitted).
   */
  private add(records: KafkaRecord[]): Promise<boolean> {
    return new Promise((settle) => {
      if (this.pendingSize + records.length > this.options.batchSize) this.flush();
      this.pending.push({ records, settle });
      this.pendingSize += records.length;
      if (this.pendingSize >= this.options.batchSize || this.stopping) this.flush();
      else this.windowTimer ??= setTimeout(() => this.flush(), this.options.maxBatchingWindowSeconds * 1000);
    });
  }

  private flush(): void {
    if (this.windowTimer) clearTimeout(this.windowTimer);
    this.windowTimer = undefined;
    if (this.pending.length === 0) return;
    const parts = this.pending;
    this.pending = [];
    this.pendingSize = 0;
    const task = this.limit(() => this.dispatch(parts.flatMap((p) => p.records))).then(
      (done) => {
        for (const part of parts) part.settle(done);
      },
      (error: unknown) => {
        this.options.onError?.(error as Error);
        for (const part of parts) part.settle(false);
      },
    );
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
      const { retry, batchFailure } = recordsToRetry(keyed, outcome, options.reportBatchItemFailures);
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
