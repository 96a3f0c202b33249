import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SelfManagedKafkaEvent } from 'aws-lambda';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { realtimeOrders } from '../stream/stream-helpers.ts';
import { FaultyStore } from '../support/faulty-store.ts';
import { fixture, lambdaContext } from '../support/lambda-context.ts';

/** The handler's lake with a switch to make writes fail (the fault is injected; everything else is real). */
const lake = new FaultyStore(
  new LocalDirectoryStore(mkdtempSync(path.join(os.tmpdir(), 'twinflow-ingest-kafka-fault-'))),
);
vi.mock('../../functions/ingest-orders/env.ts', () => ({
  env: { dataset: { name: 'orders' }, store: lake, allowedLatenessSeconds: 3600 },
}));

type Response = { batchItemFailures: { itemIdentifier: { partition: string; offset: number } }[] };
let handler: (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<Response>;

beforeAll(async () => {
  process.env['POWERTOOLS_LOG_LEVEL'] = 'CRITICAL';
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  ({ handler } = (await import('../../functions/ingest-orders/handler.ts')) as unknown as {
    handler: typeof handler;
  });
});

const DAY = '2026-11-21';
const POISON = 'twinflow.orders-1-1191';

/** `<topic>-<partition>-<offset>` of every record, in partition and offset order. */
function recordIds(event: SelfManagedKafkaEvent): string[] {
  return Object.values(event.records)
    .flat()
    .map((r) => `${r.topic}-${r.partition}-${r.offset}`);
}

/** Every record as the item identifier Lambda's Kafka mapping reads: its `records` key and its offset. */
function itemIdentifiers(event: SelfManagedKafkaEvent): { partition: string; offset: number }[] {
  return Object.values(event.records)
    .flat()
    .map((r) => ({ partition: `${r.topic}-${r.partition}`, offset: r.offset }));
}

describe('ingest-orders handler, Kafka event source, when the lake fails', () => {
  it('reports exactly the valid records as batchItemFailures by topic-partition and offset', async () => {
    // Prepare: only the speed layer's view and archive files fail; the quarantine file is written.
    const event = (await fixture('kafka-orders.json')) as SelfManagedKafkaEvent;
    lake.failWrites = (key) => !key.startsWith('quarantine/');

    // Act
    const response = await handler(event, lambdaContext('ingest-orders'));

    // Assess: the poison record stays acknowledged (quarantined); the nine valid ones are retried; none counted.
    lake.failWrites = () => false;
    // Lambda's Kafka mappings read `{partition: '<topic>-<partition>', offset}`, not SQS's string id.
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(
      itemIdentifiers(event).filter((id) => `${id.partition}-${id.offset}` !== POISON),
    );
    expect(Object.keys(event.records)).toEqual(
      expect.arrayContaining([...new Set(response.batchItemFailures.map((f) => f.itemIdentifier.partition))]),
    );
    expect(await realtimeOrders(lake, DAY)).toBe(0);
  });

  it('the redelivered batch is stored once the lake is back', async () => {
    const response = await handler(await fixture('kafka-orders.json'), lambdaContext('ingest-orders'));
    expect(response).toEqual({ batchItemFailures: [] });
    expect(await realtimeOrders(lake, DAY)).toBe(8);
  });

  it('fails the invocation when no record could be stored, so the mapping retries and the error alarm sees it', async () => {
    // Prepare: another batch (the same values at new offsets), every write failing (the quarantine file too).
    const event = (await fixture('kafka-orders.json')) as SelfManagedKafkaEvent;
    for (const record of Object.values(event.records).flat()) record.offset += 1000;
    lake.failWrites = () => true;

    // Act
    const failure = await handler(event, lambdaContext('ingest-orders')).catch((error: unknown) => error);
    lake.failWrites = () => false;

    // Assess: one error per record, the same words for the batch, naming the lake write.
    expect(failure).toMatchObject({
      name: 'FullBatchFailureError',
      message: expect.stringMatching(/All records failed processing/),
    });
    const reasons = (failure as { recordErrors: Error[] }).recordErrors.map((e) => e.message);
    expect(reasons).toHaveLength(recordIds(event).length);
    expect(new Set(reasons).size).toBe(1);
    expect(reasons[0]).toMatch(/^not stored by micro-batch .+: injected: put .+ failed$/);
    expect(await realtimeOrders(lake, DAY)).toBe(8);
  });
});
