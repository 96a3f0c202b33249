import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { dlqStats, redriveDlq } from '../../functions/ops/dlq.ts';
import { silentLog } from '../../functions/pipeline/ports.ts';
import { compactRealtime } from '../../functions/stream/compaction.ts';
import type { OrderEvent } from '../../local/order-generator.ts';
import { SqsEventSource } from '../../local/sqs-event-source.ts';
import { FaultyStore } from '../support/faulty-store.ts';
import { useLocalS3, useLocalSqs } from '../support/local-aws.ts';
import { consumerFunction } from '../support/stream-consumer.ts';
import { expectedTotals, realtimeTotals, sleep, validOrders } from './helpers.ts';

const s3 = useLocalS3();
const sqs = useLocalSqs();
const DAY = '2026-11-20';
const NOW = new Date(`${DAY}T11:30:00Z`);

describe('storage outage during a stream (s3rver + local-aws-sqs with a redrive policy)', () => {
  it('S3 down for 3 s: failures reported, retried, dead-lettered after maxReceiveCount, redriven → totals exact', async () => {
    // Prepare: the lake on s3rver behind a fault injector; the orders queue with a DLQ (maxReceiveCount 3) and a
    // 1 s visibility timeout, after which a failed record is received again.
    const { queueUrl, queueArn, dlqUrl } = await sqs.queueWithDlq({
      maxReceiveCount: 3,
      visibilityTimeoutSeconds: 1,
    });
    const store = new FaultyStore(s3.store());
    const deps = { store, clock: () => NOW, log: silentLog };
    const orders = validOrders(1_200, 21, new Date(`${DAY}T10:00:00Z`), 2_500);
    const failedReports: string[] = [];
    const countedAfterRetry = new Set<string>();
    // The local runtime's event source emulation: batches of up to 10, no batching window (a window would have to
    // be shorter than the 1 s visibility timeout, or a batch could hold a message twice).
    const source = new SqsEventSource({
      client: sqs.client,
      queueUrl,
      queueArn,
      batchSize: 10,
      maxBatchingWindowSeconds: 0,
      reportBatchItemFailures: true,
      maxConcurrency: 2,
      invoke: consumerFunction(deps, (result, messages) => {
        failedReports.push(...result.failedMessageIds);
        if (!result.error) {
          for (const m of messages) if ((m.receiveCount ?? 1) > 1) countedAfterRetry.add(m.messageId);
        }
      }),
    });
    const poll = async () => (await source.pollOnce())?.size ?? 0;

    // Act 1: a producer sends 200 orders/s for 6 s; two consumers poll; 1.5 s in, S3 goes away for 3 s.
    let isProducing = true;
    const producer = (async () => {
      for (let i = 0; i < orders.length; i += 20) {
        for (let j = i; j < i + 20; j += 10) {
          await sqs.client.send(
            new SendMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: orders.slice(j, j + 10).map((o: OrderEvent, k) => ({
                Id: String(k),
                MessageBody: JSON.stringify(o),
              })),
            }),
          );
        }
        await sleep(100);
      }
      isProducing = false;
    })();
    const outage = sleep(1_500).then(() => store.outageFor(3_000));
    const drain = async () => {
      for (let idle = 0; idle < 10; ) {
        const received = await poll();
        const depth = await sqs.depth(queueUrl);
        idle = !isProducing && received === 0 && depth.visible + depth.inFlight === 0 ? idle + 1 : 0;
        if (received === 0) await sleep(50);
      }
    };
    await Promise.all([producer, outage, drain(), drain()]);
    const dead = await dlqStats(sqs.client, dlqUrl);

    // Act 2: S3 is back; the operator redrives the DLQ and the consumers catch up; compaction runs.
    const redrive = await redriveDlq(sqs.client, { dlqUrl, rate: 500, pollMs: 100 });
    await Promise.all([drain(), drain()]);
    await compactRealtime(deps, { now: NOW, days: [DAY] });

    const totals = await realtimeTotals(store, DAY);
    console.info(
      `storage outage: ${orders.length} sent, ${store.refusedTotal} store calls refused, ${failedReports.length} failures reported, ` +
        `${countedAfterRetry.size} counted after a retry, ${dead.visible} dead-lettered and redriven (${redrive.method}), ` +
        `${totals.orders} counted after compaction`,
    );

    // Assess
    expect(store.refusedTotal).toBeGreaterThan(0);
    expect(failedReports.length).toBeGreaterThan(0);
    expect(countedAfterRetry.size).toBeGreaterThan(0);
    expect(dead.visible).toBeGreaterThan(0);
    expect(redrive).toMatchObject({ moved: dead.visible, status: 'COMPLETED' });
    expect(await dlqStats(sqs.client, dlqUrl)).toMatchObject({ visible: 0, inFlight: 0 });
    expect(await sqs.depth(queueUrl)).toEqual({ visible: 0, inFlight: 0 });
    expect(totals).toEqual(expectedTotals(orders));
  }, 60_000);
});
