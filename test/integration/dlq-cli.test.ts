import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CreateQueueCommand, ReceiveMessageCommand, SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { listQuarantine } from '../../functions/ops/quarantine.ts';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { fixQuarantined, lineRefOf } from '../stream/quarantine-fixes.ts';
import { twinflow, twinflowWith } from '../support/cli.ts';
import { LOCAL_CREDENTIALS, useLocalSqs } from '../support/local-aws.ts';

// The real CLI in a child process against local-aws-sqs on loopback: what an operator runs during an incident.
const sqs = useLocalSqs();
const fixtureFile = new URL('../../events/orders.jsonl', import.meta.url).pathname;

beforeAll(() => {
  // The child inherits these (what .twinflow/endpoints.env sets); the queue URL's origin is the endpoint.
  vi.stubEnv('AWS_ACCESS_KEY_ID', LOCAL_CREDENTIALS.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', LOCAL_CREDENTIALS.secretAccessKey);
  vi.stubEnv('AWS_REGION', 'us-east-1');
});
afterAll(() => {
  vi.unstubAllEnvs();
});

let counter = 0;

/** A source queue (maxReceiveCount 1) dead-lettering into a DLQ with the given visibility timeout. */
async function queues(dlqVisibilityTimeoutSeconds = 30) {
  const name = `cli-${++counter}-${Math.random().toString(16).slice(2, 8)}`;
  const dlq = await sqs.client.send(
    new CreateQueueCommand({
      QueueName: `${name}-dlq`,
      Attributes: { VisibilityTimeout: String(dlqVisibilityTimeoutSeconds) },
    }),
  );
  const source = await sqs.client.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: `arn:aws:sqs:us-east-1:123456789012:${name}-dlq`,
          maxReceiveCount: 1,
        }),
      },
    }),
  );
  return { sourceUrl: source.QueueUrl!, dlqUrl: dlq.QueueUrl! };
}

async function send(queueUrl: string, bodies: readonly string[]) {
  for (let i = 0; i < bodies.length; i += 10) {
    await sqs.client.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: bodies.slice(i, i + 10).map((body, j) => ({ Id: String(j), MessageBody: body })),
      }),
    );
  }
}

async function waitFor(condition: () => Promise<boolean>, what: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Sends bodies to the source queue and fails each receive once, so SQS dead-letters them (with their source). */
async function deadLetter(sourceUrl: string, dlqUrl: string, bodies: readonly string[]) {
  await send(sourceUrl, bodies);
  await waitFor(async () => {
    await sqs.client.send(
      new ReceiveMessageCommand({ QueueUrl: sourceUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }),
    );
    return (await sqs.depth(dlqUrl)).visible === bodies.length;
  }, 'messages to reach the DLQ');
}

/** Every body in a queue, sorted (consumes them: call last). */
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

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const BODIES = ['{"n":1}', '{"n":2}', '{"n":3}'];

describe('twinflow dlq (CLI against local-aws-sqs)', () => {
  it('stats: waiting messages and the source queue, as text and JSON', async () => {
    const { sourceUrl, dlqUrl } = await queues();
    await deadLetter(sourceUrl, dlqUrl, BODIES);

    const text = await twinflow('dlq', 'stats', '--queue-url', dlqUrl);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`DLQ ${dlqUrl}: 3 waiting, 0 in flight, 0 delayed; sources: ${sourceUrl}`);

    const json = await twinflow('dlq', 'stats', '--queue-url', dlqUrl, '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ visible: 3, inFlight: 0, sourceQueueUrls: [sourceUrl] });
  });

  it('peek: each message once, counted as distinct, and the DLQ keeps them all', async () => {
    const { dlqUrl } = await queues();
    await send(dlqUrl, BODIES);

    const peek = await twinflow('dlq', 'peek', '--queue-url', dlqUrl);

    expect(peek.code).toBe(0);
    for (const body of BODIES) expect(peek.stdout.split(body).length - 1).toBe(1);
    expect(peek.stdout).toMatch(/\b3 distinct message\(s\) shown/);
    expect(await sqs.depth(dlqUrl)).toEqual({ visible: 3, inFlight: 0 });
    expect(await bodiesIn(dlqUrl)).toEqual(BODIES);
  });

  it('peek --max caps the distinct messages shown', async () => {
    const { dlqUrl } = await queues();
    await send(dlqUrl, BODIES);

    const peek = await twinflow('dlq', 'peek', '--queue-url', dlqUrl, '--max', '2');

    expect(peek.code).toBe(0);
    expect(peek.stdout).toMatch(/\b2 distinct message\(s\) shown/);
    expect(await sqs.depth(dlqUrl)).toEqual({ visible: 3, inFlight: 0 });
  });

  it('redrive: StartMessageMoveTask returns dead-lettered messages to their source queue', async () => {
    const { sourceUrl, dlqUrl } = await queues();
    await deadLetter(sourceUrl, dlqUrl, BODIES);

    const redrive = await twinflow('dlq', 'redrive', '--queue-url', dlqUrl, '--rate', '100');

    expect(redrive.code).toBe(0);
    expect(redrive.stdout).toMatch(/moved 3 message\(s\).*move-task.*COMPLETED/);
    expect(await sqs.depth(dlqUrl)).toEqual({ visible: 0, inFlight: 0 });
    expect(await bodiesIn(sourceUrl)).toEqual(BODIES);
  });

  it('a second redrive reports its own move task, not the previous finished one', async () => {
    const { sourceUrl, dlqUrl } = await queues();
    await deadLetter(sourceUrl, dlqUrl, BODIES);
    expect((await twinflow('dlq', 'redrive', '--queue-url', dlqUrl, '--rate', '100')).code).toBe(0);
    await bodiesIn(sourceUrl); // the consumer takes them; one more message dead-letters later
    await deadLetter(sourceUrl, dlqUrl, ['{"late":1}']);

    const second = await twinflow('dlq', 'redrive', '--queue-url', dlqUrl, '--rate', '100');

    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/moved 1 message\(s\).*move-task.*COMPLETED/);
    expect(await sqs.depth(dlqUrl)).toEqual({ visible: 0, inFlight: 0 });
  });

  it('redrive of messages sent straight to the DLQ: says why the move task failed, and --manual --to moves them', async () => {
    // A short DLQ visibility timeout: the failed move task leaves the messages it read in flight that long — long
    // enough for the next CLI run to start on a loaded machine (5 s was not, in CI).
    const { sourceUrl, dlqUrl } = await queues(20);
    await send(dlqUrl, BODIES);

    const task = await twinflow('dlq', 'redrive', '--queue-url', dlqUrl);
    expect(task.code).toBe(1);
    expect(task.stdout).toMatch(/FAILED/);
    expect(task.stdout).toMatch(/CouldNotDetermineMessageSource/);
    expect(task.stdout).toContain(`--queue-url ${dlqUrl} --manual --to ${sourceUrl}`);

    // Right away the messages are still in flight: nothing can be moved, and the output says so.
    const early = await twinflow('dlq', 'redrive', '--queue-url', dlqUrl, '--manual', '--to', sourceUrl);
    expect(early.code).toBe(1);
    expect(early.stdout).toMatch(/moved 0 message\(s\)/);
    expect(early.stdout).not.toMatch(/COMPLETED/);
    expect(early.stdout).toMatch(/3 message\(s\) were in flight/);

    await waitFor(async () => (await sqs.depth(dlqUrl)).inFlight === 0, 'the DLQ visibility timeout', 30_000);
    const manual = await twinflow('dlq', 'redrive', '--queue-url', dlqUrl, '--manual', '--to', sourceUrl);
    expect(manual.code).toBe(0);
    expect(manual.stdout).toMatch(/moved 3 message\(s\) via receive-send.*COMPLETED/);
    expect(await sqs.depth(dlqUrl)).toEqual({ visible: 0, inFlight: 0 });
    expect(await bodiesIn(sourceUrl)).toEqual(BODIES);
  });

  it('redrive --manual without --to sends to the one source queue', async () => {
    const { sourceUrl, dlqUrl } = await queues();
    await send(dlqUrl, BODIES);

    const manual = await twinflow('dlq', 'redrive', '--queue-url', dlqUrl, '--manual');

    expect(manual.code).toBe(0);
    expect(manual.stdout).toMatch(/moved 3 message\(s\) via receive-send to \S+ \(COMPLETED\)/);
    expect(await bodiesIn(sourceUrl)).toEqual(BODIES);
  });

  it('redrive --manual deletes nothing the destination refused: the messages stay in the DLQ, visible', async () => {
    const { dlqUrl } = await queues();
    // A FIFO queue refuses messages without a MessageGroupId.
    const fifo = await sqs.client.send(
      new CreateQueueCommand({ QueueName: `refusing-${++counter}.fifo`, Attributes: { FifoQueue: 'true' } }),
    );
    await send(dlqUrl, BODIES);

    const manual = await twinflow(
      'dlq',
      'redrive',
      '--queue-url',
      dlqUrl,
      '--manual',
      '--to',
      fifo.QueueUrl!,
    );

    expect(manual.code).toBe(1);
    expect(manual.stdout).toMatch(/moved 0 message\(s\)/);
    expect(manual.stdout).toMatch(/MessageGroupId/);
    expect(await sqs.depth(dlqUrl)).toEqual({ visible: 3, inFlight: 0 });
    expect(await bodiesIn(dlqUrl)).toEqual(BODIES);
    expect(await bodiesIn(fifo.QueueUrl!)).toEqual([]);
  });

  it('bad input names the problem and exits non-zero', async () => {
    const { dlqUrl } = await queues();

    const missing = await twinflowWith({ ORDERS_DLQ_URL: '' }, 'dlq', 'peek');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no DLQ URL for dataset "orders": pass --queue-url or set ORDERS_DLQ_URL/);

    const notUrl = await twinflow('dlq', 'stats', '--queue-url', 'orders-dlq');
    expect(notUrl.code).toBe(2);
    expect(notUrl.stderr).toMatch(/--queue-url is not a URL: "orders-dlq"/);

    const port = await closedPort();
    const unreachable = await twinflow(
      'dlq',
      'stats',
      '--queue-url',
      `http://127.0.0.1:${port}/123456789012/q`,
    );
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(
      new RegExp(`cannot reach SQS at http://127.0.0.1:${port}.*ECONNREFUSED`),
    );
    expect(unreachable.stderr).not.toMatch(/\n\s+at /);

    const noQueue = await twinflow('dlq', 'peek', '--queue-url', `${sqs.server.endpoint}/123456789012/nope`);
    expect(noQueue.code).toBe(1);
    expect(noQueue.stderr).toContain(`no such queue: ${sqs.server.endpoint}/123456789012/nope`);
    expect(noQueue.stderr).not.toMatch(/\n\s+at /);

    const noDestination = await twinflow(
      'dlq',
      'redrive',
      '--queue-url',
      dlqUrl,
      '--to',
      `${sqs.server.endpoint}/123456789012/nope`,
    );
    expect(noDestination.code).toBe(2);
    expect(noDestination.stderr).toContain(
      `no such destination queue: ${sqs.server.endpoint}/123456789012/nope`,
    );
  });
});

describe('twinflow replay --queue-url (CLI against local-aws-sqs)', () => {
  it('sends every line of the file once', async () => {
    const { sourceUrl } = await queues();

    const replay = await twinflow('replay', '--file', fixtureFile, '--queue-url', sourceUrl);

    expect(replay.code).toBe(0);
    expect(replay.stdout).toMatch(/sent 49 event\(s\) to \S+; 0 rejected by SQS/);
    const lines = readFileSync(fixtureFile, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '');
    expect(await bodiesIn(sourceUrl)).toEqual(lines.sort());
  });

  it('names a queue that does not exist', async () => {
    const replay = await twinflow(
      'replay',
      '--file',
      fixtureFile,
      '--queue-url',
      `${sqs.server.endpoint}/123456789012/nope`,
    );
    expect(replay.code).toBe(1);
    expect(replay.stderr).toContain(`no such queue: ${sqs.server.endpoint}/123456789012/nope`);
  });
});

describe('twinflow quarantine replay --queue-url (CLI against local-aws-sqs)', () => {
  it('republishes the fixed record once and takes it out of quarantine', async () => {
    const { sourceUrl } = await queues();
    const lake = mkdtempSync(path.join(os.tmpdir(), 'twinflow-cli-quarantine-'));
    expect((await twinflow('replay', '--file', fixtureFile, '--lake', lake, '--no-compact')).code).toBe(0);
    const store = new LocalDirectoryStore(lake);
    // Line 48 was quarantined for its lower-case currency; the operator corrects it.
    const fixed = await fixQuarantined(store, 'orders.jsonl:48', (raw) => raw.replace('"usd"', '"USD"'));

    const replay = await twinflow('quarantine', 'replay', '--lake', lake, '--queue-url', sourceUrl);

    expect(replay.code).toBe(0);
    expect(replay.stdout).toMatch(/sent 1 now-valid record\(s\)/);
    expect(replay.stdout).toMatch(/removed 1 replayed record\(s\) from quarantine/);
    expect(replay.stdout).toMatch(/4 record\(s\) still invalid/);
    expect((await listQuarantine(store)).map((r) => lineRefOf(r.message_id))).toEqual([
      'orders.jsonl:45',
      'orders.jsonl:46',
      'orders.jsonl:47',
      'orders.jsonl:49',
    ]);

    // A second run finds nothing left to send: the record is not published twice.
    const again = await twinflow('quarantine', 'replay', '--lake', lake, '--queue-url', sourceUrl);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/sent 0 now-valid record\(s\)/);
    expect(await bodiesIn(sourceUrl)).toEqual([fixed]);
  });

  it('leaves the quarantine as it was when the queue does not exist', async () => {
    const lake = mkdtempSync(path.join(os.tmpdir(), 'twinflow-cli-quarantine-'));
    expect((await twinflow('replay', '--file', fixtureFile, '--lake', lake, '--no-compact')).code).toBe(0);
    const store = new LocalDirectoryStore(lake);
    await fixQuarantined(store, 'orders.jsonl:48', (raw) => raw.replace('"usd"', '"USD"'));

    const nope = `${sqs.server.endpoint}/123456789012/nope`;
    const replay = await twinflow('quarantine', 'replay', '--lake', lake, '--queue-url', nope);

    expect(replay.code).toBe(1);
    expect(replay.stderr).toContain(`no such queue: ${nope}`);
    expect(await listQuarantine(store)).toHaveLength(5);
  });
});
