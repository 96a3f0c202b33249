import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { dlqStats, peekDlq, redriveDlq } from '../../functions/ops/dlq.ts';
import { listQuarantine } from '../../functions/ops/quarantine.ts';
import { silentLog } from '../../functions/pipeline/ports.ts';
import { compactRealtime } from '../../functions/stream/compaction.ts';
import { SqsEventSource } from '../../local/sqs-event-source.ts';
import { realtimeOrders } from '../stream/stream-helpers.ts';
import { FaultyStore } from '../support/faulty-store.ts';
import { useLocalS3, useLocalSqs } from '../support/local-aws.ts';
import { order } from '../support/orders.ts';
import { consumerFunction } from '../support/stream-consumer.ts';

const s3 = useLocalS3();
const sqs = useLocalSqs();
const DAY = '2026-11-20';
const NOW = new Date('2026-11-20T10:30:00Z');

/** Runs the consumer core behind the local runtime's event source emulation until the queue is empty. */
async function drain(queue: { queueUrl: string; queueArn: string }, store: FaultyStore) {
  const source = new SqsEventSource({
    client: sqs.client,
    ...queue,
    batchSize: 10,
    maxBatchingWindowSeconds: 0,
    reportBatchItemFailures: true,
    maxConcurrency: 1,
    invoke: consumerFunction({ store, clock: () => NOW, log: silentLog }),
  });
  for (let turn = 0; turn < 50; turn++) {
    const depth = await sqs.depth(queue.queueUrl);
    if (depth.visible + depth.inFlight === 0) return;
    await source.pollOnce(2);
  }
  throw new Error('queue did not drain');
}

describe('stream failures end in the DLQ and come back exact (local-aws-sqs + s3rver)', () => {
  it('S3 write failure → retried → DLQ after maxReceiveCount → redrive → totals exact', async () => {
    // Prepare: failed records come back after the queue's visibility timeout (1 s), as from Lambda's mapping.
    const queue = await sqs.queueWithDlq({ maxReceiveCount: 3, visibilityTimeoutSeconds: 1 });
    const { queueUrl, dlqUrl } = queue;
    const store = new FaultyStore(s3.store());
    const bodies = [
      ...Array.from({ length: 20 }, (_, i) =>
        JSON.stringify(
          order({ order_id: `o${i}`, event_time: `2026-11-20T10:${String(i).padStart(2, '0')}:00Z` }),
        ),
      ),
      '{"poison": true',
      JSON.stringify(order({ order_id: 'bad', quantity: -1 })),
    ];
    for (let i = 0; i < bodies.length; i += 10) {
      await sqs.client.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: bodies.slice(i, i + 10).map((body, j) => ({ Id: String(j), MessageBody: body })),
        }),
      );
    }
    let attempts = 0;
    store.failWrites = (key) => {
      if (key.startsWith('stream/')) attempts += 1;
      return key.startsWith('stream/');
    };

    // Act 1: the stream keeps failing to write; SQS retries, then dead-letters.
    await drain(queue, store);

    // Assess 1
    expect(attempts).toBeGreaterThanOrEqual(3);
    expect(await dlqStats(sqs.client, dlqUrl)).toMatchObject({ visible: 20, sourceQueueUrls: [queueUrl] });
    expect((await peekDlq(sqs.client, dlqUrl, 3)).length).toBeGreaterThan(0);
    const quarantined = await listQuarantine(store);
    expect(quarantined.map((r) => r.reasons[0]).sort()).toEqual([
      'quantity: must be greater than 0',
      'record: not valid JSON',
    ]);
    expect(await realtimeOrders(store, DAY)).toBe(0);

    // Act 2: S3 is back; the operator redrives the DLQ and the consumer catches up.
    store.failWrites = () => false;
    const redrive = await redriveDlq(sqs.client, { dlqUrl, rate: 100, pollMs: 100 });
    await drain(queue, store);
    await compactRealtime({ store, clock: () => NOW, log: silentLog }, { now: NOW, days: [DAY] });

    // Assess 2
    expect(redrive).toMatchObject({ method: 'move-task', moved: 20, status: 'COMPLETED' });
    expect(await dlqStats(sqs.client, dlqUrl)).toMatchObject({ visible: 0, inFlight: 0 });
    expect(await realtimeOrders(store, DAY)).toBe(20);
    expect(await listQuarantine(store)).toHaveLength(2);
  });

  it('redrive falls back to receive/send where StartMessageMoveTask is unavailable', async () => {
    const { queueUrl, dlqUrl } = await sqs.queueWithDlq({ maxReceiveCount: 1 });
    await sqs.client.send(
      new SendMessageBatchCommand({
        QueueUrl: dlqUrl,
        Entries: ['a', 'b', 'c'].map((body, i) => ({ Id: String(i), MessageBody: body })),
      }),
    );
    const result = await redriveDlq(sqs.client, { dlqUrl, isManual: true });
    expect(result).toEqual({
      method: 'receive-send',
      moved: 3,
      status: 'COMPLETED',
      destinationUrl: queueUrl,
    });
    expect((await sqs.depth(queueUrl)).visible).toBe(3);
    expect((await sqs.depth(dlqUrl)).visible).toBe(0);
  });
});
