import { describe, expect, it } from 'vitest';
import { queryBalance, servedBalance } from '../../functions/serving/balances.ts';
import { queryDiscrepancies } from '../../functions/serving/discrepancies.ts';
import { consumeMicroBatch } from '../../functions/stream/micro-batch.ts';
import { messages, streamDeps } from '../stream/stream-helpers.ts';
import { publishExport } from './lake-fixtures.ts';

/**
 * The count day's batch (stock_counts) compares each count with the book level at its instant — the previous count
 * plus the movements since, exact to the second (a sale 20 s before the count in the count's own minute is in the
 * book, one 15 s after it is not) — records counted − book, and from then on the count opens the level (the reset).
 */

const stock = () => servedBalance('stock');
const count = (product: string, on_hand: number, counted_at: string) => ({
  product_id: product,
  warehouse_id: 'w1',
  on_hand,
  counted_at,
});
const move = (id: string, product: string, type: string, quantity: number, event_time: string) => ({
  movement_id: id,
  product_id: product,
  warehouse_id: 'w1',
  movement_type: type,
  quantity,
  event_time,
});

const publish = publishExport;

describe('count discrepancies (issue 16)', () => {
  it('records counted − book per count, the book exact to the second, and the count opens the level from then on', async () => {
    // Arrange: p1 counted 10 on the 20th; sold 3 (batch) and 1 on the 21st 20 s before its next count (stream),
    // then 2 after it. p2 never counted before: received 4, counted 4.
    const { deps } = streamDeps(new Date('2026-11-21T06:00:00Z'));
    await publish(deps, 'stock_counts', '2026-11-20', [count('p1', 10, '2026-11-20T04:00:00Z')]);
    await publish(deps, 'inventory', '2026-11-20', [move('m1', 'p1', 'sale', 3, '2026-11-20T10:00:00Z')]);
    const streamed = [
      move('m2', 'p1', 'sale', 1, '2026-11-21T04:00:10Z'),
      move('m3', 'p1', 'sale', 2, '2026-11-21T04:00:45Z'),
      move('m4', 'p2', 'receipt', 4, '2026-11-21T03:00:00Z'),
    ];
    const consumed = await consumeMicroBatch({ messages: messages(streamed), dataset: 'inventory' }, deps);
    expect(consumed.failedMessageIds).toEqual([]);

    // Act: the count day, with p1 counted 5 (one unit short of the books' 6) at 04:00:30.
    const report = await publish(deps, 'stock_counts', '2026-11-21', [
      count('p1', 5, '2026-11-21T04:00:30Z'),
      count('p2', 4, '2026-11-21T04:10:00Z'),
    ]);
    const recorded = await queryDiscrepancies(stock(), { limit: 10 }, deps);
    const level = await queryBalance(
      stock(),
      { at: new Date('2026-11-21T05:00:00Z'), filters: { product_id: 'p1' } },
      deps,
    );

    // Assess
    expect(report.discrepancies).toEqual({ stock: { counts: 2, mismatched: 1, net: -1 } });
    expect(recorded).toMatchObject({ balance: 'stock', day: '2026-11-21', counts: 2, mismatched: 1 });
    expect(recorded.rows).toEqual([
      {
        product_id: 'p1',
        warehouse_id: 'w1',
        counted_at: '2026-11-21T04:00:30.000Z',
        counted: 5,
        book: 6,
        discrepancy: -1,
        previous_opening_at: '2026-11-20T04:00:00.000Z',
      },
      {
        product_id: 'p2',
        warehouse_id: 'w1',
        counted_at: '2026-11-21T04:10:00.000Z',
        counted: 4,
        book: 4,
        discrepancy: 0,
        previous_opening_at: null,
      },
    ]);
    // The reset: 5 counted, minus the 2 sold after the count.
    expect(level.levels).toEqual([
      expect.objectContaining({
        product_id: 'p1',
        on_hand: 3,
        opening: { source: 'stock_counts', at: '2026-11-21T04:00:30.000Z', on_hand: 5 },
      }),
    ]);
    expect(level.levels[0]?.movements).toMatchObject({ net_change: -2 });
    await expect(queryDiscrepancies(stock(), { day: '2026-11-19', limit: 10 }, deps)).rejects.toThrow(
      'no stock_counts day 2026-11-19 has been compared yet (recorded: 2026-11-20, 2026-11-21)',
    );
  });

  it('a backfill publishing the count days in any order ends with each day compared with the count before it', async () => {
    // Arrange: p1 counted 10 on the 20th, sold 3 that day, counted 6 on the 21st (one unit short of 7).
    const { deps } = streamDeps(new Date('2026-11-22T06:00:00Z'));
    await publish(deps, 'inventory', '2026-11-20', [move('m1', 'p1', 'sale', 3, '2026-11-20T10:00:00Z')]);

    // Act: the 21st first (no earlier count yet: its book is the movements alone), then the 20th.
    await publish(deps, 'stock_counts', '2026-11-21', [count('p1', 6, '2026-11-21T04:00:00Z')]);
    const before = await queryDiscrepancies(stock(), { day: '2026-11-21', limit: 10 }, deps);
    await publish(deps, 'stock_counts', '2026-11-20', [count('p1', 10, '2026-11-20T04:00:00Z')]);
    const after = await queryDiscrepancies(stock(), { day: '2026-11-21', limit: 10 }, deps);

    // Assess
    expect(before.rows[0]).toMatchObject({ book: -3, discrepancy: 9, previous_opening_at: null });
    expect(after.rows[0]).toMatchObject({
      book: 7,
      discrepancy: -1,
      previous_opening_at: '2026-11-20T04:00:00.000Z',
    });
  });
});
