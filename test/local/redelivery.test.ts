import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { redriveDlq } from '../../functions/ops/dlq.ts';
import { sqsRecordOf } from '../../functions/stream/sqs-records.ts';
import { startDurableSqs } from '../../local/durable-sqs.ts';
import { describeOutcome, FunctionHost } from '../../local/function-host.ts';
import { queueArn } from '../../local/local-resources.ts';
import { sendBodies } from '../../local/order-feed.ts';
import { type BatchReport, SqsEventSource } from '../../local/sqs-event-source.ts';
import { planFromTemplate } from '../../local/template-plan.ts';
import { sqsQuery } from '../support/local-aws.ts';
import { handWrittenTemplate } from './fixtures/template.ts';

const FAKE_HANDLERS = fileURLToPath(new URL('./fixtures/fake-handlers.ts', import.meta.url));
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-local-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The orders queue and DLQ exactly as the plan of a template describes them, served by the durable SQS. */
async function sqsFromTemplate(dataDir: string, options: { maxReceiveCount: number; visibility: number }) {
  const plan = planFromTemplate(handWrittenTemplate({ ...options, batchSize: 10, window: 0 }));
  const orders = plan.queues.find((q) => q.redrive)!;
  const dlq = plan.queues.find((q) => q.logicalId === orders.redrive!.deadLetterQueueId)!;
  const sqs = await startDurableSqs({
    dataDir,
    queues: [
      { QueueName: dlq.name },
      {
        QueueName: orders.name,
        Attributes: {
          VisibilityTimeout: String(orders.visibilityTimeoutSeconds),
          RedrivePolicy: JSON.stringify({
            deadLetterTargetArn: queueArn(dlq.name),
            maxReceiveCount: orders.redrive!.maxReceiveCount,
          }),
        },
      },
    ],
  });
  const client = new SQSClient({ region: 'us-east-1', endpoint: sqs.endpoint, credentials });
  return {
    plan,
    sqs,
    client,
    ordersUrl: sqs.queueUrl(orders.name),
    dlqUrl: sqs.queueUrl(dlq.name),
    ordersArn: queueArn(orders.name),
  };
}

async function depth(client: SQSClient, url: string): Promise<number> {
  const out = await client.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(out.Attributes?.['ApproximateNumberOfMessages'] ?? 0) +
    Number(out.Attributes?.['ApproximateNumberOfMessagesNotVisible'] ?? 0)
  );
}

async function until(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('SQS event source against local-aws-sqs', () => {
  it('a record reported in batchItemFailures is redelivered, then dead-lettered after maxReceiveCount', async () => {
    // Prepare: the template's redrive policy (2 receives), a 2 s visibility timeout, a handler failing "poison".
    const { sqs, client, ordersUrl, dlqUrl, ordersArn } = await sqsFromTemplate(tempDir(), {
      maxReceiveCount: 2,
      visibility: 2,
    });
    cleanups.push(
      () => sqs.close(),
      () => client.destroy(),
    );
    const host = new FunctionHost({
      name: 'fake',
      entryPath: FAKE_HANDLERS,
      handlerExport: 'handler',
      environment: { FAKE_MODE: 'fail-poison' },
      timeoutSeconds: 10,
      memoryMb: 128,
      maxInstances: 2,
      logSink: process.stderr,
    });
    cleanups.push(() => host.close());
    // Warm the container: a cold start longer than the visibility timeout would (rightly) cause a redelivery.
    await host.invoke({ Records: [] });
    const deliveries = new Map<string, number[]>();
    const reports: BatchReport[] = [];
    const source = new SqsEventSource({
      client,
      queueUrl: ordersUrl,
      queueArn: ordersArn,
      batchSize: 10,
      maxBatchingWindowSeconds: 0,
      reportBatchItemFailures: true,
      maxConcurrency: 2,
      invoke: (event) => {
        for (const record of event.Records) {
          const seen = deliveries.get(record.body) ?? [];
          deliveries.set(record.body, [...seen, Number(record.attributes.ApproximateReceiveCount)]);
        }
        return host.invoke(event);
      },
      onBatch: (report) => reports.push(report),
    });

    // Act
    await sendBodies(client, ordersUrl, ['{"n":1}', '{"n":2}', '{"poison":true}', '{"n":3}']);
    source.start();
    cleanups.push(() => source.stop());
    await until(async () => (await depth(client, dlqUrl)) === 1, 15_000);
    await source.stop();

    // Assess
    expect(deliveries.get('{"n":1}')).toEqual([1]);
    expect(deliveries.get('{"n":3}')).toEqual([1]);
    expect(deliveries.get('{"poison":true}')).toEqual([1, 2]);
    expect(reports.reduce((sum, r) => sum + r.retried, 0)).toBe(2);
    expect(await depth(client, ordersUrl)).toBe(0);
    const dead = await client.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10 }));
    expect(dead.Messages?.map((m) => m.Body)).toEqual(['{"poison":true}']);
  });

  it('a whole batch is retried when the handler throws', async () => {
    const { sqs, client, ordersUrl, dlqUrl, ordersArn } = await sqsFromTemplate(tempDir(), {
      maxReceiveCount: 1,
      visibility: 1,
    });
    cleanups.push(
      () => sqs.close(),
      () => client.destroy(),
    );
    const host = new FunctionHost({
      name: 'fake',
      entryPath: FAKE_HANDLERS,
      handlerExport: 'handler',
      environment: { FAKE_MODE: 'throw' },
      timeoutSeconds: 10,
      memoryMb: 128,
      maxInstances: 1,
      logSink: process.stderr,
    });
    cleanups.push(() => host.close());
    const source = new SqsEventSource({
      client,
      queueUrl: ordersUrl,
      queueArn: ordersArn,
      batchSize: 10,
      maxBatchingWindowSeconds: 0,
      reportBatchItemFailures: true,
      maxConcurrency: 1,
      invoke: (event) => host.invoke(event),
    });

    await sendBodies(client, ordersUrl, ['{"n":1}', '{"n":2}']);
    source.start();
    cleanups.push(() => source.stop());
    await until(async () => (await depth(client, dlqUrl)) === 2, 15_000);

    expect(await depth(client, ordersUrl)).toBe(0);
  });
});

describe('local console', () => {
  it('a micro-batch that fails completely is printed with its underlying cause', async () => {
    // Prepare: Powertools' batch processor failing every record, in a worker like any local function.
    const host = new FunctionHost({
      name: 'fake',
      entryPath: FAKE_HANDLERS,
      handlerExport: 'handler',
      environment: { FAKE_MODE: 'fail-all-records' },
      timeoutSeconds: 10,
      memoryMb: 128,
      maxInstances: 1,
      logSink: process.stderr,
    });
    cleanups.push(() => host.close());
    const records = ['m1', 'm2', 'm3'].map((id) =>
      sqsRecordOf(
        { MessageId: id, ReceiptHandle: id, Body: '{}', Attributes: {} },
        'arn:aws:sqs:us-east-1:123456789012:q',
      ),
    );

    // Act
    const outcome = await host.invoke({ Records: records });

    // Assess: what "See individual errors below" refers to is below, once, with its count.
    const printed = describeOutcome(outcome, ', 3 left for redelivery').split('\n');
    expect(printed[0]).toMatch(
      /^FAILED FullBatchFailureError: All records failed processing\. See individual errors below\. \(.+\), 3 left for redelivery$/,
    );
    expect(printed.slice(1)).toEqual(['    RangeError: lake unavailable (×3)']);
  });
});

/** Every message a queue holds now, by body → message id (received once each, left in flight). */
async function drain(client: SQSClient, url: string): Promise<Record<string, string>> {
  const found: Record<string, string> = {};
  for (;;) {
    const out = await client.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));
    if (!out.Messages?.length) return found;
    for (const m of out.Messages) found[m.Body ?? ''] = m.MessageId ?? '';
  }
}

/** Receives `bodies` (all must be visible): their receipt handles and message ids by body. */
async function receiveAll(client: SQSClient, url: string, bodies: string[], visibility?: number) {
  const received = new Map<string, { handle: string; id: string }>();
  await until(async () => {
    const out = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        ...(visibility === undefined ? {} : { VisibilityTimeout: visibility }),
      }),
    );
    for (const m of out.Messages ?? []) {
      received.set(m.Body ?? '', { handle: m.ReceiptHandle ?? '', id: m.MessageId ?? '' });
    }
    return bodies.every((b) => received.has(b));
  }, 5_000);
  return received;
}

describe('durable SQS', () => {
  it('a restart restores exactly the messages never deleted, whichever protocol sent or deleted them', async () => {
    // Prepare: sends and deletes over the JSON protocol (SDK v3) and the query protocol (form posts).
    const dataDir = tempDir();
    const first = await sqsFromTemplate(dataDir, { maxReceiveCount: 3, visibility: 30 });
    await sendBodies(first.client, first.ordersUrl, ['json-1', 'json-2', 'json-3']);
    await sqsQuery(first.ordersUrl, 'SendMessage', { MessageBody: 'query-1' });
    await sqsQuery(first.ordersUrl, 'SendMessageBatch', {
      'SendMessageBatchRequestEntry.1.Id': 'a',
      'SendMessageBatchRequestEntry.1.MessageBody': 'query-2',
      'SendMessageBatchRequestEntry.2.Id': 'b',
      'SendMessageBatchRequestEntry.2.MessageBody': 'query-3',
    });
    const sent = await receiveAll(first.client, first.ordersUrl, [
      'json-1',
      'json-2',
      'json-3',
      'query-1',
      'query-2',
      'query-3',
    ]);
    const handle = (body: string) => sent.get(body)?.handle ?? '';
    const { DeleteMessageCommand, DeleteMessageBatchCommand } = await import('@aws-sdk/client-sqs');
    await first.client.send(
      new DeleteMessageCommand({ QueueUrl: first.ordersUrl, ReceiptHandle: handle('json-1') }),
    );
    await first.client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: first.ordersUrl,
        Entries: [{ Id: 'x', ReceiptHandle: handle('query-1') }],
      }),
    );
    await sqsQuery(first.ordersUrl, 'DeleteMessage', { ReceiptHandle: handle('json-2') });
    await sqsQuery(first.ordersUrl, 'DeleteMessageBatch', {
      'DeleteMessageBatchRequestEntry.1.Id': 'y',
      'DeleteMessageBatchRequestEntry.1.ReceiptHandle': handle('query-2'),
    });
    // json-3 and query-3 are in flight (received, not deleted) and query-4 waits when the server goes away.
    await sqsQuery(first.ordersUrl, 'SendMessage', { MessageBody: 'query-4' });
    first.client.destroy();
    await first.sqs.close();

    // Act
    const second = await sqsFromTemplate(dataDir, { maxReceiveCount: 3, visibility: 30 });
    cleanups.push(
      () => second.sqs.close(),
      () => second.client.destroy(),
    );
    const after = await drain(second.client, second.ordersUrl);

    // Assess: exactly what was left, under the message ids it had.
    expect(Object.keys(after).sort()).toEqual(['json-3', 'query-3', 'query-4']);
    expect(after['json-3']).toBe(sent.get('json-3')?.id);
    expect(after['query-3']).toBe(sent.get('query-3')?.id);
    expect(second.sqs.restored).toEqual({ OrdersQueueC538DD4C: 3 });
  });

  it('a message redriven from the DLQ (move task or --manual) comes back once, where it was', async () => {
    // Prepare: one receive dead-letters a message (maxReceiveCount 1, visibility 0 on that receive).
    const dataDir = tempDir();
    const first = await sqsFromTemplate(dataDir, { maxReceiveCount: 1, visibility: 30 });
    const deadLetter = async (bodies: string[]) => {
      await receiveAll(first.client, first.ordersUrl, bodies, 0);
      await until(async () => (await depth(first.client, first.dlqUrl)) === bodies.length, 5_000);
    };
    const processOne = async (body: string) => {
      const { DeleteMessageCommand } = await import('@aws-sdk/client-sqs');
      const received = await receiveAll(first.client, first.ordersUrl, [body]);
      await first.client.send(
        new DeleteMessageCommand({ QueueUrl: first.ordersUrl, ReceiptHandle: received.get(body)?.handle }),
      );
    };
    await sendBodies(first.client, first.ordersUrl, ['moved-done', 'moved-waiting']);
    await deadLetter(['moved-done', 'moved-waiting']);
    const byTask = await redriveDlq(first.client, { dlqUrl: first.dlqUrl, pollMs: 100 });
    await processOne('moved-done');
    await sendBodies(first.client, first.ordersUrl, ['manual-done']);
    await sqsQuery(first.ordersUrl, 'SendMessage', { MessageBody: 'manual-waiting' });
    await deadLetter(['manual-done', 'manual-waiting']);
    const byHand = await redriveDlq(first.client, { dlqUrl: first.dlqUrl, isManual: true });
    await processOne('manual-done');
    await sendBodies(first.client, first.ordersUrl, ['still-dead']);
    await deadLetter(['still-dead']);
    first.client.destroy();
    await first.sqs.close();

    // Act
    const second = await sqsFromTemplate(dataDir, { maxReceiveCount: 1, visibility: 30 });
    cleanups.push(
      () => second.sqs.close(),
      () => second.client.destroy(),
    );

    // Assess
    expect([byTask.method, byTask.moved, byHand.method, byHand.moved]).toEqual([
      'move-task',
      2,
      'receive-send',
      2,
    ]);
    expect(Object.keys(await drain(second.client, second.ordersUrl)).sort()).toEqual([
      'manual-waiting',
      'moved-waiting',
    ]);
    // Still dead-lettered, and still knowing its source queue (where a move task returns it).
    const dead = await second.client.send(
      new ReceiveMessageCommand({
        QueueUrl: second.dlqUrl,
        MaxNumberOfMessages: 10,
        // local-aws-sqs reads the older AttributeNames.
        AttributeNames: ['All'],
      }),
    );
    expect(dead.Messages?.map((m) => [m.Body, m.Attributes?.DeadLetterQueueSourceArn])).toEqual([
      ['still-dead', second.ordersArn],
    ]);
  });
});
