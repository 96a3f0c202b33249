import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetsDir } from '../../functions/pipeline/datasets.ts';
import { synthTemplate } from '../../lib/synth.ts';
import { REPO_ROOT, type Runtime, startRuntime, streamVariables } from '../../local/runtime.ts';
import { type CfnTemplate, planFromTemplate } from '../../local/template-plan.ts';
import { synthesisKey } from '../../local/template-source.ts';
import { datasetsWithFixtures, withDatasetsDir } from '../infra/helpers.ts';
import { useTempDirs } from '../support/temp-dir.ts';

/**
 * The local runtime follows the template: a project that declares a streamed dataset (stock_moves) and a
 * batch-only one (shelf_audits) gets the first one's queue, DLQ, mapping and ingest function locally too, with no
 * code of its own.
 */
const FAKE = fileURLToPath(new URL('./fixtures/fake-handlers.ts', import.meta.url));
const RECORDING = fileURLToPath(new URL('./fixtures/recording-handler.ts', import.meta.url));
const tempDir = useTempDirs();

let project: ReturnType<typeof datasetsWithFixtures>;
let template: CfnTemplate;

beforeAll(() => {
  project = datasetsWithFixtures('stock_moves', 'shelf_audits');
  // A short batching window keeps the delivery test fast.
  template = withDatasetsDir(project.dir, () =>
    synthTemplate('dev', { stream: { maxBatchingWindowSeconds: 1 } }),
  ) as CfnTemplate;
}, 120_000);

afterAll(() => project?.remove());

describe('the plan of a template with a dataset added', () => {
  it("has the dataset's queue with its DLQ, its mapping and its ingest function; a batch-only dataset has none", () => {
    const plan = planFromTemplate(template);
    const ingest = plan.functions.find((f) => f.name === 'ingest-stock_moves');
    const mapping = plan.eventSources.find((e) => e.functionId === ingest?.logicalId);
    const queue = plan.queues.find((q) => q.logicalId === mapping?.queueId);

    expect(ingest).toMatchObject({
      entry: 'functions/ingest-orders/handler.ts',
      dataset: 'stock_moves',
      environment: expect.objectContaining({ TWINFLOW_DATASET: 'stock_moves' }),
    });
    expect(mapping).toMatchObject({ batchSize: 10_000, reportBatchItemFailures: true, enabled: true });
    expect(queue?.logicalId).toMatch(/^StockMovesQueue/);
    expect(queue?.redrive).toMatchObject({
      deadLetterQueueId: expect.stringMatching(/^StockMovesDeadLetterQueue/),
      maxReceiveCount: 3,
    });
    // orders, clicks, inventory (shipped) and stock_moves: a queue and a DLQ each.
    expect(plan.eventSources).toHaveLength(4);
    expect(plan.queues).toHaveLength(8);
    expect(plan.functions.map((f) => f.name)).not.toContain('ingest-shelf_audits');
    expect(plan.functions.find((f) => f.name === 'ingest-orders')?.dataset).toBe('orders');
  });

  it('names <DATASET>_QUEUE_URL and <DATASET>_DLQ_URL per stream', () => {
    expect(
      streamVariables([
        { dataset: 'orders', queueUrl: 'q1', deadLetterQueueUrl: 'd1' },
        { dataset: 'stock_moves', queueUrl: 'q2', deadLetterQueueUrl: 'd2' },
      ]),
    ).toEqual({
      ORDERS_QUEUE_URL: 'q1',
      ORDERS_DLQ_URL: 'd1',
      STOCK_MOVES_QUEUE_URL: 'q2',
      STOCK_MOVES_DLQ_URL: 'd2',
    });
  });
});

describe('the cached template', () => {
  it('is re-synthesized when the declarations change, so a new dataset reaches the local runtime', async () => {
    const shipped = await synthesisKey(REPO_ROOT, 'dev', {}, datasetsDir());
    const extended = await synthesisKey(REPO_ROOT, 'dev', {}, project.dir);
    const copy = datasetsWithFixtures();
    try {
      expect(extended).not.toBe(shipped);
      expect(await synthesisKey(REPO_ROOT, 'dev', {}, copy.dir)).toBe(shipped);
    } finally {
      copy.remove();
    }
  });
});

describe('the local runtime with a dataset added', () => {
  let runtime: Runtime;
  let dataDir: string;
  let recordDir: string;

  beforeAll(async () => {
    dataDir = tempDir();
    recordDir = tempDir();
    const plan = planFromTemplate(template);
    // Every function is a fake: the test is about wiring, not the functions (tested on their own).
    const entryOverrides = Object.fromEntries(
      plan.functions.map((f) => [f.name, f.dataset === undefined ? FAKE : RECORDING]),
    );
    runtime = await startRuntime({
      template,
      dataDir,
      port: 0,
      rate: 0,
      seed: false,
      print: () => undefined,
      entryOverrides,
      hostEnv: { ...process.env, TMPDIR: recordDir, TWINFLOW_DATASETS_DIR: project.dir },
    });
  }, 120_000);

  afterAll(async () => {
    await runtime?.stop();
  }, 60_000);

  it("writes every stream's queue and DLQ to endpoints.env, orders' under the names it always had", () => {
    const env = Object.fromEntries(
      readFileSync(path.join(dataDir, 'endpoints.env'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => line.split(/=(.*)/s).slice(0, 2)),
    );

    expect(Object.keys(runtime.streams).sort()).toEqual(['clicks', 'inventory', 'orders', 'stock_moves']);
    expect(env).toMatchObject({
      ORDERS_QUEUE_URL: runtime.streams['orders']?.queueUrl,
      ORDERS_DLQ_URL: runtime.streams['orders']?.deadLetterQueueUrl,
      STOCK_MOVES_QUEUE_URL: runtime.streams['stock_moves']?.queueUrl,
      STOCK_MOVES_DLQ_URL: runtime.streams['stock_moves']?.deadLetterQueueUrl,
    });
    expect(env['STOCK_MOVES_QUEUE_URL']).toMatch(/\/StockMovesQueue[0-9A-F]+$/);
    expect(env['STOCK_MOVES_DLQ_URL']).toMatch(/\/StockMovesDeadLetterQueue[0-9A-F]+$/);
    expect(Object.keys(env).filter((name) => name.startsWith('SHELF_AUDITS'))).toEqual([]);
    expect(runtime.ordersQueueUrl).toBe(runtime.streams['orders']?.queueUrl);
  });

  it("a message sent to the dataset's queue reaches its ingest function, told its dataset", async () => {
    // Prepare
    const sqs = new SQSClient({
      region: 'us-east-1',
      endpoint: runtime.endpoints.sqs,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const body = JSON.stringify({ movement_id: 'm1', product_id: 'p1', warehouse_id: 'w1', quantity: 3 });
    const invocations = path.join(recordDir, 'invocations.jsonl');

    // Act
    await sqs.send(
      new SendMessageCommand({ QueueUrl: runtime.streams['stock_moves']?.queueUrl, MessageBody: body }),
    );
    const deadline = Date.now() + 30_000;
    while (!existsSync(invocations) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    sqs.destroy();

    // Assess
    const lines = readFileSync(invocations, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toEqual([
      {
        functionName: 'ingest-stock_moves',
        dataset: 'stock_moves',
        sources: [expect.stringMatching(/:StockMovesQueue[0-9A-F]+$/)],
        bodies: [body],
      },
    ]);
  }, 60_000);
});
