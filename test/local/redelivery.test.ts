import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { type DurableSqs, startDurableSqs } from '../../local/durable-sqs.ts';
import { FunctionHost } from '../../local/function-host.ts';
import { queueArn } from '../../local/local-resources.ts';
import { sendBodies } from '../../local/order-feed.ts';
import { type BatchReport, SqsEventSource } from '../../local/sqs-event-source.ts';
import { planFromTemplate } from '../../local/template-plan.ts';
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

describe('durable SQS', () => {
  it('keeps accepted messages that were never deleted across a restart, and forgets deleted ones', async () => {
    // Prepare
    const dataDir = tempDir();
    const first = await sqsFromTemplate(dataDir, { maxReceiveCount: 3, visibility: 30 });
    await sendBodies(first.client, first.ordersUrl, ['{"n":1}', '{"n":2}', '{"n":3}']);
    const received = await first.client.send(
      new ReceiveMessageCommand({ QueueUrl: first.ordersUrl, MaxNumberOfMessages: 1 }),
    );
    const { DeleteMessageCommand } = await import('@aws-sdk/client-sqs');
    await first.client.send(
      new DeleteMessageCommand({
        QueueUrl: first.ordersUrl,
        ReceiptHandle: received.Messages![0]!.ReceiptHandle!,
      }),
    );
    // Another one is in flight (received, not deleted) when the server goes away.
    await first.client.send(new ReceiveMessageCommand({ QueueUrl: first.ordersUrl, MaxNumberOfMessages: 1 }));
    first.client.destroy();
    await first.sqs.close();

    // Act
    const second: { sqs: DurableSqs; client: SQSClient; ordersUrl: string } = await sqsFromTemplate(dataDir, {
      maxReceiveCount: 3,
      visibility: 30,
    });
    cleanups.push(
      () => second.sqs.close(),
      () => second.client.destroy(),
    );
    const out = await second.client.send(
      new ReceiveMessageCommand({ QueueUrl: second.ordersUrl, MaxNumberOfMessages: 10 }),
    );

    // Assess
    const deletedBody = received.Messages![0]!.Body;
    expect(out.Messages?.map((m) => m.Body).sort()).toEqual(
      ['{"n":1}', '{"n":2}', '{"n":3}'].filter((b) => b !== deletedBody),
    );
    expect(second.sqs.restored).toEqual({ OrdersQueueC538DD4C: 2 });
  });
});
