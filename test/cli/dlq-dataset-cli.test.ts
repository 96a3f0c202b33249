import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ReceiveMessageCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { twinflowWith } from '../support/cli.ts';
import { LOCAL_CREDENTIALS, useLocalSqs } from '../support/local-aws.ts';
import { useTempDirs } from '../support/temp-dir.ts';
import { projectDatasets } from './project-datasets.ts';

// The real CLI in a child process against local-aws-sqs on loopback, one queue + DLQ per dataset, their URLs in
// the environment as `set -a; . .twinflow/endpoints.env; set +a` puts them.
const sqs = useLocalSqs();
const tempDir = useTempDirs();

beforeAll(() => {
  vi.stubEnv('AWS_ACCESS_KEY_ID', LOCAL_CREDENTIALS.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', LOCAL_CREDENTIALS.secretAccessKey);
  vi.stubEnv('AWS_REGION', 'us-east-1');
});
afterAll(() => {
  vi.unstubAllEnvs();
});

async function send(queueUrl: string, bodies: readonly string[]) {
  await sqs.client.send(
    new SendMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: bodies.map((body, i) => ({ Id: String(i), MessageBody: body })),
    }),
  );
}

/** Sends bodies to a source queue (maxReceiveCount 1) and fails each receive once, so SQS dead-letters them. */
async function deadLetter(queue: { queueUrl: string; dlqUrl: string }, bodies: readonly string[]) {
  await send(queue.queueUrl, bodies);
  const deadline = Date.now() + 15_000;
  while ((await sqs.depth(queue.dlqUrl)).visible < bodies.length) {
    if (Date.now() > deadline) throw new Error('timed out waiting for messages to reach the DLQ');
    await sqs.client.send(
      new ReceiveMessageCommand({ QueueUrl: queue.queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Every body in a queue, sorted (consumes them). */
async function bodiesIn(queueUrl: string): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const out = await sqs.client.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 300 }),
    );
    if (!out.Messages?.length) return bodies.sort();
    bodies.push(...out.Messages.map((m) => m.Body ?? ''));
  }
}

const ORDER_BODIES = ['{"order":1}'];
const MOVE_BODIES = ['{"move":1}', '{"move":2}'];

/** An orders and a stock_moves queue + DLQ, dead-lettered messages in both, and the env naming them. */
async function twoDatasets() {
  const orders = await sqs.queueWithDlq({ maxReceiveCount: 1 });
  const moves = await sqs.queueWithDlq({ maxReceiveCount: 1 });
  await deadLetter(orders, ORDER_BODIES);
  await deadLetter(moves, MOVE_BODIES);
  const env = {
    TWINFLOW_DATASETS_DIR: projectDatasets(tempDir(), ['stock_moves', 'cycle_counts']),
    ORDERS_QUEUE_URL: orders.queueUrl,
    ORDERS_DLQ_URL: orders.dlqUrl,
    STOCK_MOVES_QUEUE_URL: moves.queueUrl,
    STOCK_MOVES_DLQ_URL: moves.dlqUrl,
  };
  return { orders, moves, env };
}

describe("twinflow dlq --dataset: the dataset's DLQ from <DATASET>_DLQ_URL", () => {
  it("stats and peek read the named dataset's DLQ; orders stays the default; --queue-url wins", async () => {
    // Prepare
    const { orders, moves, env } = await twoDatasets();

    // Act
    const movesStats = await twinflowWith(env, 'dlq', 'stats', '--dataset', 'stock_moves', '--json');
    const ordersStats = await twinflowWith(env, 'dlq', 'stats', '--json');
    const explicit = await twinflowWith(
      env,
      ...['dlq', 'stats', '--dataset', 'stock_moves', '--queue-url', orders.dlqUrl, '--json'],
    );
    const peek = await twinflowWith(env, 'dlq', 'peek', '--dataset', 'stock_moves');

    // Assess
    expect(movesStats.code, movesStats.stderr).toBe(0);
    expect(JSON.parse(movesStats.stdout)).toMatchObject({
      queueUrl: moves.dlqUrl,
      visible: 2,
      sourceQueueUrls: [moves.queueUrl],
    });
    expect(JSON.parse(ordersStats.stdout)).toMatchObject({ queueUrl: orders.dlqUrl, visible: 1 });
    expect(JSON.parse(explicit.stdout)).toMatchObject({ queueUrl: orders.dlqUrl, visible: 1 });
    expect(peek.code, peek.stderr).toBe(0);
    for (const body of MOVE_BODIES) expect(peek.stdout).toContain(body);
    expect(peek.stdout).not.toContain(ORDER_BODIES[0]);
  });

  it("redrive --dataset moves that dataset's DLQ back to its own queue and leaves the others", async () => {
    const { orders, moves, env } = await twoDatasets();

    const redrive = await twinflowWith(env, 'dlq', 'redrive', '--dataset', 'stock_moves');

    expect(redrive.code, redrive.stderr).toBe(0);
    expect(redrive.stdout).toMatch(/moved 2 message\(s\)/);
    expect(await bodiesIn(moves.queueUrl)).toEqual(MOVE_BODIES);
    expect(await sqs.depth(orders.dlqUrl)).toEqual({ visible: 1, inFlight: 0 });
    expect(await sqs.depth(orders.queueUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('a dataset whose DLQ URL is not set names the variable to set', async () => {
    const { env } = await twoDatasets();

    const missing = await twinflowWith(
      { ...env, STOCK_MOVES_DLQ_URL: '' },
      'dlq',
      'peek',
      '--dataset',
      'stock_moves',
    );

    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(
      /no DLQ URL for dataset "stock_moves": pass --queue-url or set STOCK_MOVES_DLQ_URL/,
    );
  });
});

describe('twinflow replay / quarantine replay --dataset --queue-url', () => {
  it("send the dataset's events, and only its now-valid quarantined records, to the queue named", async () => {
    // Prepare: a stock_moves quarantine with one now-valid and one still invalid record; a file of two moves.
    const { moves, env } = await twoDatasets();
    const lake = tempDir();
    const valid = JSON.stringify({
      movement_id: 'mv-1',
      product_id: 'p1',
      warehouse_id: 'w-north',
      movement_type: 'sale',
      quantity: 2,
      event_time: '2026-11-20T10:00:00Z',
    });
    const invalid = valid.replace('"sale"', '"theft"');
    const dir = path.join(lake, 'quarantine', 'stock_moves', 'dt=2026-11-20');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      path.join(dir, 'b1.jsonl'),
      [valid, invalid]
        .map((raw, i) =>
          JSON.stringify({
            record_ref: `m-${i}`,
            source: 'stream',
            reasons: ['movement_type: …'],
            raw,
            quarantined_at: '2026-11-20T10:00:05.000Z',
            message_id: `m-${i}`,
            batch_id: 'b1',
          }),
        )
        .join('\n'),
    );
    const file = path.join(tempDir(), 'moves.jsonl');
    writeFileSync(file, `${valid}\n${invalid}\n`);

    // Act
    const quarantine = await twinflowWith(
      env,
      ...['quarantine', 'replay', '--dataset', 'stock_moves', '--queue-url', moves.queueUrl, '--lake', lake],
    );
    const fromQuarantine = await bodiesIn(moves.queueUrl);
    const replay = await twinflowWith(
      env,
      ...['replay', '--dataset', 'stock_moves', '--file', file, '--queue-url', moves.queueUrl],
    );
    const list = await twinflowWith(env, 'quarantine', 'list', '--dataset', 'stock_moves', '--lake', lake);

    // Assess
    expect(quarantine.code, quarantine.stderr).toBe(0);
    expect(quarantine.stdout).toMatch(/sent 1 now-valid record\(s\)/);
    expect(quarantine.stdout).toMatch(/1 record\(s\) still invalid/);
    expect(fromQuarantine).toEqual([valid]);
    expect(list.stdout).toMatch(/\b1 quarantined record\(s\) of stock_moves/);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toMatch(/sent 2 event\(s\)/);
    expect(await bodiesIn(moves.queueUrl)).toEqual([invalid, valid].sort());
  });
});
