import { randomUUID } from 'node:crypto';
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import pLimit from 'p-limit';
import { sqsRecordOf } from '../functions/stream/sqs-records.ts';
import type { InvocationOutcome } from './function-host.ts';

/**
 * The one emulation of Lambda's SQS event source mapping. The local runtime runs one per enabled mapping of the
 * template; tests and benchmarks that drive the stream consumer through SQS use the same class. As Lambda does:
 *
 * - **Polling.** It waits for messages (Lambda long polls; here short polls every 25 ms, because local-aws-sqs
 *   answers a long poll early only when it can fill the whole receive) and asks for every system and message
 *   attribute.
 * - **Batch size and batching window.** Up to `batchSize` messages per invocation, filled by parallel receives of
 *   10. With a batching window it keeps receiving until the batch is full or the window, counted from the batch's
 *   first message, has passed. Without one it invokes with what the first receive brought, which is why a batch
 *   size above 10 needs a window of at least 1 s (Lambda refuses the mapping otherwise; so does this class).
 * - **Invocation.** The function gets a Lambda SQS event built from the received messages (`sqsRecordOf`).
 * - **Result.** The messages of a successful invocation are deleted — except, with ReportBatchItemFailures, those
 *   listed in `batchItemFailures`. A failed invocation (thrown error, timeout, crash) or a malformed response (an
 *   unknown or empty id, a `batchItemFailures` that is not a list) keeps the whole batch. Kept messages are left
 *   alone: they become visible again when the visibility timeout of the queue ends (Lambda never changes
 *   visibility; a queue with a short visibility timeout is how a test retries quickly), and after
 *   maxReceiveCount receives the queue's redrive policy moves them to the DLQ (local-aws-sqs enforces it, like
 *   SQS).
 * - **Maximum concurrency.** At most `maxConcurrency` batches are being processed at once.
 *
 * Not emulated: the 6 MB invocation payload limit, scaling the number of pollers with the backlog, FIFO queues.
 */

export interface SqsEventSourceOptions {
  client: SQSClient;
  queueUrl: string;
  /** The records' `eventSourceARN` (and, from it, `awsRegion`). */
  queueArn: string;
  /** 1–10,000; above 10 needs `maxBatchingWindowSeconds` ≥ 1. */
  batchSize: number;
  maxBatchingWindowSeconds: number;
  reportBatchItemFailures: boolean;
  maxConcurrency: number;
  /** Invokes the function: a host of the local runtime, or `invokeInProcess(handler)`. */
  invoke: (event: SQSEvent) => Promise<InvocationOutcome>;
  onBatch?: (report: BatchReport) => void;
  onError?: (error: Error) => void;
}

export interface BatchReport {
  size: number;
  deleted: number;
  /** Records left for redelivery. */
  retried: number;
  outcome: InvocationOutcome;
  /** Why the whole batch was retried, if it was. */
  batchFailure?: string;
}

/** SQS polls are cheap on loopback; local-aws-sqs long polls only return early when a batch is full. */
const IDLE_POLL_MS = 25;
/** Receives (of up to 10 messages each) and deletes in flight at once while one batch is filled or settled. */
const REQUEST_PARALLELISM = 10;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function failedOutcome(error: unknown, durationMs: number): InvocationOutcome {
  const { name, message } = error instanceof Error ? error : { name: 'Error', message: String(error) };
  return { requestId: randomUUID(), ok: false, error: { name, message }, durationMs, coldStart: false };
}

/**
 * A handler run in this process as the event source's `invoke`: its return value is the result, a throw a failed
 * invocation. For tests and benchmarks that drive the consumer core without a worker thread.
 */
export function invokeInProcess<E = SQSEvent>(
  handler: (event: E) => Promise<unknown>,
): (event: E) => Promise<InvocationOutcome> {
  return async (event) => {
    const t0 = performance.now();
    try {
      const result = await handler(event);
      return {
        requestId: randomUUID(),
        ok: true,
        result,
        durationMs: performance.now() - t0,
        coldStart: false,
      };
    } catch (error) {
      return failedOutcome(error, performance.now() - t0);
    }
  };
}

/**
 * Which records (by `messageId`) to keep for redelivery, per Lambda's rules: a failed invocation retries
 * everything; a malformed `batchItemFailures` (not a list, an identifier `idOf` cannot read, or a record the batch
 * did not hold) also retries everything; otherwise exactly the listed records. `idOf` reads a failure's
 * `itemIdentifier` as a message id: SQS's is the id itself; Kafka's is an object (`recordIdOfItemIdentifier`).
 */
export function recordsToRetry(
  records: readonly { messageId: string }[],
  outcome: InvocationOutcome,
  reportBatchItemFailures: boolean,
  idOf: (itemIdentifier: unknown) => string | undefined = (id) => (typeof id === 'string' ? id : undefined),
): { retry: Set<string>; batchFailure?: string } {
  const all = new Set(records.map((r) => r.messageId));
  if (!outcome.ok) return { retry: all, batchFailure: `${outcome.error?.name}: ${outcome.error?.message}` };
  if (!reportBatchItemFailures) return { retry: new Set() };
  const failures = (outcome.result as { batchItemFailures?: unknown } | null)?.batchItemFailures;
  if (failures === undefined || failures === null) return { retry: new Set() };
  if (!Array.isArray(failures)) return { retry: all, batchFailure: 'batchItemFailures is not a list' };
  const retry = new Set<string>();
  for (const failure of failures as { itemIdentifier?: unknown }[]) {
    const id = idOf(failure?.itemIdentifier);
    if (id === undefined || !all.has(id)) {
      return {
        retry: all,
        batchFailure: `batchItemFailures names unknown record ${JSON.stringify(failure?.itemIdentifier)}`,
      };
    }
    retry.add(id);
  }
  return { retry };
}

export class SqsEventSource {
  private running = false;
  private isStopRequested = false;
  private loop: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: SqsEventSourceOptions) {
    const { batchSize, maxBatchingWindowSeconds } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
      throw new RangeError(`batch size must be an integer from 1 to 10000, not ${batchSize}`);
    }
    if (batchSize > 10 && maxBatchingWindowSeconds < 1) {
      throw new RangeError(`a batch size of ${batchSize} (above 10) needs a batching window of at least 1 s`);
    }
  }

  /** Polls until `stop()`, invoking up to `maxConcurrency` batches at once. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.isStopRequested = false;
    this.loop = this.run();
  }

  /** Stops receiving, invokes the batch being gathered, and waits for running batches to finish. */
  async stop(): Promise<void> {
    this.running = false;
    this.isStopRequested = true;
    await this.loop;
    await Promise.all(this.inFlight);
  }

  /**
   * One batch, as `start()` would process it: waits up to `waitSeconds` for a first message, gathers the batch
   * (batch size, batching window), invokes and settles it. Undefined when no message came. Calls running side by
   * side are that many concurrent batches (`maxConcurrency` bounds only `start()`).
   */
  async pollOnce(waitSeconds = 0): Promise<BatchReport | undefined> {
    const deadline = Date.now() + waitSeconds * 1000;
    const batch = await this.gather(() => Date.now() < deadline && !this.isStopRequested);
    return batch.length > 0 ? this.dispatch(batch) : undefined;
  }

  private async run(): Promise<void> {
    const { options } = this;
    while (this.running) {
      while (this.inFlight.size >= options.maxConcurrency) await Promise.race(this.inFlight);
      let batch: Message[];
      try {
        batch = await this.gather(() => this.running);
      } catch (error) {
        options.onError?.(error as Error);
        await sleep(500);
        continue;
      }
      if (batch.length === 0) continue;
      const task = this.dispatch(batch).then(
        () => undefined,
        (error: unknown) => options.onError?.(error as Error),
      );
      this.inFlight.add(task);
      void task.finally(() => this.inFlight.delete(task));
    }
  }

  /** Receives one batch; while it is empty, keeps polling as long as `isWaiting()`. */
  private async gather(isWaiting: () => boolean): Promise<Message[]> {
    const { batchSize, maxBatchingWindowSeconds } = this.options;
    const batch: Message[] = [];
    let windowEnds: number | undefined;
    for (;;) {
      const got = await this.receive(batch.length === 0 ? Math.min(10, batchSize) : batchSize - batch.length);
      batch.push(...got);
      if (batch.length >= batchSize) break;
      if (batch.length === 0) {
        if (!isWaiting()) break;
      } else {
        windowEnds ??= Date.now() + maxBatchingWindowSeconds * 1000;
        if (Date.now() >= windowEnds || this.isStopRequested) break;
      }
      if (got.length === 0) await sleep(IDLE_POLL_MS);
    }
    return batch;
  }

  /** Up to `count` messages, by parallel receives of up to 10. */
  private async receive(count: number): Promise<Message[]> {
    const { client, queueUrl } = this.options;
    const requests = Array.from({ length: Math.min(REQUEST_PARALLELISM, Math.ceil(count / 10)) }, (_, i) =>
      client
        .send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: Math.min(10, count - i * 10),
            WaitTimeSeconds: 0,
            MessageSystemAttributeNames: ['All'],
            // local-aws-sqs only understands the older name; without it records lack ApproximateReceiveCount.
            AttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
        )
        .then((out) => out.Messages ?? []),
    );
    return (await Promise.all(requests)).flat();
  }

  private async dispatch(messages: Message[]): Promise<BatchReport> {
    const { options } = this;
    const records = messages.map((m) => sqsRecordOf(m, options.queueArn));
    const t0 = performance.now();
    const outcome = await options
      .invoke({ Records: records })
      .catch((error: unknown) => failedOutcome(error, performance.now() - t0));
    const { retry, batchFailure } = recordsToRetry(records, outcome, options.reportBatchItemFailures);
    const done = records.filter((r) => !retry.has(r.messageId));
    await this.delete(done);
    const report: BatchReport = {
      size: records.length,
      deleted: done.length,
      retried: retry.size,
      outcome,
      ...(batchFailure ? { batchFailure } : {}),
    };
    options.onBatch?.(report);
    return report;
  }

  private async delete(records: readonly SQSRecord[]): Promise<void> {
    const { client, queueUrl, onError } = this.options;
    const limit = pLimit(REQUEST_PARALLELISM);
    const chunks: SQSRecord[][] = [];
    for (let i = 0; i < records.length; i += 10) chunks.push(records.slice(i, i + 10));
    await Promise.all(
      chunks.map((chunk) =>
        limit(async () => {
          const out = await client.send(
            new DeleteMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: chunk.map((r, n) => ({ Id: String(n), ReceiptHandle: r.receiptHandle })),
            }),
          );
          if (out.Failed?.length) {
            onError?.(
              new Error(
                `could not delete ${out.Failed.length} processed messages: ${out.Failed[0]?.Message}`,
              ),
            );
          }
        }),
      ),
    );
  }
}
