/**
 * The Kafka ingestion path next to the SQS one (issue 17), in one run on this machine with the same settings:
 * `twinflow start` (a child process, as a user runs it) once per path — `--ingest sqs`, then `--ingest kafka` (the
 * local broker: librdkafka's mock cluster through Debian's kcat, and the emulated Kafka event source mapping) —
 * with the same batch size, concurrency and batching window (the dev stage's 8 s unless `--batching-window`).
 * Orders go to the path's entrance from endpoints.env (ORDERS_QUEUE_URL, or KAFKA_TOPIC_ORDERS on
 * KAFKA_BOOTSTRAP_SERVERS through kafkajs, as any Kafka client would) and GET /sales shows them. On each path:
 *
 *   1. warm-up: at least 2 × batch size × max concurrency orders at once, in whole batches per partition, until
 *      consumed (every container's cold start);
 *   2. latency: `--rate` orders/s for `--seconds`, one per send; an order is visible when the day's order count
 *      covers it (GET /sales polled every 100 ms): p50/p90/p99/max of send → visible;
 *   3. burst: `--burst` orders as fast as the path takes them (8 senders), timed until consumed — the queue holds
 *      none (each message deleted after its invocation succeeded) or the consumer group's lag is 0 (offsets
 *      committed after it succeeded) — then checked visible: events/s overall, and while draining what was left
 *      when the last send returned. Neither the queue nor the lag is read through the API, so the consumer has
 *      the CPU.
 *
 * The invocations the runtime printed (`ingest-orders: [kafka ]batch of N ok (…)`) give each phase's batch sizes.
 * Ratios are Kafka ÷ SQS of this run. Without kcat it prints why and writes `{ skipped }` (exit 0).
 *
 *   npx tsx bench/kafka-ingest.ts [--rate 10] [--seconds 45] [--burst 10000] [--batching-window N]
 *                                 [--out bench/results/kafka-ingest.json]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { type Admin, Kafka, logLevel, type Producer } from 'kafkajs';
import { stageConfig } from '../lib/stage-config.ts';
import { datasetVariable, ingestFunctionName } from '../lib/twinflow-functions.ts';
import { hasKcat } from '../local/kafka-broker.ts';
import { groupLag } from '../local/kafka-event-source.ts';
import { sendBodies } from '../local/order-feed.ts';
import { createOrderGenerator } from '../local/order-generator.ts';
import {
  eventually,
  REPO_ROOT,
  type RunningTwinflow,
  salesTotals,
  startTwinflow,
} from '../test/e2e/twinflow-process.ts';

const DATASET = 'orders';
const PATHS = ['sqs', 'kafka'] as const;
type PathName = (typeof PATHS)[number];
/** The local broker auto-creates a topic with 4 partitions (local/kafka-broker.ts); the run checks it. */
const BROKER_PARTITIONS = 4;

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '45' },
    burst: { type: 'string', default: '10000' },
    'batching-window': { type: 'string' },
    out: { type: 'string', default: path.join('bench', 'results', 'kafka-ingest.json') },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const burst = Number(values.burst);
const out = path.resolve(REPO_ROOT, values.out ?? 'bench/results/kafka-ingest.json');
const dev = stageConfig('dev');
const batchingWindow = Number(values['batching-window'] ?? dev.stream.maxBatchingWindowSeconds);
const { batchSize, maxConcurrency } = dev.stream;
const fn = ingestFunctionName(DATASET);
const command = `npx tsx bench/kafka-ingest.ts ${process.argv.slice(2).join(' ')}`.trim();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (value: number, places = 0) => Number(value.toFixed(places));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** Where a path's orders go in, and what it holds not yet consumed. */
interface Entrance {
  target: string;
  /** Sends each body as one message. */
  send(bodies: readonly string[]): Promise<void>;
  /** Messages not yet consumed: queued or in flight (SQS), or the consumer group's lag (Kafka). */
  pending(): Promise<number>;
  partitions(): Promise<number | undefined>;
  close(): Promise<void>;
}

function sqsEntrance(twinflow: RunningTwinflow): Entrance {
  const variable = datasetVariable(DATASET, 'QUEUE_URL');
  const queueUrl = twinflow.env[variable];
  if (!queueUrl) throw new Error(`endpoints.env has no ${variable}`);
  return {
    target: queueUrl,
    send: async (bodies) => {
      await sendBodies(twinflow.sqs, queueUrl, bodies);
    },
    async pending() {
      const { Attributes: a = {} } = await twinflow.sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      return (
        Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0)
      );
    },
    partitions: async () => undefined,
    close: async () => undefined,
  };
}

/** A kafkajs producer on the runtime's broker (what any client of endpoints.env would use), and its admin for the lag. */
async function kafkaEntrance(twinflow: RunningTwinflow): Promise<Entrance> {
  const bootstrap = twinflow.env['KAFKA_BOOTSTRAP_SERVERS'];
  const topicVariable = `KAFKA_TOPIC_${DATASET.toUpperCase()}`;
  const topic = twinflow.env[topicVariable];
  if (!bootstrap || !topic)
    throw new Error(`endpoints.env has no KAFKA_BOOTSTRAP_SERVERS / ${topicVariable}`);
  const groupId = `${dev.kafka.consumerGroupPrefix}${DATASET}`;
  const kafka = new Kafka({
    clientId: 'twinflow-bench',
    brokers: bootstrap.split(','),
    logLevel: logLevel.NOTHING,
  });
  // The default partitioner, as the runtime's own feed producer: records without a key go round-robin.
  const producer: Producer = kafka.producer();
  const admin: Admin = kafka.admin();
  await Promise.all([producer.connect(), admin.connect()]);
  return {
    target: `kafka://${bootstrap}/${topic}`,
    async send(bodies) {
      if (bodies.length > 0) await producer.send({ topic, messages: bodies.map((value) => ({ value })) });
    },
    async pending() {
      return (await groupLag(admin, topic, groupId)).reduce((sum, p) => sum + p.lag, 0);
    },
    partitions: async () => (await admin.fetchTopicOffsets(topic)).length,
    async close() {
      await Promise.all([producer.disconnect(), admin.disconnect()]);
    },
  };
}

const idPrefix = `kbench${Date.now().toString(36)}`;
const day = new Date().toISOString().slice(0, 10);

/** The runtime's invocations of the ingest function printed since `from` (an offset in its output). */
function invocationsSince(twinflow: RunningTwinflow, from: number) {
  // `ingest-orders: batch of 100 ok (350 ms)` (SQS), `ingest-orders: kafka batch of 25 ok (1.2 s, cold start)`.
  const pattern = new RegExp(
    `${fn}: (?:kafka )?batch of (\\d+) ok \\(([\\d.]+) (ms|s)(, cold start)?\\)`,
    'g',
  );
  const found = [...twinflow.output().slice(from).matchAll(pattern)].map((m) => ({
    size: Number(m[1]),
    ms: Number(m[2]) * (m[3] === 's' ? 1000 : 1),
    cold: m[4] !== undefined,
  }));
  const failed = (
    twinflow
      .output()
      .slice(from)
      .match(new RegExp(`${fn}: (?:kafka )?batch of \\d+ FAILED`, 'g')) ?? []
  ).length;
  const sizes = found.map((i) => i.size).sort((a, b) => a - b);
  const durations = found.map((i) => i.ms).sort((a, b) => a - b);
  return {
    invocations: found.length,
    failed,
    invokedEvents: sizes.reduce((sum, n) => sum + n, 0),
    coldStarts: found.filter((i) => i.cold).length,
    batchSize: {
      min: sizes[0] ?? null,
      p50: sizes.length ? percentile(sizes, 50) : null,
      max: sizes.at(-1) ?? null,
      mean: sizes.length ? round(sizes.reduce((s, n) => s + n, 0) / sizes.length, 1) : null,
    },
    invocationMs: {
      p50: durations.length ? round(percentile(durations, 50)) : null,
      p90: durations.length ? round(percentile(durations, 90)) : null,
    },
  };
}

/** `bodies` through 8 senders at once, each in chunks (10 per SendMessageBatch for SQS, 100 per produce for Kafka). */
async function sendFast(entrance: Entrance, bodies: readonly string[]): Promise<void> {
  const senders = 8;
  const share = Math.ceil(bodies.length / senders);
  await Promise.all(
    Array.from({ length: senders }, async (_, i) => {
      const mine = bodies.slice(i * share, (i + 1) * share);
      for (let at = 0; at < mine.length; at += 100) await entrance.send(mine.slice(at, at + 100));
    }),
  );
}

async function untilConsumed(entrance: Entrance, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const left = await entrance.pending();
    if (left === 0) return;
    if (performance.now() > deadline) throw new Error(`${entrance.target} still holds ${left} messages`);
    await sleep(250);
  }
}

async function measurePath(name: PathName) {
  // Other work on the machine skews one path and not the other: the load is recorded with each.
  const loadBefore = round(os.loadavg()[0] ?? 0, 2);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `twinflow-bench-${name}-`));
  const twinflow = await startTwinflow(dataDir, [
    '--batching-window',
    String(batchingWindow),
    '--ingest',
    name,
  ]);
  let entrance: Entrance | undefined;
  try {
    entrance = name === 'kafka' ? await kafkaEntrance(twinflow) : sqsEntrance(twinflow);
    const generator = createOrderGenerator({
      seed: name === 'kafka' ? 7 : 5,
      idPrefix: `${idPrefix}${name}`,
    });
    const orders = (count: number) =>
      Array.from({ length: count }, () => JSON.stringify(generator.next(new Date())));
    const visible = async () => (await salesTotals(twinflow.apiUrl, day)).orders;

    // 1. Warm-up: every container the mapping may run pays its cold start here. Whole batches on both paths (the
    // round-robin producer spreads them evenly over the partitions), so no partial batch waits out the window.
    const warmupCount = Math.ceil((2 * maxConcurrency) / BROKER_PARTITIONS) * BROKER_PARTITIONS * batchSize;
    const w0 = performance.now();
    await sendFast(entrance, orders(warmupCount));
    await untilConsumed(entrance, 120_000);
    await eventually(visible, (n) => n >= warmupCount, 60_000);
    const warmupSeconds = round((performance.now() - w0) / 1000, 1);
    console.log(`${name}: ${entrance.target} warm (${warmupCount} orders, ${warmupSeconds} s)`);

    // 2. Latency at a steady rate, one order per send.
    const base = await visible();
    const latencyFrom = twinflow.output().length;
    console.log(`${name}: ${rate} orders/s for ${seconds} s (batching window ${batchingWindow} s)`);
    const sentAt: number[] = [];
    const visibleAt: number[] = [];
    let seen = 0;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const count = ((await visible().catch(() => undefined)) ?? base) - base;
        const now = performance.now();
        while (seen < count && seen < sentAt.length) visibleAt[seen++] = now;
        await sleep(100);
      }
    })();
    const started = performance.now();
    for (let i = 0; i < rate * seconds; i++) {
      const wait = started + (i * 1000) / rate - performance.now();
      if (wait > 0) await sleep(wait);
      const [body] = orders(1);
      const at = performance.now();
      await entrance.send([body as string]);
      sentAt.push(at);
    }
    const deadline = performance.now() + 60_000;
    while (seen < sentAt.length && performance.now() < deadline) await sleep(100);
    polling = false;
    await poller;
    const latencies = sentAt
      .map((t, i) => (visibleAt[i] === undefined ? Number.NaN : (visibleAt[i] as number) - t))
      .filter(Number.isFinite)
      .sort((a, b) => a - b);
    const latency = {
      sent: sentAt.length,
      visible: latencies.length,
      latencyMs: {
        p50: round(percentile(latencies, 50)),
        p90: round(percentile(latencies, 90)),
        p99: round(percentile(latencies, 99)),
        max: round(latencies.at(-1) ?? Number.NaN),
      },
      ...invocationsSince(twinflow, latencyFrom),
    };
    console.log(
      `${name}: latency p50 ${latency.latencyMs.p50} ms, p99 ${latency.latencyMs.p99} ms ` +
        `(${latency.invocations} invocations, batch sizes ${latency.batchSize.min}–${latency.batchSize.max})`,
    );

    // 3. Burst: as fast as the path takes them, until consumed.
    let burstResult: Record<string, unknown> | undefined;
    if (burst > 0) {
      const before = await visible();
      const bodies = orders(burst);
      const burstFrom = twinflow.output().length;
      const t0 = performance.now();
      await sendFast(entrance, bodies);
      const sentMs = performance.now() - t0;
      const backlog = await entrance.pending();
      await untilConsumed(entrance, 300_000);
      const ms = performance.now() - t0;
      const after = await eventually(visible, (n) => n - before >= burst, 60_000);
      burstResult = {
        events: burst,
        visible: after - before,
        sendSeconds: round(sentMs / 1000, 1),
        consumedSeconds: round(ms / 1000, 1),
        eventsPerSecond: Math.round(burst / (ms / 1000)),
        /** Left unconsumed when the last send returned, and how fast that drained with no producer. */
        backlogAtSendEnd: backlog,
        drainEventsPerSecond: ms > sentMs ? Math.round(backlog / ((ms - sentMs) / 1000)) : null,
        ...invocationsSince(twinflow, burstFrom),
      };
      console.log(
        `${name}: burst ${burst} orders, ${burstResult['eventsPerSecond']} events/s (sent in ${burstResult['sendSeconds']} s, consumed in ${burstResult['consumedSeconds']} s)`,
      );
    }
    return {
      target: entrance.target,
      partitions: await entrance.partitions(),
      loadAverage1m: { before: loadBefore, after: round(os.loadavg()[0] ?? 0, 2) },
      warmup: { events: warmupCount, seconds: warmupSeconds },
      ...latency,
      ...(burstResult ? { burst: burstResult } : {}),
    };
  } finally {
    await entrance?.close().catch(() => undefined);
    await twinflow.stop('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const ratio = (kafka: unknown, sqs: unknown) =>
  typeof kafka === 'number' && typeof sqs === 'number' && sqs > 0 ? round(kafka / sqs, 2) : null;

async function main() {
  const common = {
    benchmark:
      'orders through the SQS path and the Kafka path (local runtime, twinflow start --ingest sqs|kafka)',
    dataset: DATASET,
    route: 'GET /sales',
    command,
    rate,
    seconds,
    burst,
    batchingWindow,
    batchSize,
    maxConcurrency,
    machine: { cpus: os.cpus().length, node: process.version, loadAverage1m: round(os.loadavg()[0] ?? 0, 2) },
    measuredAt: new Date().toISOString(),
  };
  if (!hasKcat()) {
    const skipped =
      'kcat is not installed (the local Kafka broker is its librdkafka mock cluster: apt-get install kcat)';
    console.log(`kafka-ingest skipped: ${skipped}`);
    writeFileSync(out, `${JSON.stringify({ ...common, skipped }, null, 2)}\n`);
    return;
  }
  const paths: Partial<Record<PathName, Awaited<ReturnType<typeof measurePath>>>> = {};
  for (const name of PATHS) paths[name] = await measurePath(name);
  const { sqs, kafka } = paths;
  const burstOf = (p: typeof sqs) => (p?.burst ?? {}) as Record<string, unknown>;
  const result = {
    ...common,
    paths,
    /** Kafka ÷ SQS, this run: > 1 means Kafka is faster (events/s) or slower (latency). */
    kafkaOverSqs: {
      eventsPerSecond: ratio(burstOf(kafka)['eventsPerSecond'], burstOf(sqs)['eventsPerSecond']),
      drainEventsPerSecond: ratio(
        burstOf(kafka)['drainEventsPerSecond'],
        burstOf(sqs)['drainEventsPerSecond'],
      ),
      latencyP50: ratio(kafka?.latencyMs.p50, sqs?.latencyMs.p50),
      latencyP99: ratio(kafka?.latencyMs.p99, sqs?.latencyMs.p99),
    },
  };
  console.log(JSON.stringify(result, null, 2));
  const row = (name: PathName) => {
    const p = paths[name];
    const b = burstOf(p);
    return `${name.padEnd(6)}│ ${String(p?.latencyMs.p50).padStart(8)} │ ${String(p?.latencyMs.p99).padStart(8)} │ ${String(p?.batchSize.mean).padStart(10)} │ ${String(b['eventsPerSecond'] ?? '—').padStart(9)} │ ${String(b['drainEventsPerSecond'] ?? '—').padStart(9)}`;
  };
  console.log(`\npath  │ p50 (ms) │ p99 (ms) │ mean batch │ events/s │ draining`);
  console.log(row('sqs'));
  console.log(row('kafka'));
  console.log(
    `kafka ÷ sqs: events/s ${result.kafkaOverSqs.eventsPerSecond}×, draining ${result.kafkaOverSqs.drainEventsPerSecond}×, ` +
      `latency p50 ${result.kafkaOverSqs.latencyP50}×, p99 ${result.kafkaOverSqs.latencyP99}×`,
  );
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
}

await main();
