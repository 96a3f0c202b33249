import { describe, expect, it } from 'vitest';
import { lake } from '../../functions/pipeline/lake-layout.ts';
import { getJson } from '../../functions/pipeline/object-store.ts';
import { compactDay, compactRealtime } from '../../functions/stream/compaction.ts';
import { consumeMicroBatch } from '../../functions/stream/micro-batch.ts';
import { streamStats } from '../../functions/stream/stream-stats.ts';
import { readWatermark } from '../../functions/stream/watermark.ts';
import { FaultyStore } from '../support/faulty-store.ts';
import { order } from '../support/orders.ts';
import { messages, realtimeMinutes, realtimeOrders, streamDeps } from './stream-helpers.ts';

const DAY = '2026-11-20';

describe('speed layer consumer', () => {
  it('writes an archive and a minute partial per touched hour, archives first', async () => {
    // Prepare
    const { deps } = streamDeps();
    const faulty = new FaultyStore(deps.store);
    const written: string[] = [];
    faulty.afterWrite = async (key) => {
      written.push(key);
    };
    const events = [
      order({ order_id: 'o1', event_time: '2026-11-20T10:00:30Z', quantity: 2, unit_price: '1.25' }),
      order({ order_id: 'o2', event_time: '2026-11-20T11:59:59Z' }),
    ];
    // Act
    const result = await consumeMicroBatch({ messages: messages(events) }, { ...deps, store: faulty });
    // Assess
    expect(result).toMatchObject({ received: 2, valid: 2, quarantined: 0, orders: 2, failedMessageIds: [] });
    expect(Object.keys(result.hours)).toEqual([`${DAY}/10`, `${DAY}/11`]);
    const archives = written.filter((k) => k.startsWith('stream/'));
    const partials = written.filter((k) => k.includes('/part-'));
    expect([...archives].sort()).toEqual([
      lake.streamArchive(DAY, '10', result.batchId),
      lake.streamArchive(DAY, '11', result.batchId),
    ]);
    expect(Math.max(...archives.map((k) => written.indexOf(k)))).toBeLessThan(
      Math.min(...partials.map((k) => written.indexOf(k))),
    );
    expect(await realtimeMinutes(deps.store, DAY)).toEqual([
      {
        window_start: '2026-11-20 10:00:00',
        product_id: 'p1',
        currency: 'USD',
        orders: '1',
        units: '2',
        revenue: '2.50',
      },
      {
        window_start: '2026-11-20 11:59:00',
        product_id: 'p1',
        currency: 'USD',
        orders: '1',
        units: '1',
        revenue: '10.00',
      },
    ]);
  });

  it('redelivered batch does not double count', async () => {
    const { deps } = streamDeps();
    const batch = messages([order({ order_id: 'o1' }), order({ order_id: 'o2' })]);
    const first = await consumeMicroBatch({ messages: batch }, deps);
    const again = await consumeMicroBatch({ messages: [...batch].reverse() }, deps);
    expect(again.batchId).toBe(first.batchId);
    expect(await realtimeOrders(deps.store, DAY)).toBe(2);
  });

  it('producer retry (same order_id, new event_id) does not double count after compaction', async () => {
    const { deps, clock } = streamDeps();
    const original = order({ order_id: 'o1', event_id: 'e1' });
    await consumeMicroBatch({ messages: messages([original, order({ order_id: 'o2' })], 'a') }, deps);
    await consumeMicroBatch({ messages: messages([{ ...original, event_id: 'e1-retry' }], 'b') }, deps);
    expect(await realtimeOrders(deps.store, DAY)).toBe(3); // partials alone over-count the retry
    const result = await compactRealtime(deps, { now: clock.now, days: [DAY] });
    expect(result.days).toMatchObject([{ day: DAY, status: 'compacted', orders: 2, duplicates: 1 }]);
    expect(await realtimeOrders(deps.store, DAY)).toBe(2);
    const stats = await streamStats(deps.store, DAY);
    expect(stats['10']).toMatchObject({
      valid: 3,
      partialOrders: 3,
      compactedOrders: 2,
      duplicatesRemovedByCompaction: 1,
      batches: 2,
      uncompactedBatches: 0,
    });
  });

  it('counts duplicates within a batch once and quarantines poison records, acknowledged', async () => {
    const { deps } = streamDeps();
    const result = await consumeMicroBatch(
      {
        messages: [
          ...messages([order({ order_id: 'o1' }), order({ order_id: 'o1' }), '{"order_id": 1'], 'x'),
          {
            messageId: 'poison',
            body: JSON.stringify(order({ quantity: 0 })),
            sentAt: new Date('2026-11-20T10:00:31Z'),
          },
        ],
      },
      deps,
    );
    expect(result).toMatchObject({ received: 4, valid: 2, quarantined: 2, duplicates: 1, orders: 1 });
    expect(result.failedMessageIds).toEqual([]);
    const body = (await deps.store.get(result.quarantineKey!))!.body.toString('utf8');
    const lines = body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.message_id, l.reasons])).toEqual([
      ['poison', ['quantity: must be greater than 0']],
      ['x-2', ['record: not valid JSON']],
    ]);
    expect(lines[0]).toMatchObject({
      batch_id: result.batchId,
      sent_at: '2026-11-20T10:00:31.000Z',
      raw: expect.any(String),
    });
  });

  it('counts late events in their own minute and as late, and keeps the watermark monotonic', async () => {
    const { deps } = streamDeps();
    await consumeMicroBatch(
      { messages: messages([order({ order_id: 'o1', event_time: '2026-11-20T12:00:00Z' })], 'a') },
      deps,
    );
    const late = await consumeMicroBatch(
      {
        messages: messages(
          [
            order({ order_id: 'o2', event_time: '2026-11-20T10:59:59Z' }),
            order({ order_id: 'o3', event_time: '2026-11-20T11:00:00Z' }),
          ],
          'b',
        ),
      },
      deps,
    );
    expect(late.late).toBe(1);
    expect(late.hours[`${DAY}/10`]).toMatchObject({ late: 1, orders: 1 });
    expect((await readWatermark(deps.store)).value).toMatchObject({
      maxEventTime: '2026-11-20T12:00:00.000Z',
      watermark: '2026-11-20T11:00:00.000Z',
    });
    expect((await realtimeMinutes(deps.store, DAY)).map((r) => r.window_start)).toEqual([
      '2026-11-20 10:59:00',
      '2026-11-20 11:00:00',
      '2026-11-20 12:00:00',
    ]);
    expect((await streamStats(deps.store, DAY))['10']?.late).toBe(1);
  });

  it('watermark keeps the maximum under concurrent consumers', async () => {
    const { deps } = streamDeps();
    const hours = ['10', '13', '11', '12', '09', '13'];
    await Promise.all(
      hours.map((hh, i) =>
        consumeMicroBatch(
          {
            messages: messages(
              [order({ order_id: `o${i}`, event_time: `2026-11-20T${hh}:00:00Z` })],
              `c${i}`,
            ),
          },
          deps,
        ),
      ),
    );
    expect((await readWatermark(deps.store)).value.maxEventTime).toBe('2026-11-20T13:00:00.000Z');
  });

  it('S3 write failure reports every valid record as failed; quarantined stay acknowledged', async () => {
    const { deps } = streamDeps();
    const faulty = new FaultyStore(deps.store);
    faulty.failWrites = (key) => key.includes('/part-');
    const batch = messages([order({ order_id: 'o1' }), 'not json', order({ order_id: 'o2' })]);
    const result = await consumeMicroBatch({ messages: batch }, { ...deps, store: faulty });
    expect(result.failedMessageIds.sort()).toEqual(['m-0', 'm-2']);
    expect(result.error).toMatch(/injected/);
    faulty.failWrites = () => false;
    const retried = await consumeMicroBatch({ messages: [batch[0]!, batch[2]!] }, { ...deps, store: faulty });
    expect(retried.failedMessageIds).toEqual([]);
    expect(await realtimeOrders(deps.store, DAY)).toBe(2);
  });

  it('a failed quarantine write fails the whole batch (nothing is acknowledged unrecorded)', async () => {
    const { deps } = streamDeps();
    const faulty = new FaultyStore(deps.store);
    faulty.failWrites = (key) => key.startsWith('quarantine/');
    const result = await consumeMicroBatch(
      { messages: messages([order({ order_id: 'o1' }), 'not json']) },
      { ...deps, store: faulty },
    );
    expect(result.failedMessageIds.sort()).toEqual(['m-0', 'm-1']);
  });
});

describe('realtime compaction', () => {
  it('a reader counts every order once at each step of a compaction', async () => {
    // Prepare: three batches in one hour, no duplicates between them.
    const { deps, clock } = streamDeps();
    for (let b = 0; b < 3; b++) {
      const events = Array.from({ length: 4 }, (_, i) =>
        order({ order_id: `o${b}-${i}`, event_time: `2026-11-20T10:0${i}:00Z`, product_id: `p${i % 2}` }),
      );
      await consumeMicroBatch({ messages: messages(events, `b${b}`) }, deps);
    }
    const expected = await realtimeMinutes(deps.store, DAY);
    const observed: string[] = [];
    const faulty = new FaultyStore(deps.store);
    faulty.afterWrite = async (key) => {
      // Act: read between every write and delete compaction makes.
      expect(await realtimeMinutes(deps.store, DAY)).toEqual(expected);
      observed.push(key);
    };
    await compactRealtime({ ...deps, store: faulty }, { now: clock.now, days: [DAY] });
    // A consumer writing during the grace period, then the deletion of covered partials.
    await consumeMicroBatch(
      { messages: messages([order({ order_id: 'late-1', event_time: '2026-11-20T10:09:00Z' })], 'd') },
      { ...deps, store: faulty },
    );
    const withLate = await realtimeOrders(deps.store, DAY);
    faulty.afterWrite = async (key) => {
      expect(await realtimeOrders(deps.store, DAY)).toBe(withLate);
      observed.push(key);
    };
    const later = new Date(clock.now.getTime() + 6 * 60_000);
    const second = await compactRealtime(
      { ...deps, store: faulty, clock: () => later },
      { now: later, days: [DAY] },
    );
    // Assess
    expect(observed.some((k) => k.endsWith('_manifest.json'))).toBe(true);
    expect(second.deleted.length).toBe(3); // the first three partials, covered for > 5 min
    expect(await realtimeOrders(deps.store, DAY)).toBe(13);
    const manifest = await getJson<{ covered: Record<string, string[]> }>(
      deps.store,
      lake.realtimeManifest(DAY),
    );
    expect(manifest?.value.covered['10']).toHaveLength(4);
  });

  it('keeps covered partials during the grace period', async () => {
    const { deps, clock } = streamDeps();
    await consumeMicroBatch({ messages: messages([order({ order_id: 'o1' })]) }, deps);
    const result = await compactRealtime(deps, { now: clock.now, days: [DAY] });
    expect(result.deleted).toEqual([]);
    expect((await deps.store.list(lake.realtimePrefix(DAY))).map((o) => o.key.split('/').pop())).toHaveLength(
      3,
    ); // the partial, the day's compacted file and its manifest
  });

  it('deletes only compacted files a manifest retired, after the grace period, never one a concurrent run may commit', async () => {
    // Prepare: hour 10 compacted once (file c1); another compaction's file written but not yet committed.
    const { deps, clock } = streamDeps();
    const at = (minutes: number) => new Date(Date.parse('2026-11-21T10:10:00Z') + minutes * 60_000);
    const manifestKey = lake.realtimeManifest(DAY);
    const compactedNow = async () =>
      (await getJson<{ compacted: string }>(deps.store, manifestKey))?.value.compacted;
    const exists = async (key: string) => (await deps.store.head(key)) !== undefined;
    await consumeMicroBatch({ messages: messages([order({ order_id: 'o1' })], 'a') }, deps);
    await compactRealtime(deps, { now: clock.now, days: [DAY] });
    const c1 = (await compactedNow()) ?? '';
    const inFlight = lake.realtimeCompacted(DAY, 'in-flight');
    await deps.store.put(inFlight, 'written by a compaction that has not committed its manifest yet');

    // Act: a quiet run long after the grace period; then a new batch recompacts (c1 retired); then grace passes.
    clock.now = at(30);
    const quiet = await compactRealtime(deps, { now: clock.now, days: [DAY] });
    await consumeMicroBatch({ messages: messages([order({ order_id: 'o2' })], 'b') }, deps);
    clock.now = at(31);
    await compactRealtime(deps, { now: clock.now, days: [DAY] });
    const c1DuringGrace = await exists(c1);
    clock.now = at(37);
    const afterGrace = await compactRealtime(deps, { now: clock.now, days: [DAY] });

    // Assess
    expect(quiet.deleted.filter((key) => key.includes('/compacted-'))).toEqual([]);
    expect(c1DuringGrace).toBe(true);
    expect(afterGrace.deleted).toContain(c1);
    expect(await exists(c1)).toBe(false);
    expect(await exists(inFlight)).toBe(true);
    expect(await exists((await compactedNow()) ?? '')).toBe(true);
    expect(await realtimeOrders(deps.store, DAY)).toBe(2);
  });

  it('recomputes a day on demand (reconciliation repair) idempotently', async () => {
    const { deps } = streamDeps();
    await consumeMicroBatch(
      { messages: messages([order({ order_id: 'o1' }), order({ order_id: 'o2' })]) },
      deps,
    );
    const first = await compactDay(deps, DAY, { full: true });
    const second = await compactDay(deps, DAY, { full: true });
    expect(second).toEqual({ ...first });
    expect(first).toMatchObject({ status: 'compacted', orders: 2, batches: 1, read: 1 });
    expect(await compactDay(deps, '2026-11-03', { full: true })).toMatchObject({ status: 'empty' });
    expect(await realtimeOrders(deps.store, DAY)).toBe(2);
  });
});
