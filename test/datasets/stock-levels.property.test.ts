import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import type { CoreDeps } from '../../functions/pipeline/ports.ts';
import { queryBalance, servedBalance } from '../../functions/serving/balances.ts';
import { BatchCache } from '../../functions/serving/batch-cache.ts';
import { compactRealtime } from '../../functions/stream/compaction.ts';
import { consumeMicroBatch } from '../../functions/stream/micro-batch.ts';
import { microBatches, streamDeps } from '../stream/stream-helpers.ts';
import { type Scenario, scenarioArb } from './batch-stream.ts';

/**
 * The stock level (datasets/inventory `balances.stock`) at any instant equals an independent computation here: the
 * latest count at or before the instant (stock_counts, published by batch) plus the signed quantity of every
 * movement since, each movement counted once per day (earliest copy), exact to the second — across a count that
 * resets the level, with redeliveries, producer retries, shuffled (late) arrival, and the movements of the first day
 * from batch and of the second from the speed layer.
 */

const DAYS = ['2026-11-20', '2026-11-21'];
const PRODUCTS = ['p0', 'p1'];
const WAREHOUSES = ['w-north', 'w-south'];

// Few minutes and seconds, so counts, movements and the instants asked for often share a minute or a second.
const MINUTE = fc.constantFrom(0, 1, 59);
const SECOND = fc.constantFrom(0, 20, 40);

const eventArb = fc.record({
  day: fc.constantFrom(...DAYS),
  hour: fc.constantFrom('00', '09', '10', '23'),
  minute: MINUTE,
  second: SECOND,
  product: fc.constantFrom(...PRODUCTS),
  warehouse: fc.constantFrom(...WAREHOUSES),
  type: fc.constantFrom('receipt', 'sale', 'return', 'adjustment'),
  units: fc.integer({ min: 1, max: 50 }),
  adjustment: fc.integer({ min: -50, max: 50 }),
});

type Movement = {
  movement_id: string;
  product_id: string;
  warehouse_id: string;
  movement_type: string;
  quantity: number;
  event_time: string;
};

const pad = (n: number) => String(n).padStart(2, '0');

const movementsArb = scenarioArb(
  eventArb,
  (event, i, { day, hour }): Movement => ({
    movement_id: `mv${i}`,
    product_id: event.product,
    warehouse_id: event.warehouse,
    movement_type: event.type,
    quantity: event.type === 'adjustment' ? event.adjustment : event.units,
    event_time: `${day}T${hour}:${pad(event.minute)}:${pad(event.second)}Z`,
  }),
  { days: DAYS, maxLength: 25 },
);

type Count = { product_id: string; warehouse_id: string; on_hand: number; counted_at: string };

/** Counts on either day, in hours the movements use (so some fall inside a movement's minute). */
const countsArb = fc.uniqueArray(
  fc.record({
    day: fc.constantFrom(...DAYS),
    hour: fc.constantFrom('09', '10'),
    minute: MINUTE,
    second: SECOND,
    product: fc.constantFrom(...PRODUCTS),
    warehouse: fc.constantFrom(...WAREHOUSES),
    on_hand: fc.integer({ min: 0, max: 500 }),
  }),
  { maxLength: 5, selector: (c) => `${c.day}${c.product}${c.warehouse}` },
);

/** Instants to ask for (plus exactly a count's and a movement's instant). */
const instantsArb = fc.array(
  fc.record({
    day: fc.constantFrom(...DAYS),
    hour: fc.constantFrom('00', '09', '10', '23'),
    minute: MINUTE,
    second: SECOND,
  }),
  { minLength: 1, maxLength: 3 },
);

/** The level of every key at `at`, computed from the copies sent and the counts, without the engine. */
function expectedLevels(bodies: readonly string[], counts: readonly Count[], at: string) {
  const kept = new Map<string, Movement>();
  for (const m of bodies.map((b) => JSON.parse(b) as Movement)) {
    const id = `${m.event_time.slice(0, 10)}|${m.movement_id}`;
    const earlier = kept.get(id);
    if (!earlier || m.event_time < earlier.event_time) kept.set(id, m);
  }
  const levels = new Map<string, number>();
  const keys = new Set([
    ...[...kept.values()].filter((m) => m.event_time < at).map((m) => `${m.product_id}|${m.warehouse_id}`),
    ...counts.filter((c) => c.counted_at <= at).map((c) => `${c.product_id}|${c.warehouse_id}`),
  ]);
  for (const key of keys) {
    const [product, warehouse] = key.split('|');
    const opening = counts
      .filter((c) => c.product_id === product && c.warehouse_id === warehouse && c.counted_at <= at)
      .sort((a, b) => (a.counted_at < b.counted_at ? 1 : -1))[0];
    let level = opening?.on_hand ?? 0;
    for (const m of kept.values()) {
      if (m.product_id !== product || m.warehouse_id !== warehouse) continue;
      if (m.event_time >= at || (opening && m.event_time < opening.counted_at)) continue;
      level += m.movement_type === 'sale' ? -m.quantity : m.quantity;
    }
    levels.set(key, level);
  }
  return Object.fromEntries([...levels].sort());
}

async function servedLevels(deps: CoreDeps, at: string) {
  const body = await queryBalance(
    servedBalance('stock'),
    { at: new Date(at), filters: {} },
    { ...deps, cache: new BatchCache() },
  );
  return Object.fromEntries(
    body.levels
      .map((l) => [`${l['product_id']}|${l['warehouse_id']}`, l['on_hand'] as number] as const)
      .sort(),
  );
}

/** Day 1's movements as its export through batch; day 2's deliveries through the speed layer, then compacted. */
async function load(scenario: Scenario, counts: readonly Count[]) {
  const { deps, clock } = streamDeps(new Date('2026-11-22T01:00:00Z'));
  for (const day of DAYS) {
    const dayCounts = counts.filter((c) => c.counted_at.startsWith(day));
    if (dayCounts.length > 0) {
      await deps.store.put(
        `landing/stock_counts/dt=${day}/counts.jsonl`,
        `${dayCounts.map((c) => JSON.stringify(c)).join('\n')}\n`,
      );
      const report = await runBatchDay({ day, dataset: 'stock_counts', thresholds: { force: true } }, deps);
      expect(report.status, report.error).toBe('published');
    }
  }
  const [first] = DAYS as [string];
  const firstDay = scenario.bodies.filter((b) => (JSON.parse(b) as Movement).event_time.startsWith(first));
  if (firstDay.length > 0) {
    await deps.store.put(`landing/inventory/dt=${first}/movements.jsonl`, `${firstDay.join('\n')}\n`);
    const report = await runBatchDay({ day: first, dataset: 'inventory', thresholds: { force: true } }, deps);
    expect(report.status, report.error).toBe('published');
  }
  const streamed = scenario.deliveries.filter(
    (d) => !(JSON.parse(d.body) as Movement).event_time.startsWith(first),
  );
  for (const messages of microBatches(streamed, scenario.batchSize)) {
    const result = await consumeMicroBatch({ messages, dataset: 'inventory' }, deps);
    expect(result.failedMessageIds).toEqual([]);
  }
  await compactRealtime(deps, { now: clock.now, days: [...DAYS], datasets: ['inventory'] });
  return deps;
}

describe('stock level = latest count + movements since, exact to the event (issue 16)', () => {
  it('equals an independent computation at any instant, across count resets, duplicates, late movements and the batch/realtime seam', async () => {
    await fc.assert(
      fc.asyncProperty(movementsArb, countsArb, instantsArb, async (scenario, drawn, instants) => {
        // Arrange
        const counts: Count[] = drawn.map((c) => ({
          product_id: c.product,
          warehouse_id: c.warehouse,
          on_hand: c.on_hand,
          counted_at: `${c.day}T${c.hour}:${pad(c.minute)}:${pad(c.second)}Z`,
        }));
        const deps = await load(scenario, counts);
        const ats = [
          ...instants.map((i) => `${i.day}T${i.hour}:${pad(i.minute)}:${pad(i.second)}Z`),
          ...counts.slice(0, 1).map((c) => c.counted_at),
          ...scenario.bodies.slice(0, 2).map((b) => (JSON.parse(b) as Movement).event_time),
          '2026-11-22T00:00:00Z',
        ];

        for (const at of ats) {
          // Act + Assess
          const iso = new Date(at).toISOString();
          expect(await servedLevels(deps, iso), `at ${iso}`).toEqual(
            expectedLevels(scenario.bodies, counts, iso.replace('.000Z', 'Z')),
          );
        }
      }),
      { numRuns: 12 },
    );
  });
});
