import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lake } from '../../functions/pipeline/lake-layout.ts';
import { getJson } from '../../functions/pipeline/object-store.ts';
import {
  isCounted,
  type RealtimeManifest,
  realtimeDaySnapshot,
  snapshotFiles,
} from '../../functions/pipeline/realtime-view.ts';
import { compactRealtime, type StreamManifest } from '../../functions/stream/compaction.ts';
import { consumeMicroBatch } from '../../functions/stream/micro-batch.ts';
import { order } from '../support/orders.ts';
import { messages, realtimeMinutes, realtimeOrders, streamDeps } from './stream-helpers.ts';

const DAY = '2026-11-20';
/** Every day is "large" and the fold is not due for an hour: each run between folds only rolls up. */
const ROLL_UP = { rollUpAboveEvents: 0, foldEveryMs: 60 * 60_000 };

function orders(prefix: string, n: number, hour: string) {
  return Array.from({ length: n }, (_, i) =>
    order({
      order_id: `${prefix}${i}`,
      event_time: `${DAY}T${hour}:${String(i % 60).padStart(2, '0')}:10Z`,
      product_id: `p${i % 3}`,
      quantity: 1 + (i % 4),
      unit_price: '2.50',
    }),
  );
}

async function manifestOf(deps: ReturnType<typeof streamDeps>['deps']) {
  return (await getJson<StreamManifest>(deps.store, lake.realtimeManifest(DAY, 'sales_minute')))?.value;
}

describe('compaction in tiers: roll-ups between folds', () => {
  it('a roll-up reads the same sums from one file per hour, the fold makes the day exact and drops it', async () => {
    // Prepare: the day folded once, then four micro-batches over two hours, one carrying an order again (a
    // redelivery SQS grouped differently, which only the fold removes).
    const { deps, clock } = streamDeps();
    await consumeMicroBatch({ messages: messages(orders('a', 50, '09'), 'a') }, deps);
    const first = await compactRealtime(deps, { now: clock.now, days: [DAY], ...ROLL_UP });
    expect(first.days).toMatchObject([{ status: 'compacted', orders: 50 }]);
    const again = orders('b', 40, '10');
    await consumeMicroBatch({ messages: messages(again.slice(0, 20), 'b') }, deps);
    await consumeMicroBatch({ messages: messages(again.slice(20), 'c') }, deps);
    await consumeMicroBatch({ messages: messages([...orders('d', 30, '09'), again[0]], 'd') }, deps);
    const before = await realtimeMinutes(deps.store, DAY);
    expect(await realtimeOrders(deps.store, DAY)).toBe(50 + 40 + 30 + 1); // the redelivery counted twice

    // Act: the cheap tier
    const rolled = await compactRealtime(deps, { now: clock.now, days: [DAY], ...ROLL_UP });

    // Assess: same answer, one roll-up file per touched hour instead of the partials, the fold untouched
    expect(rolled.days).toMatchObject([{ status: 'rolled-up', batches: 4, orders: 50 }]);
    expect(await realtimeMinutes(deps.store, DAY)).toEqual(before);
    const snapshot = await realtimeDaySnapshot(deps.store, DAY);
    expect([...snapshot.partials].map(([hh, files]) => [hh, files.length])).toEqual([
      ['09', 1],
      ['10', 1],
    ]);
    expect(
      snapshotFiles(snapshot).every((f) => f.key.includes('/part-r.') || f.key.includes('/compacted-')),
    ).toBe(true);
    const manifest = await manifestOf(deps);
    expect(manifest?.rollups?.['10']?.batches).toHaveLength(3);
    expect(manifest?.covered['10']).toBeUndefined();

    // Act: more data, another roll-up replaces the hour's one (the old file retired, not deleted yet)
    await consumeMicroBatch({ messages: messages(orders('e', 10, '10'), 'e') }, deps);
    const before2 = await realtimeMinutes(deps.store, DAY);
    const rolled2 = await compactRealtime(deps, { now: clock.now, days: [DAY], ...ROLL_UP });
    expect(rolled2.days).toMatchObject([{ status: 'rolled-up', batches: 1 }]);
    expect(await realtimeMinutes(deps.store, DAY)).toEqual(before2);
    const replaced = lake.realtimePartial(DAY, '10', `r.${manifest?.rollups?.['10']?.id}`, 'sales_minute');
    expect((await manifestOf(deps))?.retired?.[replaced]).toBeDefined();
    clock.now = new Date(clock.now.getTime() + 6 * 60_000);
    const graceOver = await compactRealtime(deps, { now: clock.now, days: [DAY], ...ROLL_UP });
    expect(graceOver.days).toEqual([]);
    // The replaced roll-up, the first batch's partial the first fold covered, and the 5 partials rolled up (no reader
    // counts them any more): listings stay short between folds.
    expect(graceOver.deleted.filter((k) => k.includes('/part-r.'))).toEqual([replaced]);
    expect(graceOver.deleted).toHaveLength(7);
    expect(await realtimeMinutes(deps.store, DAY)).toEqual(before2);

    // Act: the fold is due
    clock.now = new Date(clock.now.getTime() + 61 * 60_000);
    const folded = await compactRealtime(deps, { now: clock.now, days: [DAY], ...ROLL_UP });

    // Assess: exact (the redelivery counted once), roll-ups dropped; after the grace period their files go too
    expect(folded.days).toMatchObject([{ status: 'compacted', orders: 130, duplicates: 1 }]);
    expect(await realtimeOrders(deps.store, DAY)).toBe(130);
    expect((await manifestOf(deps))?.rollups).toBeUndefined();
    clock.now = new Date(clock.now.getTime() + 6 * 60_000);
    const cleaned = await compactRealtime(deps, { now: clock.now, days: [DAY], ...ROLL_UP });
    // The two roll-ups the fold dropped (their partials were deleted already), and the first fold's files.
    const parts = cleaned.deleted.filter((k) => k.includes('/part-'));
    expect(parts).toHaveLength(2);
    expect(parts.every((k) => k.includes('/part-r.'))).toBe(true);
    expect(await realtimeOrders(deps.store, DAY)).toBe(130);
  });

  it('a roll-up file no manifest names (a run that lost the race) is never counted', async () => {
    const { dir, deps, clock } = streamDeps();
    await consumeMicroBatch({ messages: messages(orders('a', 20, '09'), 'a') }, deps);
    await compactRealtime(deps, { now: clock.now, days: [DAY], ...ROLL_UP });
    const batch = await consumeMicroBatch({ messages: messages(orders('b', 20, '09'), 'b') }, deps);
    expect(await realtimeOrders(deps.store, DAY)).toBe(40);
    const partial = lake.realtimePartial(DAY, '09', batch.batchId, 'sales_minute');
    const orphan = lake.realtimePartial(DAY, '09', 'r.orphan', 'sales_minute');
    await mkdir(path.dirname(path.join(dir, orphan)), { recursive: true });
    await copyFile(path.join(dir, partial), path.join(dir, orphan));
    expect(await realtimeOrders(deps.store, DAY)).toBe(40);
    await compactRealtime(deps, { now: clock.now, days: [DAY], ...ROLL_UP });
    expect(await realtimeOrders(deps.store, DAY)).toBe(40);
  });

  it('a small day is folded at every run, as before the tiers', async () => {
    const { deps, clock } = streamDeps();
    await consumeMicroBatch({ messages: messages(orders('a', 20, '09'), 'a') }, deps);
    await compactRealtime(deps, { now: clock.now, days: [DAY] });
    await consumeMicroBatch({ messages: messages(orders('b', 20, '09'), 'b') }, deps);
    const result = await compactRealtime(deps, { now: clock.now, days: [DAY] });
    expect(result.days).toMatchObject([{ status: 'compacted', orders: 40 }]);
  });

  it('a roll-up stands in for its batches only in the models it has a file of', () => {
    const manifest: RealtimeManifest = {
      compacted: null,
      covered: {},
      compactedAt: '2026-11-20T10:00:00Z',
      orders: 0,
      duplicates: 0,
      rollups: { '10': { id: 'x1', batches: ['b1'], models: ['sales_minute'] } },
    };
    expect(isCounted(manifest, '10', 'b1', 'sales_minute')).toBe(false);
    expect(isCounted(manifest, '10', 'r.x1', 'sales_minute')).toBe(true);
    // A model declared after the roll-up was written keeps counting the batch's own partial.
    expect(isCounted(manifest, '10', 'b1', 'refunds_minute')).toBe(true);
    expect(isCounted(manifest, '10', 'r.x1', 'refunds_minute')).toBe(false);
    expect(isCounted(manifest, '10', 'r.other', 'sales_minute')).toBe(false);
  });
});
