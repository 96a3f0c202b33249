import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ListDeadLetterSourceQueuesCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { InvalidInputError } from '../pipeline/errors.ts';
import type { StreamMessage } from './micro-batch.ts';
import { streamMessageOf } from './sqs-poller.ts';

export interface DlqStats {
  queueUrl: string;
  queueArn: string;
  visible: number;
  inFlight: number;
  delayed: number;
  /** Queues whose redrive policy points at this DLQ (where a redrive sends messages back). */
  sourceQueueUrls: string[];
}

/** Depth and source queues of a dead-letter queue. */
export async function dlqStats(client: SQSClient, queueUrl: string): Promise<DlqStats> {
  const out = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'QueueArn',
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  const sources = await client.send(new ListDeadLetterSourceQueuesCommand({ QueueUrl: queueUrl }));
  return {
    queueUrl,
    queueArn: out.Attributes?.QueueArn ?? '',
    visible: Number(out.Attributes?.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
    delayed: Number(out.Attributes?.ApproximateNumberOfMessagesDelayed ?? 0),
    sourceQueueUrls: sources.queueUrls ?? [],
  };
}

/** Shows up to `max` messages without consuming them (they become visible again at once). */
export async function peekDlq(client: SQSClient, queueUrl: string, max = 10): Promise<StreamMessage[]> {
  const out = await client.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: Math.max(1, Math.min(10, max)),
      VisibilityTimeout: 0,
      MessageSystemAttributeNames: ['SentTimestamp', 'ApproximateReceiveCount'],
      AttributeNames: ['All'],
    }),
  );
  return (out.Messages ?? []).map(streamMessageOf);
}

export interface RedriveOptions {
  /** The dead-letter queue to empty. */
  dlqUrl: string;
  /** Where to send the messages; default: back to the source queue (StartMessageMoveTask's default). */
  destinationUrl?: string;
  /** Messages per second (StartMessageMoveTask `MaxNumberOfMessagesPerSecond`, 1..500). */
  rate?: number;
  /** Skip StartMessageMoveTask and move with receive/send/delete (what the fallback does). */
  isManual?: boolean;
  /** Give up waiting for a move task after this long, ms. */
  timeoutMs?: number;
  pollMs?: number;
}

export interface RedriveResult {
  method: 'move-task' | 'receive-send';
  moved: number;
  status: string;
  destinationUrl?: string;
}

const MOVE_TASK_UNSUPPORTED = new Set([
  'UnsupportedOperation',
  'InvalidAction',
  'UnknownOperationException',
  'AWS.SimpleQueueService.UnsupportedOperation',
  'NotImplemented',
]);

function arnOfUrl(url: string, region = 'us-east-1'): string {
  const [account, name] = new URL(url).pathname.split('/').filter(Boolean);
  if (!account || !name) throw new InvalidInputError(`not an SQS queue URL: ${url}`, 'queue-url');
  return `arn:aws:sqs:${region}:${account}:${name}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Moves every message of a DLQ back to its source queue (or `destinationUrl`): `StartMessageMoveTask`, polled
 * until it completes; where the API is missing (older emulators), receive → send → delete at the same rate.
 */
export async function redriveDlq(client: SQSClient, options: RedriveOptions): Promise<RedriveResult> {
  const rate = options.rate;
  if (rate !== undefined && (!Number.isInteger(rate) || rate < 1 || rate > 500)) {
    throw new InvalidInputError(
      `rate must be a whole number of messages per second 1..500, got ${rate}`,
      'rate',
    );
  }
  const stats = await dlqStats(client, options.dlqUrl);
  if (!options.isManual) {
    try {
      await client.send(
        new StartMessageMoveTaskCommand({
          SourceArn: stats.queueArn,
          ...(options.destinationUrl ? { DestinationArn: arnOfUrl(options.destinationUrl) } : {}),
          ...(rate !== undefined ? { MaxNumberOfMessagesPerSecond: rate } : {}),
        }),
      );
      const deadline = Date.now() + (options.timeoutMs ?? 15 * 60_000);
      for (;;) {
        const tasks = await client.send(
          new ListMessageMoveTasksCommand({ SourceArn: stats.queueArn, MaxResults: 1 }),
        );
        const task = tasks.Results?.[0];
        if (task && task.Status !== 'RUNNING') {
          return {
            method: 'move-task',
            moved: Number(task.ApproximateNumberOfMessagesMoved ?? 0),
            status: task.Status ?? 'UNKNOWN',
            ...(options.destinationUrl ? { destinationUrl: options.destinationUrl } : {}),
          };
        }
        if (Date.now() > deadline) {
          return {
            method: 'move-task',
            moved: Number(task?.ApproximateNumberOfMessagesMoved ?? 0),
            status: 'RUNNING (still moving; check `twinflow dlq stats`)',
          };
        }
        await sleep(options.pollMs ?? 500);
      }
    } catch (error) {
      if (!MOVE_TASK_UNSUPPORTED.has((error as Error).name)) throw error;
    }
  }
  const destinationUrl = options.destinationUrl ?? stats.sourceQueueUrls[0];
  if (!destinationUrl) {
    throw new InvalidInputError(
      'no source queue points at this DLQ; pass the destination queue URL (--to)',
      'to',
    );
  }
  let moved = 0;
  for (;;) {
    const tBatch = Date.now();
    const out = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: options.dlqUrl,
        MaxNumberOfMessages: Math.min(10, rate ?? 10),
        VisibilityTimeout: 60,
        MessageAttributeNames: ['All'],
      }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) break;
    const sent = await client.send(
      new SendMessageBatchCommand({
        QueueUrl: destinationUrl,
        Entries: messages.map((m, i) => ({
          Id: String(i),
          MessageBody: m.Body ?? '',
          ...(m.MessageAttributes ? { MessageAttributes: m.MessageAttributes } : {}),
        })),
      }),
    );
    // Only delete what was sent: a message is never in neither queue.
    const sentIds = new Set((sent.Successful ?? []).map((s) => s.Id));
    const toDelete = messages.filter((_, i) => sentIds.has(String(i)));
    if (toDelete.length > 0) {
      await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: options.dlqUrl,
          Entries: toDelete.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
    }
    moved += toDelete.length;
    if (rate !== undefined) await sleep(Math.max(0, (messages.length / rate) * 1000 - (Date.now() - tBatch)));
  }
  return { method: 'receive-send', moved, status: 'COMPLETED', destinationUrl };
}
