import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { InvalidInputError } from '../pipeline/errors.ts';
import type { CoreDeps } from '../pipeline/ports.ts';
import { jsonLinesOf } from '../pipeline/record-sources.ts';
import { consumeMicroBatch, type MicroBatchResult, type StreamMessage } from '../stream/micro-batch.ts';

/** Totals over the micro-batches of a replay: their counts summed, plus batches, failed records and wall time. */
export type ReplayTotals = Pick<
  MicroBatchResult,
  'received' | 'valid' | 'quarantined' | 'duplicates' | 'late' | 'orders'
> & { batches: number; failed: number; durationMs: number };

export function emptyTotals(): ReplayTotals {
  return {
    batches: 0,
    received: 0,
    valid: 0,
    quarantined: 0,
    duplicates: 0,
    late: 0,
    orders: 0,
    failed: 0,
    durationMs: 0,
  };
}

export function addResult(totals: ReplayTotals, result: MicroBatchResult): ReplayTotals {
  totals.batches += 1;
  totals.received += result.received;
  totals.valid += result.valid;
  totals.quarantined += result.quarantined;
  totals.duplicates += result.duplicates;
  totals.late += result.late;
  totals.orders += result.orders;
  totals.failed += result.failedMessageIds.length;
  return totals;
}

/**
 * The lines of a `.jsonl` file as messages with ids `<file name>@<content hash>:<line>`. Replaying the same file
 * again gives the same ids, so its micro-batches overwrite their own output (idempotent); another file with the
 * same name gives other ids, so it can never overwrite the first one's partials or quarantine records.
 */
export async function* fileMessages(file: string): AsyncGenerator<StreamMessage> {
  const content = createHash('sha256');
  for await (const chunk of createReadStream(file)) content.update(chunk as Buffer);
  const prefix = `${path.basename(file)}@${content.digest('hex').slice(0, 8)}`;
  for await (const { ref, line, isInvalidUtf8 } of jsonLinesOf(file, prefix)) {
    yield isInvalidUtf8 ? { messageId: ref, body: line, isInvalidUtf8 } : { messageId: ref, body: line };
  }
}

export async function* chunks<T>(items: AsyncIterable<T> | Iterable<T>, size: number): AsyncGenerator<T[]> {
  if (!Number.isInteger(size) || size < 1) {
    throw new InvalidInputError(`batch size must be a whole number ≥ 1, got ${size}`, 'batch-size');
  }
  let chunk: T[] = [];
  for await (const item of items) {
    chunk.push(item);
    if (chunk.length >= size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

/** How a replay's micro-batches go through the consumer core. */
export interface ReplayBatchOptions {
  /** The declared dataset the messages belong to (default orders). */
  dataset?: string;
  allowedLatenessSeconds?: number;
  source?: string;
  onBatch?: (result: MicroBatchResult) => void;
}

/**
 * Local debug mode: runs messages through the same consumer core as the Lambda (the one of `dataset`, default
 * orders), in micro-batches of `batchSize`, without SQS. Failed batches are reported, not retried.
 */
export async function replayMessages(
  messages: AsyncIterable<StreamMessage> | Iterable<StreamMessage>,
  options: ReplayBatchOptions & { batchSize?: number },
  deps: CoreDeps,
): Promise<ReplayTotals> {
  const t0 = performance.now();
  const totals = emptyTotals();
  for await (const batch of chunks(messages, options.batchSize ?? 100)) {
    await replayBatch(batch, totals, options, deps);
  }
  totals.durationMs = Math.round(performance.now() - t0);
  return totals;
}

/**
 * One micro-batch of a replay through the consumer core (the file replay's and the Kafka replay's), its counts
 * added to `totals`.
 */
export async function replayBatch(
  messages: StreamMessage[],
  totals: ReplayTotals,
  options: ReplayBatchOptions,
  deps: CoreDeps,
): Promise<MicroBatchResult> {
  const result = await consumeMicroBatch(
    {
      messages,
      dataset: options.dataset ?? 'orders',
      source: options.source ?? 'replay',
      ...(options.allowedLatenessSeconds !== undefined
        ? { allowedLatenessSeconds: options.allowedLatenessSeconds }
        : {}),
    },
    deps,
  );
  addResult(totals, result);
  options.onBatch?.(result);
  return result;
}

/** Sends message bodies to an SQS queue, 10 per request. Returns how many were accepted and rejected. */
export async function sendToQueue(
  client: SQSClient,
  queueUrl: string,
  messages: AsyncIterable<Pick<StreamMessage, 'body'>> | Iterable<Pick<StreamMessage, 'body'>>,
): Promise<{ sent: number; rejected: { body: string; reason: string }[] }> {
  let sent = 0;
  const rejected: { body: string; reason: string }[] = [];
  for await (const batch of chunks(messages, 10)) {
    const out = await client.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: batch.map((m, i) => ({ Id: String(i), MessageBody: m.body })),
      }),
    );
    sent += out.Successful?.length ?? 0;
    for (const failure of out.Failed ?? []) {
      rejected.push({
        body: batch[Number(failure.Id)]?.body.slice(0, 200) ?? '',
        reason: failure.Message ?? failure.Code ?? 'rejected',
      });
    }
  }
  return { sent, rejected };
}
