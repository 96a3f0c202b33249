import {
  ChangeMessageVisibilityBatchCommand,
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
import type { StreamMessage } from '../stream/micro-batch.ts';
import { sqsRecordOf, streamMessageOf } from '../stream/sqs-records.ts';

export interface DlqStats {
  queueUrl: string;
  queueArn: string;
  visible: number;
  inFlight: number;
  delayed: number;
  /** How long a received message stays invisible, e.g. the messages a failed move task read. */
  visibilityTimeoutSeconds: number;
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
        'VisibilityTimeout',
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
    visibilityTimeoutSeconds: Number(out.Attributes?.VisibilityTimeout ?? 30),
    sourceQueueUrls: sources.queueUrls ?? [],
  };
}

/**
 * Up to `max` distinct messages, left in the queue: received with VisibilityTimeout 0, so they are visible again
 * at once. That is also why the same message can come back in the same or the next receive (local-aws-sqs
 * returns each one several times per call; SQS may repeat it), so messages are kept once by MessageId. SQS
 * samples a few servers per short poll, so receives repeat until one brings nothing new.
 */
export async function peekDlq(client: SQSClient, queueUrl: string, max = 10): Promise<StreamMessage[]> {
  const limit = Math.max(1, Math.min(10, max));
  const seen = new Map<string, StreamMessage>();
  for (let attempt = 0; attempt < 5 && seen.size < limit; attempt++) {
    const out = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: limit,
        VisibilityTimeout: 0,
        MessageSystemAttributeNames: ['SentTimestamp', 'ApproximateReceiveCount'],
        AttributeNames: ['All'],
      }),
    );
    const before = seen.size;
    // Seen as the consumer would see them (a peek is no event, so the records need no source ARN).
    for (const message of (out.Messages ?? []).map((m) => streamMessageOf(sqsRecordOf(m, '')))) {
      if (seen.size < limit && !seen.has(message.messageId)) seen.set(message.messageId, message);
    }
    if (seen.size === before) break;
  }
  return [...seen.values()];
}

export interface RedriveOptions {
  /** The dead-letter queue to empty. */
  dlqUrl: string;
  /**
   * Where to send the messages. Default: each message's original source queue (move task), or the one queue
   * whose redrive policy points at the DLQ (receive/send).
   */
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
  /** Messages now in the destination and no longer in the DLQ. */
  moved: number;
  /** COMPLETED; FAILED or INCOMPLETE (see `failureReason`); RUNNING when the wait for a move task timed out. */
  status: string;
  destinationUrl?: string;
  /** Why messages were left in the DLQ: the move task's FailureReason, or what the receive/send hit. */
  failureReason?: string;
}

const MOVE_TASK_UNSUPPORTED = new Set([
  'UnsupportedOperation',
  'InvalidAction',
  'UnknownOperationException',
  'AWS.SimpleQueueService.UnsupportedOperation',
  'NotImplemented',
]);

/** A queue's ARN from SQS itself (right region and account), which also checks the queue exists. */
async function queueArnOf(client: SQSClient, queueUrl: string): Promise<string> {
  try {
    const out = await client.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
    );
    const arn = out.Attributes?.QueueArn;
    // Without it the move task would quietly send everything to the source queues instead of `--to`.
    if (!arn) throw new InvalidInputError(`cannot read the ARN of the destination queue ${queueUrl}`, 'to');
    return arn;
  } catch (error) {
    if ((error as Error).name === 'QueueDoesNotExist') {
      throw new InvalidInputError(`no such destination queue: ${queueUrl}`, 'to');
    }
    throw error;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Moves every message of a DLQ back to its source queue (or `destinationUrl`): `StartMessageMoveTask`, polled
 * until it ends; where the API is missing (older emulators), or with `isManual`, receive → send → delete.
 * A message is only deleted from the DLQ once the destination accepted it.
 */
export async function redriveDlq(client: SQSClient, options: RedriveOptions): Promise<RedriveResult> {
  const rate = options.rate;
  if (rate !== undefined && (!Number.isInteger(rate) || rate < 1 || rate > 500)) {
    throw new InvalidInputError(
      `rate must be a whole number of messages per second 1..500, got ${rate}`,
      'rate',
    );
  }
  if (options.destinationUrl === options.dlqUrl) {
    throw new InvalidInputError('the destination (--to) is the DLQ itself', 'to');
  }
  const stats = await dlqStats(client, options.dlqUrl);
  const destinationArn = options.destinationUrl
    ? await queueArnOf(client, options.destinationUrl)
    : undefined;
  const byTask = options.isManual
    ? undefined
    : await moveWithTask(client, stats, { ...options, destinationArn });
  const result = byTask ?? (await moveByHand(client, stats, options));
  // Messages already in flight (a failed move task or a consumer received them) could not be received now.
  if (result.status === 'COMPLETED' && stats.inFlight > 0) {
    return {
      ...result,
      status: 'INCOMPLETE',
      failureReason: `${stats.inFlight} message(s) were in flight in the DLQ (already received, e.g. by a failed move task) and could not be moved`,
    };
  }
  return result;
}

/** StartMessageMoveTask, polled until it ends; `undefined` where the API does not exist. */
async function moveWithTask(
  client: SQSClient,
  stats: DlqStats,
  options: RedriveOptions & { destinationArn: string | undefined },
): Promise<RedriveResult | undefined> {
  const destination = options.destinationUrl ? { destinationUrl: options.destinationUrl } : {};
  let handle: string | undefined;
  try {
    const started = await client.send(
      new StartMessageMoveTaskCommand({
        SourceArn: stats.queueArn,
        ...(options.destinationArn ? { DestinationArn: options.destinationArn } : {}),
        ...(options.rate !== undefined ? { MaxNumberOfMessagesPerSecond: options.rate } : {}),
      }),
    );
    handle = started.TaskHandle;
  } catch (error) {
    if (MOVE_TASK_UNSUPPORTED.has((error as Error).name)) return undefined;
    throw error;
  }
  const deadline = Date.now() + (options.timeoutMs ?? 15 * 60_000);
  for (;;) {
    const tasks = await client.send(
      new ListMessageMoveTasksCommand({ SourceArn: stats.queueArn, MaxResults: 10 }),
    );
    // Newest first, but right after the start SQS may still list only the previous, finished task: match ours.
    const results = tasks.Results ?? [];
    const task =
      handle && results.some((t) => t.TaskHandle) ? results.find((t) => t.TaskHandle === handle) : results[0];
    const moved = Number(task?.ApproximateNumberOfMessagesMoved ?? 0);
    if (task && task.Status !== 'RUNNING') {
      return {
        method: 'move-task',
        moved,
        status: task.Status ?? 'UNKNOWN',
        ...destination,
        ...(task.FailureReason ? { failureReason: task.FailureReason } : {}),
      };
    }
    if (Date.now() > deadline) {
      return {
        method: 'move-task',
        moved,
        status: 'RUNNING (still moving; check `twinflow dlq stats`)',
        ...destination,
      };
    }
    await sleep(options.pollMs ?? 500);
  }
}

/** Receive → send → delete, 10 at a time, stopping at the first message the destination refuses. */
async function moveByHand(
  client: SQSClient,
  stats: DlqStats,
  options: RedriveOptions,
): Promise<RedriveResult> {
  const destinationUrl = options.destinationUrl ?? onlySourceQueue(stats);
  const rate = options.rate;
  let moved = 0;
  for (;;) {
    const tBatch = Date.now();
    const received = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: options.dlqUrl,
        MaxNumberOfMessages: Math.min(10, rate ?? 10),
        VisibilityTimeout: 60,
        // A long poll: a short one samples a subset of SQS's servers and may come back empty while messages wait
        // (and so may the local emulator's, on a loaded machine), which would end the redrive early.
        WaitTimeSeconds: 1,
        MessageAttributeNames: ['All'],
      }),
    );
    const messages = received.Messages ?? [];
    if (messages.length === 0) return { method: 'receive-send', moved, status: 'COMPLETED', destinationUrl };
    let failure: string | undefined;
    let sentIds: string[] = [];
    try {
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
      sentIds = (sent.Successful ?? []).map((s) => s.Id ?? '');
      const refused = sent.Failed ?? [];
      if (refused[0])
        failure = `${refused.length} refused by the destination: ${refused[0].Code}: ${refused[0].Message}`;
    } catch (error) {
      failure = `the destination refused them: ${(error as Error).name}: ${(error as Error).message}`;
    }
    // Delete only what the destination accepted: a message is always in at least one of the two queues.
    let deletedIds: string[] = [];
    if (sentIds.length > 0) {
      const deleted = await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: options.dlqUrl,
          Entries: sentIds.map((id) => ({ Id: id, ReceiptHandle: messages[Number(id)]?.ReceiptHandle })),
        }),
      );
      deletedIds = (deleted.Successful ?? []).map((d) => d.Id ?? '');
      const stuck = deleted.Failed ?? [];
      // Sent but still in the DLQ: a later redrive sends them again, and compaction counts their orders once.
      if (stuck[0])
        failure ??= `${stuck.length} sent but not deleted from the DLQ: ${stuck[0].Code}: ${stuck[0].Message}`;
    }
    moved += deletedIds.length;
    if (failure) {
      // Stop (a refusal would repeat on every message) and make what is left visible in the DLQ now rather than
      // after the 60 s receive timeout. Best effort: if this fails too, they reappear when it expires.
      const left = messages.filter((_, i) => !deletedIds.includes(String(i)));
      await client
        .send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: options.dlqUrl,
            Entries: left.map((m, i) => ({
              Id: String(i),
              ReceiptHandle: m.ReceiptHandle,
              VisibilityTimeout: 0,
            })),
          }),
        )
        .catch(() => undefined);
      return { method: 'receive-send', moved, status: 'FAILED', destinationUrl, failureReason: failure };
    }
    if (rate !== undefined) await sleep(Math.max(0, (messages.length / rate) * 1000 - (Date.now() - tBatch)));
  }
}

/** The receive/send fallback's default destination: the one queue that dead-letters into this DLQ. */
function onlySourceQueue(stats: DlqStats): string {
  const [only, ...others] = stats.sourceQueueUrls;
  if (!only) {
    throw new InvalidInputError(
      'no source queue points at this DLQ; pass the destination queue URL (--to)',
      'to',
    );
  }
  if (others.length > 0) {
    throw new InvalidInputError(
      `${stats.sourceQueueUrls.length} queues dead-letter into this DLQ (${stats.sourceQueueUrls.join(', ')}); ` +
        'pick the destination with --to',
      'to',
    );
  }
  return only;
}
