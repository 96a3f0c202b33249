import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { dayOf } from '../../functions/pipeline/dates.ts';
import { silentLog } from '../../functions/pipeline/ports.ts';
import { formatCents, toCents } from '../../functions/reconcile/exact.ts';
import { compactRealtime } from '../../functions/stream/compaction.ts';
import { stageConfig } from '../../lib/stage-config.ts';
import { createOrderGenerator, type OrderEvent } from '../../local/order-generator.ts';
import { SqsEventSource } from '../../local/sqs-event-source.ts';
import { useLocalS3, useLocalSqs } from '../support/local-aws.ts';
import { consumerFunction } from '../support/stream-consumer.ts';
import { expectedTotals, realtimeTotals, sleep } from './helpers.ts';

const s3 = useLocalS3();
const sqs = useLocalSqs();

/** 10× the local runtime's default rate (10 orders/s, the user's scenario). */
const RATE = 100;
/** 2 minutes, as the reliability suite promises; `TWINFLOW_LOAD_SECONDS=20` for a quick local run. */
const SECONDS = Number(process.env['TWINFLOW_LOAD_SECONDS'] ?? 120);

const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;

describe('load', () => {
  it(
    `a sustained stream at ${RATE} orders/s for ${SECONDS} s: the queue drains and nothing is lost or double counted`,
    async () => {
      // Prepare: the dev stage's event source mapping (batch size, batching window, max concurrency) and
      // maxReceiveCount, emulated on loopback as the local runtime does. The visibility timeout is 30 s, not the
      // stage's 6 min: a batch hit by a transient s3rver failure comes back within the test.
      const { stream } = stageConfig('dev');
      const { queueUrl, queueArn, dlqUrl } = await sqs.queueWithDlq({
        maxReceiveCount: stream.maxReceiveCount,
        visibilityTimeoutSeconds: 30,
      });
      const store = s3.store();
      const deps = { store, clock: () => new Date(), log: silentLog };
      const generator = createOrderGenerator({ seed: 100, idPrefix: `load${Date.now().toString(36)}` });
      const sent: OrderEvent[] = [];
      const latencies: number[] = [];
      let maxDepth = 0;
      let failures = 0;

      // Act: a paced producer (10 orders every 100 ms) into the queue the event source mapping consumes.
      const started = Date.now();
      const producer = (async () => {
        for (let tick = 0; tick < (SECONDS * RATE) / 10; tick++) {
          const due = started + tick * 100;
          if (due > Date.now()) await sleep(due - Date.now());
          const batch = Array.from({ length: 10 }, () => generator.next(new Date()));
          await sqs.client.send(
            new SendMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: batch.map((o, i) => ({ Id: String(i), MessageBody: JSON.stringify(o) })),
            }),
          );
          sent.push(...batch);
        }
      })();
      let isProducing = true;
      void producer.then(() => {
        isProducing = false;
      });
      const source = new SqsEventSource({
        client: sqs.client,
        queueUrl,
        queueArn,
        batchSize: stream.batchSize,
        maxBatchingWindowSeconds: stream.maxBatchingWindowSeconds,
        reportBatchItemFailures: true,
        maxConcurrency: stream.maxConcurrency,
        invoke: consumerFunction(deps, (result, messages) => {
          const done = Date.now();
          for (const m of messages) if (m.sentAt) latencies.push(done - m.sentAt.getTime());
          failures += result.failedMessageIds.length;
        }),
      });
      source.start();
      const drained = (async () => {
        await producer;
        for (;;) {
          const depth = await sqs.depth(queueUrl);
          maxDepth = Math.max(maxDepth, depth.visible + depth.inFlight);
          if (depth.visible + depth.inFlight === 0) return;
          await sleep(100);
        }
      })();
      const monitor = (async () => {
        while (isProducing) {
          const depth = await sqs.depth(queueUrl);
          maxDepth = Math.max(maxDepth, depth.visible + depth.inFlight);
          await sleep(500);
        }
      })();
      await Promise.all([producer, monitor, drained]);
      const drainedAfterMs = Date.now() - started - SECONDS * 1000;
      await source.stop();
      const days = [...new Set(sent.map((o) => dayOf(new Date(o.event_time))))];
      await compactRealtime(deps, { now: new Date(), days });
      let cents = 0n;
      let orders = 0;
      let units = 0;
      for (const day of days) {
        const totals = await realtimeTotals(store, day);
        orders += totals.orders;
        units += totals.units;
        cents += toCents(totals.revenue_by_currency['USD'] ?? '0.00');
      }
      const sorted = [...latencies].sort((a, b) => a - b);
      console.info(
        `load: ${sent.length} orders at ${RATE}/s for ${SECONDS} s, max queue depth ${maxDepth}, drained ${drainedAfterMs} ms after the producer stopped, ` +
          `sent→written p50 ${percentile(sorted, 50)} ms p99 ${percentile(sorted, 99)} ms max ${sorted.at(-1)} ms, ${failures} failures, ${orders} counted`,
      );

      // Assess
      const expected = expectedTotals(sent);
      expect(sent).toHaveLength(SECONDS * RATE);
      expect(await sqs.depth(queueUrl)).toEqual({ visible: 0, inFlight: 0 });
      expect(await sqs.depth(dlqUrl)).toEqual({ visible: 0, inFlight: 0 });
      expect({ orders, units, revenue_by_currency: { USD: formatCents(cents) } }).toEqual({
        orders: expected.orders,
        units: expected.units,
        revenue_by_currency: expected.revenue_by_currency,
      });
    },
    (SECONDS + 60) * 1000,
  );
});
