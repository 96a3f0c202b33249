import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import pLimit from 'p-limit';
import type { StreamMessage } from './micro-batch.ts';

const RECEIVE_PARALLELISM = 10;

/** What an SQS consumer reports back: the messages to redeliver (Lambda's `batchItemFailures`). */
export type ConsumeMessages = (messages: StreamMessage[]) => Promise<{ failedMessageIds: readonly string[] }>;

export interface PollOptions {
  client: SQSClient;
  queueUrl: string;
  /** Up to this many messages per micro-batch (the event source mapping's batch size). */
  batchSize?: number;
  /** Long-poll wait for the first receive, seconds. */
  waitSeconds?: number;
  /**
   * Visibility timeout set on failed messages, seconds. Undefined leaves them invisible until the queue's
   * visibility timeout expires, as Lambda does; tests use 0 to retry at once.
   */
  retryDelaySeconds?: number;
}

export interface PollOutcome {
  received: number;
  deleted: number;
  failed: number;
}

/** Converts a received SQS message into the consumer's input. */
export function streamMessageOf(message: Message): StreamMessage {
  const sent = Number(message.Attributes?.SentTimestamp);
  const receiveCount = Number(message.Attributes?.ApproximateReceiveCount);
  return {
    messageId: message.MessageId ?? '',
    body: message.Body ?? '',
    ...(Number.isFinite(sent) && sent > 0 ? { sentAt: new Date(sent) } : {}),
    ...(Number.isFinite(receiveCount) && receiveCount > 0 ? { receiveCount } : {}),
  };
}

/**
 * One turn of what Lambda's SQS event source mapping does: receive a micro-batch, hand it to the consumer,
 * delete what succeeded and leave the failures for redelivery (and, after maxReceiveCount, the DLQ).
 * Used by the local runtime, `twinflow replay --queue-url` consumers, tests and benchmarks.
 */
export async function pollOnce(options: PollOptions, consume: ConsumeMessages): Promise<PollOutcome> {
  const { client, queueUrl } = options;
  const batchSize = options.batchSize ?? 10;
  const received: Message[] = [];
  const receive = (max: number, waitSeconds: number) =>
    client
      .send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: max,
          WaitTimeSeconds: waitSeconds,
          MessageSystemAttributeNames: ['SentTimestamp', 'ApproximateReceiveCount'],
          // The pre-2024 name of the same request field: emulators (local-aws-sqs) still read only this one.
          AttributeNames: ['All'],
        }),
      )
      .then((out) => out.Messages ?? []);
  received.push(...(await receive(Math.min(10, batchSize), options.waitSeconds ?? 0)));
  // Fill the batch with parallel receives (as the event source mapping's pollers do) until the queue runs dry.
  while (received.length > 0 && received.length < batchSize) {
    const missing = batchSize - received.length;
    const requests = Array.from({ length: Math.min(RECEIVE_PARALLELISM, Math.ceil(missing / 10)) }, (_, i) =>
      receive(Math.min(10, missing - i * 10), 0),
    );
    const got = (await Promise.all(requests)).flat();
    received.push(...got);
    if (got.length === 0) break;
  }
  if (received.length === 0) return { received: 0, deleted: 0, failed: 0 };
  let failedIds: ReadonlySet<string>;
  try {
    failedIds = new Set((await consume(received.map(streamMessageOf))).failedMessageIds);
  } catch {
    // A thrown handler fails the whole batch, as in Lambda.
    failedIds = new Set(received.map((m) => m.MessageId ?? ''));
  }
  const limit = pLimit(RECEIVE_PARALLELISM);
  const done = received.filter((m) => !failedIds.has(m.MessageId ?? ''));
  const failed = received.filter((m) => failedIds.has(m.MessageId ?? ''));
  const deletes: Promise<unknown>[] = [];
  for (let i = 0; i < done.length; i += 10) {
    const entries = done.slice(i, i + 10).map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle }));
    deletes.push(
      limit(() => client.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }))),
    );
  }
  await Promise.all(deletes);
  if (options.retryDelaySeconds !== undefined) {
    for (let i = 0; i < failed.length; i += 10) {
      await client.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: failed.slice(i, i + 10).map((m, j) => ({
            Id: String(j),
            ReceiptHandle: m.ReceiptHandle,
            VisibilityTimeout: options.retryDelaySeconds,
          })),
        }),
      );
    }
  }
  return { received: received.length, deleted: done.length, failed: failed.length };
}
