import { describe, expect, it } from 'vitest';
import { getJson } from '../../functions/pipeline/object-store.ts';
import type { CoreDeps } from '../../functions/pipeline/ports.ts';
import { type BatchClose, queryBalance, servedBalance } from '../../functions/serving/balances.ts';
import { consumeMicroBatch } from '../../functions/stream/micro-batch.ts';
import { messages, streamDeps } from '../stream/stream-helpers.ts';
import { publishExport } from './lake-fixtures.ts';

/**
 * The batch close: when batch publishes a day of movements (or of counts), the level of every key at the end of
 * the newest published movement day is written, and later levels open there ("the last exact batch close plus
 * every movement since"). A close the lake no longer vouches for — here a day before it known to the speed layer
 * only — is ignored, and the level is still exact.
 */

const move = (id: string, product: string, quantity: number, event_time: string) => ({
  movement_id: id,
  product_id: product,
  warehouse_id: 'w1',
  movement_type: 'sale',
  quantity,
  event_time,
});

const publish = publishExport;

const stockAt = async (deps: CoreDeps, at: string) =>
  (await queryBalance(servedBalance('stock'), { at: new Date(at), filters: {} }, deps)).levels.map((l) => ({
    product: l['product_id'],
    on_hand: l['on_hand'],
    source: l.opening.source,
    at: l.opening.at,
  }));

describe('batch close (issue 16)', () => {
  it('opens later levels at the close of the newest published day, and is ignored once the lake no longer vouches for it', async () => {
    // Arrange: p1 counted 10 on the 20th, sold 3 that day; p2 never counted, sold 2 that day (a receipt-less start).
    const { deps } = streamDeps(new Date('2026-11-22T00:00:00Z'));
    const count = { product_id: 'p1', warehouse_id: 'w1', on_hand: 10, counted_at: '2026-11-20T04:00:00Z' };
    await publish(deps, 'stock_counts', '2026-11-20', [count]);
    await publish(deps, 'inventory', '2026-11-20', [
      move('m1', 'p1', 3, '2026-11-20T10:00:00Z'),
      move('m2', 'p2', 2, '2026-11-20T11:00:00Z'),
    ]);

    // Act
    const close = (
      await getJson<BatchClose>(deps.store, 'views/batch/_balances/stock/closes/dt=2026-11-20.json')
    )?.value;
    const opened = await stockAt(deps, '2026-11-21T12:00:00Z');
    // A movement of p2 on the 19th the speed layer holds and batch never published: the close cannot vouch for it.
    const late = [move('m0', 'p2', 5, '2026-11-19T09:00:00Z')];
    expect(
      (await consumeMicroBatch({ messages: messages(late), dataset: 'inventory' }, deps)).failedMessageIds,
    ).toEqual([]);
    const ignored = await stockAt(deps, '2026-11-21T12:00:00Z');

    // Assess
    expect(close?.levels).toEqual([
      { key: ['p1', 'w1'], value: 7 },
      { key: ['p2', 'w1'], value: -2 },
    ]);
    expect(close?.at).toBe('2026-11-21T00:00:00.000Z');
    expect(opened).toEqual([
      { product: 'p1', on_hand: 7, source: 'batch_close', at: '2026-11-21T00:00:00.000Z' },
      { product: 'p2', on_hand: -2, source: 'batch_close', at: '2026-11-21T00:00:00.000Z' },
    ]);
    expect(ignored).toEqual([
      { product: 'p1', on_hand: 7, source: 'stock_counts', at: '2026-11-20T04:00:00.000Z' },
      { product: 'p2', on_hand: -7, source: null, at: null },
    ]);
  });

  it('counts the movements of a part-minute that starts on a minute boundary (a close at midnight, a count at :00)', async () => {
    // Arrange: day 1 closes p1 at 10 - 3 = 7 at midnight; p2 is counted 50 at 09:00:00 on day 2. The speed layer
    // holds a sale of each in the first seconds after: p1 at 00:00:00 (on the close), p2 at 09:00:10.
    const { deps } = streamDeps(new Date('2026-11-22T00:00:00Z'));
    await publish(deps, 'stock_counts', '2026-11-20', [
      { product_id: 'p1', warehouse_id: 'w1', on_hand: 10, counted_at: '2026-11-20T04:00:00Z' },
    ]);
    await publish(deps, 'inventory', '2026-11-20', [move('m1', 'p1', 3, '2026-11-20T10:00:00Z')]);
    await publish(deps, 'stock_counts', '2026-11-21', [
      { product_id: 'p2', warehouse_id: 'w1', on_hand: 50, counted_at: '2026-11-21T09:00:00Z' },
    ]);
    const sales = [move('m2', 'p1', 1, '2026-11-21T00:00:00Z'), move('m3', 'p2', 4, '2026-11-21T09:00:10Z')];
    expect(
      (await consumeMicroBatch({ messages: messages(sales), dataset: 'inventory' }, deps)).failedMessageIds,
    ).toEqual([]);

    // Act
    const afterClose = await stockAt(deps, '2026-11-21T00:00:20Z');
    const afterCount = await stockAt(deps, '2026-11-21T09:00:20Z');

    // Assess
    expect(afterClose).toEqual([
      { product: 'p1', on_hand: 6, source: 'batch_close', at: '2026-11-21T00:00:00.000Z' },
    ]);
    expect(afterCount).toEqual([
      { product: 'p1', on_hand: 6, source: 'batch_close', at: '2026-11-21T00:00:00.000Z' },
      { product: 'p2', on_hand: 46, source: 'stock_counts', at: '2026-11-21T09:00:00.000Z' },
    ]);
  });
});
