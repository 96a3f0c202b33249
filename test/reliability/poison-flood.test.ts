import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { silentLog } from '../../functions/pipeline/ports.ts';
import { compactRealtime } from '../../functions/stream/compaction.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import { expectedTotals, quarantineRecords, realtimeTotals, sqsEvent, validOrders } from './helpers.ts';

const lakeDir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-rel-poison-'));
afterAll(() => rmSync(lakeDir, { recursive: true, force: true }));

const DAY = '2026-11-20';
const TOTAL = 10_000;
const BATCH_SIZE = 1_000;

/** Ten kinds of poison, cycled: each must be quarantined with a reason naming what is wrong. */
const POISON: ((i: number) => string)[] = [
  (i) => `{"order_id": "bad-${i}", "quantity": 2`,
  () => '',
  (i) => `[${i}]`,
  (i) => JSON.stringify({ order_id: `bad-${i}` }),
  (i) => JSON.stringify({ ...base(i), quantity: -i - 1 }),
  (i) => JSON.stringify({ ...base(i), quantity: 'two' }),
  (i) => JSON.stringify({ ...base(i), unit_price: '1.999' }),
  (i) => JSON.stringify({ ...base(i), event_time: 'yesterday' }),
  (i) => JSON.stringify({ ...base(i), currency: 'usd' }),
  (i) => `x'); drop table order_facts; -- ${i}`,
];

function base(i: number) {
  return {
    event_id: `e-bad-${i}`,
    order_id: `bad-${i}`,
    user_id: 'u1',
    product_id: 'p-0001',
    quantity: 1,
    unit_price: '9.99',
    currency: 'USD',
    event_time: `${DAY}T10:00:00Z`,
  };
}

describe('poison flood', () => {
  it('half of a 10k stream malformed: every poison record quarantined with reasons, every valid one counted once, no crash', async () => {
    // Prepare: 5,000 valid orders over the day interleaved with 5,000 poison records of ten kinds.
    process.env['LAKE_DIR'] = lakeDir;
    process.env['POWERTOOLS_LOG_LEVEL'] = 'ERROR';
    process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
    const { handler } = (await import('../../functions/ingest-orders/handler.ts')) as unknown as {
      handler: (event: SQSEvent, context: unknown) => Promise<SQSBatchResponse>;
    };
    const valid = validOrders(TOTAL / 2, 3, new Date(`${DAY}T00:00:00Z`), 17_000);
    const stream = Array.from({ length: TOTAL }, (_, i) =>
      i % 2 === 0
        ? { id: `ok-${i}`, body: JSON.stringify(valid[i / 2]) }
        : { id: `poison-${i}`, body: (POISON[((i - 1) / 2) % POISON.length] as (n: number) => string)(i) },
    );

    // Act: ten micro-batches of 1,000 through the real ingest-orders handler, then compaction.
    const failures: string[] = [];
    for (let i = 0; i < stream.length; i += BATCH_SIZE) {
      const response = await handler(
        sqsEvent(stream.slice(i, i + BATCH_SIZE)),
        lambdaContext('ingest-orders'),
      );
      failures.push(...response.batchItemFailures.map((f) => f.itemIdentifier));
    }
    const store = new LocalDirectoryStore(lakeDir);
    const now = new Date(`${DAY}T23:59:59Z`);
    await compactRealtime({ store, clock: () => now, log: silentLog }, { now, days: [DAY] });

    // Assess
    const quarantined = await quarantineRecords(store);
    expect(failures).toEqual([]);
    expect(quarantined).toHaveLength(TOTAL / 2);
    expect(new Set(quarantined.map((r) => r.message_id))).toEqual(
      new Set(stream.filter((m) => m.id.startsWith('poison-')).map((m) => m.id)),
    );
    expect(
      quarantined.every((r) => r.reasons.length > 0 && r.reasons.every((s) => /^[a-z_]+: /.test(s))),
    ).toBe(true);
    expect(await realtimeTotals(store, DAY)).toEqual(expectedTotals(valid));
  }, 60_000);
});
