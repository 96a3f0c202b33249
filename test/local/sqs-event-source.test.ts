import { ReceiveMessageCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterEach, describe, expect, it } from 'vitest';
import { batchResponseOf } from '../../functions/stream/sqs-records.ts';
import {
  type BatchReport,
  invokeInProcess,
  SqsEventSource,
  type SqsEventSourceOptions,
} from '../../local/sqs-event-source.ts';
import { useLocalSqs } from '../support/local-aws.ts';

/**
 * The event source emulation the local runtime and the stream tests share, against local-aws-sqs: the semantics
 * of Lambda's SQS event source mapping (see local/sqs-event-source.ts).
 */

const sqs = useLocalSqs();
const running: SqsEventSource[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((source) => source.stop()));
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function send(queueUrl: string, bodies: string[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += 10) {
    await sqs.client.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: bodies.slice(i, i + 10).map((body, j) => ({ Id: String(j), MessageBody: body })),
      }),
    );
  }
}

async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(100);
  }
}

const isEmpty = async (queueUrl: string) => {
  const depth = await sqs.depth(queueUrl);
  return depth.visible + depth.inFlight === 0;
};

/** A queue (with a DLQ) and an event source over it whose function is `handler`, run in this process. */
async function eventSourceFor(
  handler: (event: SQSEvent) => Promise<unknown>,
  options: Partial<SqsEventSourceOptions> & {
    maxReceiveCount?: number;
    visibilityTimeoutSeconds?: number;
  } = {},
) {
  const { maxReceiveCount = 3, visibilityTimeoutSeconds = 1, ...mapping } = options;
  const queue = await sqs.queueWithDlq({ maxReceiveCount, visibilityTimeoutSeconds });
  const reports: BatchReport[] = [];
  const source = new SqsEventSource({
    client: sqs.client,
    queueUrl: queue.queueUrl,
    queueArn: queue.queueArn,
    batchSize: 10,
    maxBatchingWindowSeconds: 0,
    reportBatchItemFailures: true,
    maxConcurrency: 1,
    invoke: invokeInProcess(handler),
    onBatch: (report) => reports.push(report),
    ...mapping,
  });
  running.push(source);
  return { ...queue, source, reports };
}

/** Receive counts per body, one entry per delivery. */
function deliveryLog() {
  const deliveries = new Map<string, number[]>();
  const record = (event: SQSEvent) => {
    for (const r of event.Records) {
      deliveries.set(r.body, [
        ...(deliveries.get(r.body) ?? []),
        Number(r.attributes.ApproximateReceiveCount),
      ]);
    }
  };
  return { deliveries, record };
}

describe('SQS event source emulation (Lambda semantics, local-aws-sqs)', () => {
  it('partial batch failure: failed records come back after the visibility timeout, reach the DLQ after exactly maxReceiveCount deliveries; the rest are deleted once', async () => {
    // Prepare: maxReceiveCount 3, visibility timeout 1 s, a function failing the record "poison".
    const { deliveries, record } = deliveryLog();
    const { queueUrl, dlqUrl, source, reports } = await eventSourceFor(async (event) => {
      record(event);
      return batchResponseOf(event.Records.filter((r) => r.body === 'poison').map((r) => r.messageId));
    });
    await send(queueUrl, ['a', 'poison', 'b']);

    // Act
    source.start();
    await until(async () => (await sqs.depth(dlqUrl)).visible === 1, 15_000);
    await source.stop();

    // Assess: a retry delay made by ChangeMessageVisibility would count as a receive on local-aws-sqs and
    // dead-letter the record after 2 deliveries; Lambda leaves visibility alone.
    expect(Object.fromEntries(deliveries)).toEqual({ a: [1], b: [1], poison: [1, 2, 3] });
    expect(reports.map((r) => [r.size, r.deleted, r.retried])).toEqual([
      [3, 2, 1],
      [1, 0, 1],
      [1, 0, 1],
    ]);
    expect(await isEmpty(queueUrl)).toBe(true);
    const dead = await sqs.client.send(
      new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10 }),
    );
    expect(dead.Messages?.map((m) => m.Body)).toEqual(['poison']);
  }, 30_000);

  it('a response naming a record that is not in the batch retries the whole batch', async () => {
    // Prepare: the first invocation reports an id the batch does not have; later ones succeed.
    const { deliveries, record } = deliveryLog();
    let invocations = 0;
    const { queueUrl, dlqUrl, source, reports } = await eventSourceFor(async (event) => {
      record(event);
      invocations += 1;
      return invocations === 1 ? batchResponseOf(['not-in-this-batch']) : batchResponseOf([]);
    });
    await send(queueUrl, ['a', 'b']);

    // Act
    const first = await source.pollOnce(5);
    await until(async () => Boolean(await source.pollOnce(0)), 5_000);

    // Assess
    expect(first).toMatchObject({
      size: 2,
      deleted: 0,
      retried: 2,
      batchFailure: 'batchItemFailures names unknown record "not-in-this-batch"',
    });
    expect(Object.fromEntries(deliveries)).toEqual({ a: [1, 2], b: [1, 2] });
    expect(reports.at(-1)).toMatchObject({ size: 2, deleted: 2, retried: 0 });
    expect(await isEmpty(queueUrl)).toBe(true);
    expect(await isEmpty(dlqUrl)).toBe(true);
  });

  it('a function that throws keeps the whole batch; without ReportBatchItemFailures a response is ignored', async () => {
    // Prepare
    const { deliveries, record } = deliveryLog();
    const throwing = await eventSourceFor(async (event) => {
      record(event);
      throw new RangeError('lake unavailable');
    });
    const ignoring = await eventSourceFor(
      async (event) => batchResponseOf(event.Records.map((r) => r.messageId)),
      { reportBatchItemFailures: false },
    );
    await send(throwing.queueUrl, ['a', 'b']);
    await send(ignoring.queueUrl, ['a', 'b']);

    // Act
    const thrown = await throwing.source.pollOnce(5);
    const again = await throwing.source.pollOnce(5);
    const ignored = await ignoring.source.pollOnce(5);

    // Assess
    expect(thrown).toMatchObject({
      size: 2,
      deleted: 0,
      retried: 2,
      batchFailure: 'RangeError: lake unavailable',
    });
    expect(again).toMatchObject({ size: 2, deleted: 0, retried: 2 });
    expect(Object.fromEntries(deliveries)).toEqual({ a: [1, 2], b: [1, 2] });
    expect(ignored).toMatchObject({ size: 2, deleted: 2, retried: 0 });
    expect(await isEmpty(ignoring.queueUrl)).toBe(true);
  });

  it('a batching window waits for more messages after the first one; without one the first receive is the batch', async () => {
    // Prepare: 3 messages now, 2 more 300 ms later, into a mapping with a 1 s window and one without.
    const sizes = { window: [] as number[], none: [] as number[] };
    // The visibility timeout outlasts the window, or the first messages would be received again within it.
    const withWindow = await eventSourceFor(async (event) => sizes.window.push(event.Records.length), {
      maxBatchingWindowSeconds: 1,
      visibilityTimeoutSeconds: 30,
    });
    const withoutWindow = await eventSourceFor(async (event) => sizes.none.push(event.Records.length), {
      visibilityTimeoutSeconds: 30,
    });
    for (const { queueUrl } of [withWindow, withoutWindow]) {
      await send(queueUrl, ['1', '2', '3']);
      void sleep(300).then(() => send(queueUrl, ['4', '5']));
    }

    // Act
    const started = Date.now();
    const windowed = withWindow.source.pollOnce(5);
    const unwindowed = await withoutWindow.source.pollOnce(5);
    await windowed;
    const windowMs = Date.now() - started;
    await withoutWindow.source.pollOnce(5);

    // Assess
    expect(sizes.window).toEqual([5]);
    expect(windowMs).toBeGreaterThanOrEqual(1_000);
    expect(unwindowed?.size).toBe(3);
    expect(sizes.none).toEqual([3, 2]);
  });

  it('a batch size above 10 needs a batching window, as Lambda requires', async () => {
    const options = { batchSize: 11, maxBatchingWindowSeconds: 0 };
    await expect(eventSourceFor(async () => null, options)).rejects.toThrow(
      'a batch size of 11 (above 10) needs a batching window of at least 1 s',
    );
    await expect(eventSourceFor(async () => null, { batchSize: 0 })).rejects.toThrow(RangeError);
  });

  it('runs at most maxConcurrency batches at once', async () => {
    // Prepare: 40 messages, batches of 5, a function taking 200 ms, maximum concurrency 2.
    let active = 0;
    let peak = 0;
    const { queueUrl, source, reports } = await eventSourceFor(
      async () => {
        active += 1;
        peak = Math.max(peak, active);
        await sleep(200);
        active -= 1;
        return null;
      },
      { batchSize: 5, maxConcurrency: 2, visibilityTimeoutSeconds: 30 },
    );
    await send(
      queueUrl,
      Array.from({ length: 40 }, (_, i) => String(i)),
    );

    // Act
    source.start();
    await until(async () => reports.reduce((sum, r) => sum + r.deleted, 0) === 40, 15_000);
    await source.stop();

    // Assess
    expect(peak).toBe(2);
    expect(await isEmpty(queueUrl)).toBe(true);
  });
});
