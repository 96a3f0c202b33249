import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import type { InvocationOutcome } from './function-host.ts';
import { LOCAL_REGION } from './local-resources.ts';

/**
 * Emulates Lambda's SQS event source mapping: gathers up to `batchSize` messages, waiting at most the batching
 * window after the first one, invokes the function with an SQS event, deletes what succeeded, and leaves
 * reported `batchItemFailures` (or the whole batch, when the invocation fails) in the queue. They reappear after
 * the queue's visibility timeout and, after maxReceiveCount receives, the queue's redrive policy moves them to
 * the DLQ (local-aws-sqs enforces it, like SQS; the poller never changes visibility, which would count as a
 * receive there). Up to `maxConcurrency` batches run at once.
 */

export interface SqsEventSourceOptions {
  client: SQSClient;
  queueUrl: string;
  queueArn: string;
  batchSize: number;
  maxBatchingWindowSeconds: number;
  reportBatchItemFailures: boolean;
  maxConcurrency: number;
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An SQS message as the Lambda event record carries it. */
export function toSqsRecord(message: Message, queueArn: string): SQSRecord {
  const attributes = message.Attributes ?? {};
  const messageAttributes: SQSRecord['messageAttributes'] = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    messageAttributes[name] = {
      dataType: value.DataType ?? 'String',
      ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
      ...(value.BinaryValue !== undefined
        ? { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }
        : {}),
      stringListValues: [],
      binaryListValues: [],
    };
  }
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes['ApproximateReceiveCount'] ?? '1',
      SentTimestamp: attributes['SentTimestamp'] ?? String(Date.now()),
      SenderId: attributes['SenderId'] ?? 'local',
      ApproximateFirstReceiveTimestamp: attributes['ApproximateFirstReceiveTimestamp'] ?? String(Date.now()),
    },
    messageAttributes,
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: LOCAL_REGION,
  };
}

/**
 * Which records to keep for redelivery, per Lambda's rules: a failed invocation retries everything; a malformed
 * `batchItemFailures` (unknown or empty id) also retries everything; otherwise exactly the listed records.
 */
export function recordsToRetry(
  records: readonly SQSRecord[],
  outcome: InvocationOutcome,
  reportBatchItemFailures: boolean,
): { retry: Set<string>; batchFailure?: string } {
  const all = new Set(records.map((r) => r.messageId));
  if (!outcome.ok) return { retry: all, batchFailure: `${outcome.error?.name}: ${outcome.error?.message}` };
  if (!reportBatchItemFailures) return { retry: new Set() };
  const failures = (outcome.result as { batchItemFailures?: unknown } | null)?.batchItemFailures;
  if (failures === undefined || failures === null) return { retry: new Set() };
  if (!Array.isArray(failures)) return { retry: all, batchFailure: 'batchItemFailures is not a list' };
  const retry = new Set<string>();
  for (const failure of failures as { itemIdentifier?: unknown }[]) {
    const id = failure?.itemIdentifier;
    if (typeof id !== 'string' || !all.has(id)) {
      return { retry: all, batchFailure: `batchItemFailures names unknown record ${JSON.stringify(id)}` };
    }
    retry.add(id);
  }
  return { retry };
}

export class SqsEventSource {
  private running = false;
  private loop: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: SqsEventSourceOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops receiving, invokes the batch being gathered, and waits for running batches to finish. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await Promise.all(this.inFlight);
  }

  private async run(): Promise<void> {
    const { options } = this;
    while (this.running) {
      while (this.inFlight.size >= options.maxConcurrency) await Promise.race(this.inFlight);
      let batch: Message[];
      try {
        batch = await this.gather();
      } catch (error) {
        options.onError?.(error as Error);
        await sleep(500);
        continue;
      }
      if (batch.length === 0) continue;
      const task = this.dispatch(batch).catch((error: unknown) => options.onError?.(error as Error));
      this.inFlight.add(task);
      void task.finally(() => this.inFlight.delete(task));
    }
  }

  private async gather(): Promise<Message[]> {
    const { options } = this;
    const batch: Message[] = [];
    let windowEnds: number | undefined;
    while (batch.length < options.batchSize) {
      if (windowEnds !== undefined && (Date.now() >= windowEnds || !this.running)) break;
      if (windowEnds === undefined && !this.running) break;
      const out = await options.client.send(
        new ReceiveMessageCommand({
          QueueUrl: options.queueUrl,
          MaxNumberOfMessages: Math.min(10, options.batchSize - batch.length),
          WaitTimeSeconds: 0,
          MessageSystemAttributeNames: ['All'],
          // local-aws-sqs only understands the older name; without it records lack ApproximateReceiveCount.
          AttributeNames: ['All'],
          MessageAttributeNames: ['All'],
        }),
      );
      const messages = out.Messages ?? [];
      batch.push(...messages);
      if (batch.length > 0 && windowEnds === undefined) {
        windowEnds = Date.now() + options.maxBatchingWindowSeconds * 1000;
      }
      if (batch.length > 0 && options.maxBatchingWindowSeconds === 0) break;
      if (messages.length === 0) await sleep(IDLE_POLL_MS);
    }
    return batch;
  }

  private async dispatch(messages: Message[]): Promise<void> {
    const { options } = this;
    const records = messages.map((m) => toSqsRecord(m, options.queueArn));
    const outcome = await options.invoke({ Records: records });
    const { retry, batchFailure } = recordsToRetry(records, outcome, options.reportBatchItemFailures);
    const done = records.filter((r) => !retry.has(r.messageId));
    for (let i = 0; i < done.length; i += 10) {
      const chunk = done.slice(i, i + 10);
      const out = await options.client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: options.queueUrl,
          Entries: chunk.map((r, n) => ({ Id: String(n), ReceiptHandle: r.receiptHandle })),
        }),
      );
      if (out.Failed?.length) {
        options.onError?.(
          new Error(`could not delete ${out.Failed.length} processed messages: ${out.Failed[0]?.Message}`),
        );
      }
    }
    options.onBatch?.({
      size: records.length,
      deleted: done.length,
      retried: retry.size,
      outcome,
      ...(batchFailure ? { batchFailure } : {}),
    });
  }
}
