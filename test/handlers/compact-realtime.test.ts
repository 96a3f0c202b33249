import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { silentLog } from '../../functions/pipeline/ports.ts';
import { consumeMicroBatch } from '../../functions/stream/micro-batch.ts';
import { messages, realtimeOrders } from '../stream/stream-helpers.ts';
import { fixture, lambdaContext } from '../support/lambda-context.ts';
import { order } from '../support/orders.ts';

const lakeDir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-compact-handler-'));
type Handler = (
  event: unknown,
  context: ReturnType<typeof lambdaContext>,
) => Promise<{ days: unknown[]; realtimeFreshnessSeconds: number | null }>;
let handler: Handler;

beforeAll(async () => {
  process.env['LAKE_DIR'] = lakeDir;
  delete process.env['LAKE_BUCKET'];
  process.env['POWERTOOLS_LOG_LEVEL'] = 'ERROR';
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  ({ handler } = (await import('../../functions/compact-realtime/handler.ts')) as unknown as {
    handler: Handler;
  });
});

describe('compact-realtime handler (events/ fixtures)', () => {
  it('scheduled-compaction.json: compacts the hours of the days around event.time', async () => {
    const store = new LocalDirectoryStore(lakeDir);
    const deps = { store, clock: () => new Date('2026-11-21T10:10:00Z'), log: silentLog };
    const retry = order({ order_id: 'o1', event_id: 'e1-retry', event_time: '2026-11-21T10:01:00Z' });
    await consumeMicroBatch(
      {
        messages: messages(
          [order({ order_id: 'o1', event_id: 'e1', event_time: '2026-11-21T10:01:00Z' })],
          'a',
        ),
      },
      deps,
    );
    await consumeMicroBatch({ messages: messages([retry], 'b') }, deps);

    const result = await handler(
      await fixture('scheduled-compaction.json'),
      lambdaContext('compact-realtime'),
    );

    expect(result.days).toEqual([
      {
        dataset: 'orders',
        day: '2026-11-21',
        status: 'compacted',
        orders: 1,
        duplicates: 1,
        batches: 2,
        read: 2,
      },
    ]);
    expect(await realtimeOrders(store, '2026-11-21')).toBe(1);
    // Newest event 10:01:00, schedule time 10:20:00: the freshness alarm's metric.
    expect(result.realtimeFreshnessSeconds).toBe(19 * 60);
  });

  it('rejects an event without a time, or with a time in no zone, naming the field', async () => {
    await expect(handler({}, lambdaContext('compact-realtime'))).rejects.toThrow(/time: /);
    // Read in the machine's zone, this would compact different hours on different machines.
    await expect(
      handler(
        { 'detail-type': 'Scheduled Event', time: '2026-11-21T02:00:00' },
        lambdaContext('compact-realtime'),
      ),
    ).rejects.toThrow(/time: must be an ISO-8601 timestamp with a zone/);
  });
});
