import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compactRealtime } from '../../functions/stream/compaction.ts';
import type { KafkaFailureRecord } from '../../functions/stream/kafka-failures.ts';
import {
  type KafkaEvent,
  kafkaBatchResponseOf,
  kafkaMessagesOf,
} from '../../functions/stream/kafka-records.ts';
import { consumeMicroBatch } from '../../functions/stream/micro-batch.ts';
import { hasKcat, type KafkaBroker, startKafkaBroker } from '../../local/kafka-broker.ts';
import { type KafkaBatchReport, KafkaEventSource } from '../../local/kafka-event-source.ts';
import { invokeInProcess } from '../../local/sqs-event-source.ts';
import { realtimeOrders, streamDeps } from '../stream/stream-helpers.ts';
import { order } from '../support/orders.ts';

/**
 * The Kafka event source mapping emulation against a real broker (librdkafka's mock cluster): batches per the
 * mapping's size and window, each partition in order, offsets committed only after the function succeeded,
 * failed batches retried then sent to the failure destination and committed past.
 */

const until = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};

describe.skipIf(!hasKcat())('Kafka event source emulation (needs kcat: apt-get install kcat)', () => {
  let broker: KafkaBroker;
  let kafka: Kafka;
  beforeAll(async () => {
    broker = await startKafkaBroker();
    kafka = new Kafka({ brokers: [broker.bootstrapServers], logLevel: logLevel.NOTHING });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  const produce = async (topic: string, values: string[]) => {
    const producer = kafka.producer();
    await producer.connect();
    // Round-robin over the topic's 4 partitions (the keys k0…k6 alone hash to partitions 0 and 1 only, so a member
    // assigned 2 and 3 would get nothing).
    await producer.send({
      topic,
      messages: values.map((value, i) => ({ key: `k${i % 7}`, partition: i % 4, value })),
    });
    await producer.disconnect();
  };

  const source = (
    topic: string,
    handler: (event: KafkaEvent) => Promise<unknown>,
    extra: { retryAttempts?: number; onFailure?: (r: KafkaFailureRecord) => Promise<void> } = {},
  ) => {
    const reports: KafkaBatchReport[] = [];
    const es = new KafkaEventSource({
      bootstrapServers: broker.bootstrapServers,
      topic,
      groupId: `g-${topic}`,
      startingPosition: 'TRIM_HORIZON',
      batchSize: 10,
      maxBatchingWindowSeconds: 0.5,
      reportBatchItemFailures: true,
      retryAttempts: extra.retryAttempts ?? 2,
      maxRecordAgeSeconds: -1,
      maxConcurrency: 4,
      functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:ingest-orders',
      invoke: invokeInProcess(handler),
      retryDelayMs: 50,
      ...(extra.onFailure ? { onFailure: extra.onFailure } : {}),
      onBatch: (report) => reports.push(report),
    });
    return { es, reports };
  };

  it('delivers every record once in batches of at most the batch size, each partition in order, and commits', async () => {
    // Arrange
    const topic = 'es-orders';
    const values = Array.from({ length: 37 }, (_, i) => `v${i}`);
    await produce(topic, values);
    const seen: { id: string; body: string }[] = [];
    const sizes: number[] = [];
    const { es } = source(topic, async (event) => {
      const messages = await kafkaMessagesOf(event);
      sizes.push(messages.length);
      for (const m of messages) seen.push({ id: m.messageId, body: m.body });
      return { batchItemFailures: [] };
    });

    // Act
    await es.start();
    await until('all records', () => seen.length >= values.length);
    await until('committed offsets', async () => (await es.lag()).every((p) => p.lag === 0));
    const lag = await es.lag();
    await es.stop();

    // Assess
    expect(seen.map((s) => s.body).sort()).toEqual([...values].sort());
    expect(Math.max(...sizes)).toBeLessThanOrEqual(10);
    const byPartition = new Map<number, number[]>();
    for (const { id } of seen) {
      const [, partition, offset] = /-(\d+)-(\d+)$/.exec(id) ?? [];
      byPartition.set(Number(partition), [...(byPartition.get(Number(partition)) ?? []), Number(offset)]);
    }
    for (const offsets of byPartition.values()) expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(lag.reduce((n, p) => n + p.high, 0)).toBe(values.length);
  });

  it('retries a failing partition from its first failed record, then sends the offsets to the destination and commits past', async () => {
    // Arrange: "bad" always fails; records before it in its partition succeed.
    const topic = 'es-failing';
    await produce(topic, ['a', 'b', 'bad', 'c']);
    const invocations: string[][] = [];
    const failures: KafkaFailureRecord[] = [];
    const { es, reports } = source(
      topic,
      async (event) => {
        const messages = await kafkaMessagesOf(event);
        invocations.push(messages.map((m) => m.body));
        return kafkaBatchResponseOf(messages.filter((m) => m.body === 'bad').map((m) => m.messageId));
      },
      { retryAttempts: 2, onFailure: async (record) => void failures.push(record) },
    );

    // Act
    await es.start();
    await until('the failure record', () => failures.length === 1);
    await until('committed offsets', async () => (await es.lag()).every((p) => p.lag === 0));
    await es.stop();

    // Assess: 1 invocation + 2 retries hold "bad"; the destination names exactly its partition's failed range.
    expect(invocations.filter((bodies) => bodies.includes('bad'))).toHaveLength(3);
    const [failure] = failures;
    expect(failure?.requestContext.condition).toBe('RetryAttemptsExhausted');
    expect(failure?.requestContext.approximateInvokeCount).toBe(3);
    const ranges = Object.entries(failure?.KafkaBatchInfo.recordsInfo ?? {});
    expect(ranges).toHaveLength(1);
    const failedCount = reports.reduce((n, r) => n + r.failed, 0);
    const [key, range] = ranges[0] ?? [];
    expect(key).toMatch(/^es-failing-\d$/);
    expect(Number(range?.lastRecordOffset) - Number(range?.firstRecordOffset) + 1).toBe(failedCount);
    expect(
      invocations
        .flat()
        .filter((b) => b === 'a' || b === 'b' || b === 'c')
        .sort(),
    ).toEqual(['a', 'b', 'c']);
  });

  it('leaves the offsets of a batch the function never finished uncommitted: a new consumer of the group gets it again', async () => {
    // Arrange: the first consumer's function always throws and the source has no destination and endless retries.
    const topic = 'es-redelivery';
    await produce(topic, ['x1', 'x2', 'x3']);
    let attempts = 0;
    const first = source(
      topic,
      async () => {
        attempts += 1;
        throw new Error('storage down');
      },
      { retryAttempts: -1 },
    );
    await first.es.start();
    await until('a few attempts', () => attempts >= 2);
    await first.es.stop();

    // Act
    const bodies: string[] = [];
    const second = source(topic, async (event) => {
      for (const m of await kafkaMessagesOf(event)) bodies.push(m.body);
      return {};
    });
    await second.es.start();
    await until('redelivery', () => bodies.length >= 3);
    await second.es.stop();

    // Assess
    expect(bodies.sort()).toEqual(['x1', 'x2', 'x3']);
  });

  it('counts every order once through a rebalance (a second member joins mid-stream) and producer retries', async () => {
    // Arrange: 240 orders, 40 of them sent twice by their producer (new records, same order_id), in 4 rounds.
    const topic = 'es-rebalance';
    const { deps, clock } = streamDeps(new Date('2026-11-20T12:00:00Z'));
    const handler = async (event: KafkaEvent) => {
      const result = await consumeMicroBatch(
        { messages: await kafkaMessagesOf(event), dataset: 'orders', source: 'kafka' },
        deps,
      );
      return kafkaBatchResponseOf(result.failedMessageIds);
    };
    const bodies = Array.from({ length: 240 }, (_, i) =>
      JSON.stringify(
        order({ order_id: `o${i}`, event_time: `2026-11-20T10:${String(i % 60).padStart(2, '0')}:05Z` }),
      ),
    );
    const retries = bodies.filter((_, i) => i % 6 === 0);
    const first = source(topic, handler);
    await first.es.start();

    // Act: the second member joins after the first rounds, so the group rebalances while records flow.
    await produce(topic, bodies.slice(0, 120));
    await until('some batches', () => first.reports.length >= 2);
    const second = source(topic, handler);
    await second.es.start();
    await until(
      'the rebalance',
      () => second.es.assignedPartitions().length > 0 && first.es.assignedPartitions().length < 4,
    );
    await produce(topic, [...bodies.slice(120), ...retries]);
    await until('the group caught up', async () => (await first.es.lag()).every((p) => p.lag === 0), 60_000);
    await Promise.all([first.es.stop(), second.es.stop()]);
    await compactRealtime(deps, { now: clock.now, days: ['2026-11-20'], datasets: ['orders'] });

    // Assess
    expect(second.reports.reduce((n, r) => n + r.size, 0)).toBeGreaterThan(0);
    expect(await realtimeOrders(deps.store, '2026-11-20')).toBe(240);
  }, 120_000);
});
