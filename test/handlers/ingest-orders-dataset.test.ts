import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SQSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ingestDataset } from '../../functions/ingest-orders/dataset.ts';
import { datasetsDir, listDatasets } from '../../functions/pipeline/datasets.ts';
import type { MicroBatchInput } from '../../functions/stream/micro-batch.ts';
import { fixture, lambdaContext } from '../support/lambda-context.ts';

/** What the handler asked of the consumer core (the core itself is tested in test/stream). */
const consumed = vi.hoisted(() => [] as { dataset?: string; messages: number }[]);
vi.mock('../../functions/stream/micro-batch.ts', () => ({
  consumeMicroBatch: async (input: MicroBatchInput) => {
    consumed.push({ dataset: input.dataset, messages: input.messages.length });
    return {
      batchId: 'b1',
      received: input.messages.length,
      valid: input.messages.length,
      quarantined: 0,
      late: 0,
      duplicates: 0,
      failedMessageIds: [],
      durationMs: 1,
    };
  },
}));

/** A project's datasets/: the shipped ones, a streamed fixture and a batch-only one. */
let project: string;
const saved = { ...process.env };
const lakes: string[] = [];

beforeAll(() => {
  project = mkdtempSync(path.join(os.tmpdir(), 'twinflow-ingest-datasets-'));
  cpSync(datasetsDir(), project, { recursive: true });
  for (const name of ['stock_moves', 'shelf_audits']) {
    cpSync(path.join(import.meta.dirname, '..', 'datasets', 'fixtures', name), path.join(project, name), {
      recursive: true,
    });
  }
});

afterEach(() => {
  process.env = { ...saved };
  consumed.length = 0;
  vi.resetModules();
  for (const lake of lakes.splice(0)) rmSync(lake, { recursive: true, force: true });
});

afterAll(() => rmSync(project, { recursive: true, force: true }));

/** The handler loaded (cold start) with `env` on top of a local lake. */
async function coldStart(env: Record<string, string>) {
  const lake = mkdtempSync(path.join(os.tmpdir(), 'twinflow-ingest-lake-'));
  lakes.push(lake);
  Object.assign(process.env, {
    LAKE_DIR: lake,
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    POWERTOOLS_METRICS_DISABLED: 'true',
    TWINFLOW_DATASETS_DIR: project,
    ...env,
  });
  delete process.env['LAKE_BUCKET'];
  const { handler } = (await import('../../functions/ingest-orders/handler.ts')) as unknown as {
    handler: (event: unknown, context: unknown) => Promise<unknown>;
  };
  return handler;
}

describe('which dataset an ingest function consumes (TWINFLOW_DATASET)', () => {
  const datasets = () => listDatasets(project);

  it('is the named dataset, or orders when the variable is unset (the function deployed before datasets)', () => {
    expect(ingestDataset({ TWINFLOW_DATASET: 'stock_moves' }, datasets()).name).toBe('stock_moves');
    expect(ingestDataset({}, datasets()).name).toBe('orders');
    expect(ingestDataset({ TWINFLOW_DATASET: '' }, datasets()).name).toBe('orders');
  });

  it('refuses an undeclared dataset, listing the declared ones, and a batch-only one, naming its source', () => {
    expect(() => ingestDataset({ TWINFLOW_DATASET: 'parcels' }, datasets())).toThrow(
      'TWINFLOW_DATASET: unknown dataset "parcels" (declared: clicks, inventory, orders, shelf_audits, stock_counts, stock_moves)',
    );
    expect(() => ingestDataset({ TWINFLOW_DATASET: 'shelf_audits' }, datasets())).toThrow(
      'TWINFLOW_DATASET: dataset "shelf_audits" is batch-only (source: batch): it has no stream to ingest',
    );
  });
});

describe('ingest handler per dataset', () => {
  it("passes its dataset to the consumer core with the batch's messages", async () => {
    const event = (await fixture('sqs-orders.json')) as SQSEvent;
    const handler = await coldStart({ TWINFLOW_DATASET: 'stock_moves' });

    const response = await handler(event, lambdaContext('ingest-stock_moves'));

    expect(response).toEqual({ batchItemFailures: [] });
    expect(consumed).toEqual([{ dataset: 'stock_moves', messages: event.Records.length }]);
  });

  it('without TWINFLOW_DATASET consumes orders, as ingest-orders always has', async () => {
    const handler = await coldStart({});

    await handler(await fixture('sqs-orders.json'), lambdaContext('ingest-orders'));

    expect(consumed.map((c) => c.dataset)).toEqual(['orders']);
  });

  it('fails its cold start with a clear error when its dataset has no stream', async () => {
    await expect(coldStart({ TWINFLOW_DATASET: 'shelf_audits' })).rejects.toThrow(
      /dataset "shelf_audits" is batch-only/,
    );
    expect(consumed).toEqual([]);
  });
});
