import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { streamStats } from '../../functions/stream/stream-stats.ts';
import { realtimeOrders } from '../stream/stream-helpers.ts';
import { fixture, lambdaContext } from '../support/lambda-context.ts';

const lakeDir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-ingest-handler-'));
let handler: (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<SQSBatchResponse>;

beforeAll(async () => {
  process.env['LAKE_DIR'] = lakeDir;
  delete process.env['LAKE_BUCKET'];
  process.env['POWERTOOLS_LOG_LEVEL'] = 'ERROR';
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  ({ handler } = (await import('../../functions/ingest-orders/handler.ts')) as unknown as {
    handler: typeof handler;
  });
});

const store = () => new LocalDirectoryStore(lakeDir);
const DAY = '2026-11-21';

describe('ingest-orders handler (events/ fixtures)', () => {
  it('sqs-orders.json: every record acknowledged and counted', async () => {
    const event = (await fixture('sqs-orders.json')) as SQSEvent;
    const response = await handler(event, lambdaContext('ingest-orders'));
    expect(response).toEqual({ batchItemFailures: [] });
    expect(await realtimeOrders(store(), DAY)).toBe(8);
  });

  it('sqs-redelivery.json: a redelivered batch does not double count', async () => {
    const response = await handler(await fixture('sqs-redelivery.json'), lambdaContext('ingest-orders'));
    expect(response).toEqual({ batchItemFailures: [] });
    expect(await realtimeOrders(store(), DAY)).toBe(8);
  });

  it('sqs-producer-retry.json: counted once the hour is compacted', async () => {
    await handler(await fixture('sqs-producer-retry.json'), lambdaContext('ingest-orders'));
    expect(await realtimeOrders(store(), DAY)).toBe(9);
    const { handler: compact } = await import('../../functions/compact-realtime/handler.ts');
    await compact(
      (await fixture('scheduled-compaction.json')) as { time: string },
      lambdaContext('compact-realtime'),
    );
    expect(await realtimeOrders(store(), DAY)).toBe(8);
  });

  it('sqs-mixed.json: poison records quarantined and acknowledged, valid ones counted', async () => {
    const event = (await fixture('sqs-mixed.json')) as SQSEvent;
    const response = await handler(event, lambdaContext('ingest-orders'));
    expect(response).toEqual({ batchItemFailures: [] });
    const stats = await streamStats(store(), DAY);
    expect(stats['10']?.quarantined).toBe(5);
    expect(stats['08']?.valid).toBe(1);
    expect(await realtimeOrders(store(), DAY)).toBe(8 + 2 + 1);
  });

  it('rejects an event that is not an SQS batch', async () => {
    await expect(handler({ hello: 'world' }, lambdaContext('ingest-orders'))).rejects.toThrow(/SQS event/);
  });
});
