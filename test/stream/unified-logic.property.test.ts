import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compactRealtime } from '../../functions/stream/compaction.ts';
import { consumeMicroBatch, type StreamMessage } from '../../functions/stream/micro-batch.ts';
import {
  batchLayerMinutes,
  type MinuteRow,
  microBatches,
  realtimeMinutes,
  streamDeps,
} from './stream-helpers.ts';

const DAYS = ['2026-11-20', '2026-11-21'];

const eventArb = fc.record({
  day: fc.constantFrom(...DAYS),
  hour: fc.constantFrom('09', '10', '23'),
  minute: fc.integer({ min: 0, max: 59 }),
  second: fc.integer({ min: 0, max: 59 }),
  product: fc.constantFrom('p0', 'p1', 'p2'),
  quantity: fc.integer({ min: 1, max: 5 }),
  cents: fc.integer({ min: 0, max: 99_999 }),
});

/** Deliveries of one event: the original, identical redeliveries (same message) and producer retries. */
const scenarioArb = fc
  .array(
    fc.record({
      event: eventArb,
      redeliveries: fc.integer({ min: 0, max: 1 }),
      // A producer retry is a new event (new event_id) of the same order, possibly stamped in another hour or on
      // the other day: within a day the earliest copy wins; on two days each day counts it once.
      retries: fc.array(
        fc.record({ shift: fc.constantFrom('same', 'hour', 'day'), hour: fc.constantFrom('09', '10', '23') }),
        {
          maxLength: 2,
        },
      ),
    }),
    { minLength: 1, maxLength: 25 },
  )
  .chain((items) => {
    const messages: StreamMessage[] = [];
    const bodies: string[] = [];
    items.forEach(({ event, redeliveries, retries }, i) => {
      const pad = (n: number) => String(n).padStart(2, '0');
      const fields = {
        order_id: `o${i}`,
        user_id: `u${i % 3}`,
        product_id: event.product,
        quantity: event.quantity,
        unit_price: (event.cents / 100).toFixed(2),
        currency: 'USD',
      };
      const copies = [{ day: event.day, hour: event.hour }];
      for (const retry of retries) {
        const otherDay = DAYS.find((d) => d !== event.day) ?? event.day;
        copies.push({
          day: retry.shift === 'day' ? otherDay : event.day,
          hour: retry.shift === 'hour' ? retry.hour : event.hour,
        });
      }
      for (const [r, copy] of copies.entries()) {
        const eventTime = `${copy.day}T${copy.hour}:${pad(event.minute)}:${pad(event.second)}Z`;
        const body = JSON.stringify({ event_id: `e${i}-${r}`, ...fields, event_time: eventTime });
        bodies.push(body);
        for (let d = 0; d <= redeliveries; d++) messages.push({ messageId: `m${i}-${r}`, body });
      }
    });
    return fc.record({
      bodies: fc.constant(bodies),
      deliveries: fc.shuffledSubarray(messages, { minLength: messages.length, maxLength: messages.length }),
      batchSize: fc.integer({ min: 3, max: 12 }),
      replayedBatches: fc.array(fc.nat(), { maxLength: 2 }),
      compactMidway: fc.boolean(),
    });
  });

describe('unified logic (DESIGN invariant 1)', () => {
  it('consumer + compaction equals the batch models over the same events, whatever the split, order, duplicates and copies across hours and days', async () => {
    await fc.assert(
      fc.asyncProperty(
        scenarioArb,
        async ({ bodies, deliveries, batchSize, replayedBatches, compactMidway }) => {
          // Prepare
          const { deps, clock } = streamDeps(new Date('2026-11-22T00:00:00Z'));
          const batches = microBatches(deliveries, batchSize);
          const expected = await batchLayerMinutes(bodies);
          // Act
          for (const [i, batch] of batches.entries()) {
            const result = await consumeMicroBatch({ messages: batch }, deps);
            expect(result.failedMessageIds).toEqual([]);
            if (compactMidway && i === Math.floor(batches.length / 2)) {
              await compactRealtime(deps, { now: clock.now, days: DAYS });
            }
          }
          for (const n of replayedBatches) {
            await consumeMicroBatch({ messages: batches[n % batches.length]! }, deps);
          }
          await compactRealtime(deps, { now: clock.now, days: DAYS });
          // Assess
          const actual: MinuteRow[] = [];
          for (const day of DAYS) actual.push(...(await realtimeMinutes(deps.store, day)));
          expect(actual).toEqual(expected);
        },
      ),
      { numRuns: 40 },
    );
    // 40 runs take ~20 s on a quiet 2-core machine; leave room for a loaded one.
  }, 180_000);
});
