import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { realtimeOrders } from '../stream/stream-helpers.ts';
import { FaultyStore } from '../support/faulty-store.ts';
import { fixture, lambdaContext } from '../support/lambda-context.ts';

/** The handler's lake with a switch to make writes fail (the fault is injected; everything else is real). */
const lake = new FaultyStore(
  new LocalDirectoryStore(mkdtempSync(path.join(os.tmpdir(), 'twinflow-ingest-fault-'))),
);
vi.mock('../../functions/ingest-orders/env.ts', () => ({
  env: { dataset: { name: 'orders' }, store: lake, allowedLatenessSeconds: 3600 },
}));

let handler: (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<SQSBatchResponse>;

beforeAll(async () => {
  process.env['POWERTOOLS_LOG_LEVEL'] = 'CRITICAL';
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  ({ handler } = (await import('../../functions/ingest-orders/handler.ts')) as unknown as {
    handler: typeof handler;
  });
});

describe('ingest-orders handler when the lake fails', () => {
  it('reports exactly the valid records as batchItemFailures when their files cannot be written', async () => {
    // Prepare: the mixed fixture (valid and poison records); only the speed layer's view files fail.
    const event = (await fixture('sqs-mixed.json')) as SQSEvent;
    lake.failWrites = (key) => !key.startsWith('quarantine/');

    // Act
    const response = await handler(event, lambdaContext('ingest-orders'));

    // Assess: poison records stay acknowledged (quarantined); every valid one is retried; nothing was counted.
    const quarantined = event.Records.length - response.batchItemFailures.length;
    expect(response.batchItemFailures.length).toBeGreaterThan(0);
    expect(quarantined).toBeGreaterThan(0);
    const ids = new Set(event.Records.map((r) => r.messageId));
    expect(response.batchItemFailures.every((f) => ids.has(f.itemIdentifier))).toBe(true);
    lake.failWrites = () => false;
    expect(await realtimeOrders(lake, '2026-11-21')).toBe(0);
  });

  it('fails the invocation when no record could be stored, so SQS retries all and the error alarm sees it', async () => {
    // Prepare
    const event = (await fixture('sqs-orders.json')) as SQSEvent;
    lake.failWrites = () => true;

    // Act
    const failure = await handler(event, lambdaContext('ingest-orders')).catch((error: unknown) => error);
    lake.failWrites = () => false;

    // Assess: each record's error says why (the lake write), in the same words for the whole batch.
    expect(failure).toMatchObject({
      name: 'FullBatchFailureError',
      message: expect.stringMatching(/All records failed processing/),
    });
    const reasons = (failure as { recordErrors: Error[] }).recordErrors.map((e) => e.message);
    expect(reasons).toHaveLength(event.Records.length);
    expect(new Set(reasons).size).toBe(1);
    expect(reasons[0]).toMatch(/^not stored by micro-batch .+: injected: put .+ failed$/);
  });
});
