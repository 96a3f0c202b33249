import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateQueueCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { kafkaFailureRecordOf } from '../../functions/stream/kafka-failures.ts';
import { hasKcat, type KafkaBroker, startKafkaBroker } from '../../local/kafka-broker.ts';
import { realtimeMinutes } from '../stream/stream-helpers.ts';
import { twinflowWith } from '../support/cli.ts';
import { LOCAL_CREDENTIALS, useLocalSqs } from '../support/local-aws.ts';

// `twinflow replay --from-kafka` and the redrive of a Kafka DLQ, the real CLI in a child process against a real
// Kafka broker (librdkafka's mock cluster through kcat) and local-aws-sqs on loopback, into local lakes.
const DAY = '2026-11-21';
const LINES = readFileSync(new URL('../../events/orders.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '');
/** Line i goes to partition i % 4, so it sits at offset ⌊i / 4⌋ there. */
const partitionOf = (i: number) => i % 4;
const offsetOf = (i: number) => Math.floor(i / 4);

const sqs = useLocalSqs();
let broker: KafkaBroker;
let producer: Producer;
const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-kafka-replay-'));
  dirs.push(dir);
  return dir;
};

async function produce(topic: string, lines: readonly string[], timestamp?: number) {
  await producer.send({
    topic,
    messages: lines.map((value, i) => ({
      value,
      partition: partitionOf(i),
      ...(timestamp !== undefined ? { timestamp: String(timestamp) } : {}),
    })),
  });
}

/** What a reader sees for the day after `twinflow replay --file` of these lines into a fresh lake. */
async function fileReplayMinutes(lines: readonly string[]) {
  const dir = tempDir();
  const file = path.join(dir, 'events.jsonl');
  writeFileSync(file, `${lines.join('\n')}\n`);
  const lake = path.join(dir, 'lake');
  const replay = await twinflowWith({}, 'replay', '--file', file, '--lake', lake);
  expect(replay.code, replay.stderr).toBe(0);
  return realtimeMinutes(new LocalDirectoryStore(lake), DAY);
}

const minutesOf = (lake: string) => realtimeMinutes(new LocalDirectoryStore(lake), DAY);
const ordersIn = (minutes: { orders: string }[]) => minutes.reduce((sum, m) => sum + Number(m.orders), 0);

describe.skipIf(!hasKcat())(
  'twinflow replay --from-kafka / dlq redrive (needs kcat: apt-get install kcat)',
  () => {
    let env: Record<string, string>;

    beforeAll(async () => {
      vi.stubEnv('AWS_ACCESS_KEY_ID', LOCAL_CREDENTIALS.accessKeyId);
      vi.stubEnv('AWS_SECRET_ACCESS_KEY', LOCAL_CREDENTIALS.secretAccessKey);
      vi.stubEnv('AWS_REGION', 'us-east-1');
      broker = await startKafkaBroker();
      env = { KAFKA_BOOTSTRAP_SERVERS: broker.bootstrapServers };
      const kafka = new Kafka({ brokers: [broker.bootstrapServers], logLevel: logLevel.NOTHING });
      producer = kafka.producer();
      await producer.connect();
      await produce('twinflow.orders', LINES);
    });
    afterAll(async () => {
      await producer?.disconnect();
      await broker?.stop();
      vi.unstubAllEnvs();
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    });

    it('--from-offset 0: every partition once; replaying the range again counts nothing twice', async () => {
      const expected = await fileReplayMinutes(LINES);
      const lake = path.join(tempDir(), 'lake');

      const first = await twinflowWith(env, 'replay', '--from-kafka', '--from-offset', '0', '--lake', lake);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toMatch(/^replayed 49 event\(s\) from Kafka at 127\.0\.0\.1:\d+/);
      for (let p = 0; p < 4; p++) {
        const events = LINES.filter((_, i) => partitionOf(i) === p).length;
        expect(first.stdout).toContain(
          `twinflow.orders-${p}: ${events} event(s) from offsets 0..${events - 1}`,
        );
      }
      const minutes = await minutesOf(lake);
      expect(minutes).toEqual(expected);
      expect(ordersIn(minutes)).toBeGreaterThan(0);

      // Other micro-batch boundaries, so the core's dedup by order_id (not overwriting the same files) is at work.
      const again = await twinflowWith(
        env,
        ...['replay', '--from-kafka', '--from-offset', '0', '--batch-size', '5', '--lake', lake, '--json'],
      );
      expect(again.code, again.stderr).toBe(0);
      const json = JSON.parse(again.stdout);
      expect(json.totals).toMatchObject({ received: 49, failed: 0 });
      expect(json.totals.partitions).toHaveLength(4);
      expect(await minutesOf(lake)).toEqual(expected);

      // The dataset's consumer group was never touched: no offsets committed for it.
      const admin = new Kafka({ brokers: [broker.bootstrapServers], logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      const committed = await admin.fetchOffsets({ groupId: 'twinflow-orders', topics: ['twinflow.orders'] });
      await admin.disconnect();
      expect(committed.flatMap((t) => t.partitions.map((p) => p.offset))).toEqual(['-1', '-1', '-1', '-1']);
    });

    it('--partition P --from-offset N: only that partition, from that offset', async () => {
      const lines = LINES.filter((_, i) => partitionOf(i) === 1 && offsetOf(i) >= 3);
      const expected = await fileReplayMinutes(lines);
      const lake = path.join(tempDir(), 'lake');

      const replay = await twinflowWith(
        {},
        ...['replay', '--from-kafka', '--partition', '1', '--from-offset', '3', '--lake', lake],
        ...['--bootstrap-servers', broker.bootstrapServers],
      );

      expect(replay.code, replay.stderr).toBe(0);
      expect(replay.stdout).toContain(`replayed ${lines.length} event(s)`);
      expect(replay.stdout).toContain(`twinflow.orders-1: ${lines.length} event(s) from offsets 3..`);
      expect(replay.stdout).not.toContain('twinflow.orders-0');
      expect(await minutesOf(lake)).toEqual(expected);
    });

    it('--from-timestamp: only the records from that time on (KAFKA_TOPIC_<DATASET> names the topic)', async () => {
      const topic = 'shop.orders-by-time';
      const t0 = Date.parse('2026-11-21T12:00:00Z');
      const early = LINES.slice(0, 20);
      const late = LINES.slice(20);
      await produce(topic, early, t0);
      await produce(topic, late, t0 + 60_000);
      const expected = await fileReplayMinutes(late);
      const lake = path.join(tempDir(), 'lake');

      const replay = await twinflowWith(
        { ...env, KAFKA_TOPIC_ORDERS: topic },
        ...['replay', '--from-kafka', '--from-timestamp', '2026-11-21T12:00:30Z', '--lake', lake],
      );

      expect(replay.code, replay.stderr).toBe(0);
      expect(replay.stdout).toContain(`replayed ${late.length} event(s)`);
      expect(replay.stdout).toContain(`${topic}-0:`);
      expect(await minutesOf(lake)).toEqual(expected);
    });

    it('a partition the topic lacks, and a broker that does not answer: one clear line, non-zero exit', async () => {
      const lake = path.join(tempDir(), 'lake');
      const missing = await twinflowWith(
        env,
        ...['replay', '--from-kafka', '--partition', '9', '--from-offset', '0', '--lake', lake],
      );
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toContain('topic twinflow.orders has no partition 9 (it has 4: 0, 1, 2, 3)');

      const down = await twinflowWith(
        {},
        ...['replay', '--from-kafka', '--from-offset', '0', '--lake', lake],
        ...['--bootstrap-servers', '127.0.0.1:1'],
      );
      expect(down.code).toBe(1);
      expect(down.stderr).toMatch(/^twinflow: cannot read from Kafka at 127\.0\.0\.1:1: .*ECONNREFUSED/);
      expect(down.stderr).not.toMatch(/\n\s+at /);
    });

    it('dlq peek shows a Kafka failure record readably; redrive replays its ranges and empties the DLQ', async () => {
      const dlq = await sqs.client.send(
        new CreateQueueCommand({ QueueName: `kafka-dlq-${Math.random().toString(16).slice(2, 8)}` }),
      );
      const dlqUrl = dlq.QueueUrl!;
      // A failed batch of partition 2, offsets 1..4, and of partition 3, offset 0.
      const failed = LINES.map((line, i) => ({
        line,
        partition: partitionOf(i),
        offset: offsetOf(i),
      })).filter(
        (r) => (r.partition === 2 && r.offset >= 1 && r.offset <= 4) || (r.partition === 3 && r.offset === 0),
      );
      const record = kafkaFailureRecordOf({
        records: failed.map((r) => ({
          topic: 'twinflow.orders',
          partition: r.partition,
          offset: r.offset,
          timestamp: 0,
        })),
        functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:ingest-orders',
        requestId: 'req-1',
        condition: 'RetryAttemptsExhausted',
        invokeCount: 4,
        functionError: 'Unhandled',
        bootstrapServers: broker.bootstrapServers,
        payloadSize: 1000,
        now: new Date('2026-11-21T12:00:00Z'),
      });
      await sqs.client.send(
        new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: JSON.stringify(record) }),
      );
      const expected = await fileReplayMinutes(failed.map((r) => r.line));
      const lake = path.join(tempDir(), 'lake');

      const peek = await twinflowWith({}, 'dlq', 'peek', '--queue-url', dlqUrl);
      expect(peek.code, peek.stderr).toBe(0);
      expect(peek.stdout).toContain(
        'Kafka failure record (RetryAttemptsExhausted, 4 invocation(s), Unhandled, 2026-11-21T12:00:00.000Z): ' +
          'twinflow.orders-2 offsets 1..4; twinflow.orders-3 offsets 0..0',
      );

      // No KAFKA_BOOTSTRAP_SERVERS: the record names the cluster.
      const redrive = await twinflowWith(
        { KAFKA_BOOTSTRAP_SERVERS: '' },
        ...['dlq', 'redrive', '--queue-url', dlqUrl, '--lake', lake],
      );
      expect(redrive.code, redrive.stderr).toBe(0);
      expect(redrive.stdout).toContain(
        `redrove 1 Kafka failure record(s) from the topic: ${failed.length} event(s)`,
      );
      expect(redrive.stdout).toContain('twinflow.orders-2: 4 event(s) from offsets 1..4');
      expect(redrive.stdout).toContain('twinflow.orders-3: 1 event(s) from offsets 0..0');
      expect(await minutesOf(lake)).toEqual(expected);
      expect(await sqs.depth(dlqUrl)).toEqual({ visible: 0, inFlight: 0 });
    });
  },
);
