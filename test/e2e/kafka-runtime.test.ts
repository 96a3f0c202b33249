import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { hasKcat, isAlive } from '../../local/kafka-broker.ts';
import { groupLag } from '../../local/kafka-event-source.ts';
import { createOrderGenerator, type OrderEvent } from '../../local/order-generator.ts';
import {
  eventually,
  expectedTotals,
  invokeAgainst,
  REPO_ROOT,
  type RunningTwinflow,
  startTwinflow,
} from './twinflow-process.ts';

/**
 * `twinflow start --ingest kafka` as a user runs it: orders produced to the topic endpoints.env names, by a Kafka
 * client of the test's own (kafkajs), through the local broker (librdkafka's mock cluster in kcat) and the
 * emulated Kafka event source mapping into the lake and GET /sales.
 */

const GROUP = 'twinflow-orders';
const HOUR_MS = 3_600_000;

const running: RunningTwinflow[] = [];
const dirs: string[] = [];
const dataDirs: string[] = [];

/** The broker a runtime on `dataDir` recorded (it outlives a crashed runtime). */
function brokerRecord(dataDir: string): { pid: number; bootstrapServers: string } | undefined {
  const file = path.join(dataDir, 'kafka', 'broker.json');
  return existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as { pid: number; bootstrapServers: string })
    : undefined;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop('SIGKILL')));
  // A runtime killed by a failing test leaves its broker running: end exactly that process.
  for (const dataDir of dataDirs.splice(0)) {
    const broker = brokerRecord(dataDir);
    if (broker && isAlive(broker.pid)) process.kill(broker.pid, 'SIGKILL');
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): { dir: string; dataDir: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-kafka-e2e-'));
  dirs.push(dir);
  const dataDir = path.join(dir, 'data');
  dataDirs.push(dataDir);
  return { dir, dataDir };
}

function kafkaOf(bootstrapServers: string): Kafka {
  return new Kafka({
    clientId: 'twinflow-e2e-test',
    brokers: bootstrapServers.split(','),
    logLevel: logLevel.NOTHING,
  });
}

async function connectedProducer(kafka: Kafka): Promise<Producer> {
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  return producer;
}

/** The consumer group's committed offsets against the topic's high watermarks, summed over partitions. */
async function lagOf(kafka: Kafka, topic: string): Promise<{ lag: number; committed: number; high: number }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const partitions = await groupLag(admin, topic, GROUP);
    const sum = (pick: (p: (typeof partitions)[number]) => number) =>
      partitions.reduce((n, p) => n + pick(p), 0);
    return { lag: sum((p) => p.lag), committed: sum((p) => p.committed), high: sum((p) => p.high) };
  } finally {
    await admin.disconnect();
  }
}

interface SalesTotals {
  orders: number;
  units: number;
  revenue?: string;
  revenue_by_currency: Record<string, string>;
}

/** GET /sales totals over the hours from `from` to now (the orders' event times), hourly buckets. */
async function salesSince(apiUrl: string, from: Date): Promise<SalesTotals> {
  const start = new Date(Math.floor(from.getTime() / HOUR_MS) * HOUR_MS).toISOString();
  const end = new Date(Math.ceil((Date.now() + 1) / HOUR_MS) * HOUR_MS - 1000).toISOString();
  const response = await fetch(`${apiUrl}/sales?start=${start}&end=${end}&granularity=hour`);
  if (!response.ok) throw new Error(`GET /sales ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { totals: SalesTotals }).totals;
}

const kafkaBatches = (output: string) => (output.match(/ingest-orders: kafka batch of \d+ ok/g) ?? []).length;

describe.skipIf(!hasKcat())('twinflow start --ingest kafka (needs kcat: apt-get install kcat)', () => {
  it('SIGKILL mid-stream, restart on the same data: every distinct order counted exactly once after compaction', async () => {
    // Prepare
    const { dir, dataDir } = tempDir();
    const first = await startTwinflow(dataDir, ['--ingest', 'kafka']);
    running.push(first);
    const bootstrap = first.env['KAFKA_BOOTSTRAP_SERVERS'] ?? '';
    const topic = first.env['KAFKA_TOPIC_ORDERS'] ?? '';
    expect(bootstrap).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(topic).toBe('twinflow.orders');
    expect(first.env['ORDERS_QUEUE_URL']).toBeUndefined();
    const kafka = kafkaOf(bootstrap);
    const producer = await connectedProducer(kafka);
    const generator = createOrderGenerator({ seed: 17, idPrefix: `kafka${Date.now().toString(36)}` });
    const distinct = new Map<string, OrderEvent>();
    let produced = 0;
    const startedAt = new Date();

    // Act: produce orders in sends of 20, every 7th order sent again as a new record (a producer retry), until
    // some batches were consumed and at least 300 orders sent; then SIGKILL right after a send.
    const streamStarted = Date.now();
    while (Date.now() - streamStarted < 25_000) {
      const batch = Array.from({ length: 20 }, () => generator.next(new Date()));
      const retries = batch.filter((_, i) => (distinct.size + i) % 7 === 0);
      const records = [...batch, ...retries].map((o) => ({ key: o.order_id, value: JSON.stringify(o) }));
      await producer.send({ topic, messages: records });
      for (const order of batch) distinct.set(order.order_id, order);
      produced += records.length;
      if (kafkaBatches(first.output()) >= 2 && distinct.size >= 300) break;
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    await producer.disconnect();
    await first.stop('SIGKILL');
    const broker = brokerRecord(dataDir);
    const atCrash = await lagOf(kafka, topic);
    const brokerSurvived = broker !== undefined && isAlive(broker.pid);

    const second = await startTwinflow(dataDir, ['--ingest', 'kafka']);
    running.push(second);
    const drained = await eventually(
      () => lagOf(kafka, topic),
      (l) => l.lag === 0,
      40_000,
    );
    await invokeAgainst(
      second,
      'compact-realtime',
      { 'detail-type': 'Scheduled Event', time: new Date().toISOString() },
      dir,
    );
    const totals = await salesSince(second.apiUrl, startedAt);
    // The runtime's lag report reaches GET /ops/summary (and the dashboard) within its 5 s period.
    const reported = await eventually(
      async () => {
        const response = await fetch(`${second.apiUrl}/ops/summary`);
        const body = (await response.json()) as {
          kafka_lag: { dataset: string; total: number; partitions: unknown[] }[];
        };
        return body.kafka_lag.find((doc) => doc.dataset === 'orders');
      },
      (doc) => doc?.total === 0,
      15_000,
    );
    const stopCode = await second.stop('SIGINT');
    running.splice(running.indexOf(second), 1);
    const brokerGone = await eventually(
      async () => broker !== undefined && !isAlive(broker.pid),
      (gone) => gone,
      10_000,
    ).catch(() => false);

    // Assess: the crash came mid-stream (some records committed, some not), the broker outlived it and the
    // restart attached to it; every record was then committed, and each order counted once.
    expect(produced).toBeGreaterThan(distinct.size);
    expect(kafkaBatches(first.output())).toBeGreaterThanOrEqual(2);
    expect(atCrash.high).toBe(produced);
    expect(atCrash.committed).toBeGreaterThan(0);
    expect(atCrash.lag).toBeGreaterThan(0);
    expect(brokerSurvived).toBe(true);
    expect(second.env['KAFKA_BOOTSTRAP_SERVERS']).toBe(bootstrap);
    expect(second.output()).toContain('still running from the last start');
    expect(kafkaBatches(second.output())).toBeGreaterThan(0);
    expect(drained).toEqual({ lag: 0, committed: produced, high: produced });
    expect(totals).toEqual(expectedTotals([...distinct.values()]));
    expect(reported?.partitions).toHaveLength(4);
    expect(stopCode).toBe(0);
    expect(brokerGone).toBe(true);
    expect(brokerRecord(dataDir)).toBeUndefined();
  }, 120_000);

  it('a poison record (invalid JSON) is quarantined and committed past; the orders around it count', async () => {
    // Prepare
    const { dataDir } = tempDir();
    const twinflow = await startTwinflow(dataDir, ['--ingest', 'kafka']);
    running.push(twinflow);
    const topic = twinflow.env['KAFKA_TOPIC_ORDERS'] ?? '';
    const kafka = kafkaOf(twinflow.env['KAFKA_BOOTSTRAP_SERVERS'] ?? '');
    const producer = await connectedProducer(kafka);
    const generator = createOrderGenerator({ seed: 23, idPrefix: `poison${Date.now().toString(36)}` });
    const startedAt = new Date();
    const valid = Array.from({ length: 4 }, () => generator.next(new Date()));
    const poison = `{"order_id": "poison-${Date.now()}", "quantity": 1,`;

    // Act: on one partition (one key), valid orders on both sides of the poison record.
    const [sent] = await producer.send({
      topic,
      messages: [valid[0], valid[1], poison, valid[2], valid[3]].map((v) => ({
        key: 'same-partition',
        value: typeof v === 'string' ? v : JSON.stringify(v),
      })),
    });
    await producer.disconnect();
    const drained = await eventually(
      () => lagOf(kafka, topic),
      (l) => l.lag === 0 && l.high === 5,
      30_000,
    );
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        path.join(REPO_ROOT, 'cli', 'twinflow.js'),
        'quarantine',
        'list',
        '--json',
        '--dataset',
        'orders',
        '--lake',
        `s3://${twinflow.env['LAKE_BUCKET']}`,
      ],
      { cwd: REPO_ROOT, env: { ...process.env, ...twinflow.env } },
    );
    const quarantined = stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { raw: string; message_id?: string; reasons: string[] });
    const totals = await eventually(
      () => salesSince(twinflow.apiUrl, startedAt),
      (t) => t.orders >= valid.length,
      15_000,
    );
    const dlq = await twinflow.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: twinflow.env['ORDERS_DLQ_URL'],
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );

    // Assess: the poison record (offset 2 of its partition) quarantined once with a reason, not retried into
    // the DLQ; the offset committed past it.
    expect(drained.committed).toBe(5);
    expect(quarantined).toHaveLength(1);
    expect(quarantined[0]?.raw).toBe(poison);
    expect(quarantined[0]?.message_id).toBe(`${topic}-${sent?.partition}-${Number(sent?.baseOffset) + 2}`);
    expect(quarantined[0]?.reasons.length).toBeGreaterThan(0);
    expect(totals).toEqual(expectedTotals(valid));
    expect(Number(dlq.Attributes?.['ApproximateNumberOfMessages'] ?? -1)).toBe(0);
    expect(Number(dlq.Attributes?.['ApproximateNumberOfMessagesNotVisible'] ?? -1)).toBe(0);
    expect(twinflow.output()).not.toContain('sent to the DLQ');
  }, 90_000);
});
