import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CoreDeps } from '../../functions/pipeline/ports.ts';
import { BatchCache } from '../../functions/serving/batch-cache.ts';
import { servedModel } from '../../functions/serving/metric-model.ts';
import { queryMetric } from '../../functions/serving/metric-query.ts';
import { batchRows, realtimeRows, runBothLayers, scenarioArb } from './batch-stream.ts';

/**
 * DESIGN invariant 1 for inventory's stock_movements_minute (datasets/inventory/): after compaction the speed layer
 * holds exactly the rows batch publishes, and both are what the movements say, computed here without the engine:
 * per minute, product and warehouse the units received, sold, returned and adjusted (signed) and the net change
 * (received + returned + adjusted − sold). Whatever the micro-batch split, arrival order (late events included),
 * redeliveries and producer retries (the same movement_id in the same hour, another hour or on another day).
 */

const DATASET = 'inventory';
const MODEL = 'stock_movements_minute';
const DAYS = ['2026-11-20', '2026-11-21'];
const MEASURES = ['received', 'sold', 'returned', 'adjusted', 'net_change'] as const;

const eventArb = fc.record({
  day: fc.constantFrom(...DAYS),
  // 23 then 00 crosses midnight; 09:59 then 10:00 crosses an hour.
  hour: fc.constantFrom('00', '09', '10', '23'),
  minute: fc.integer({ min: 0, max: 59 }),
  product: fc.constantFrom('p0', 'p1', 'p2'),
  warehouse: fc.constantFrom('w-north', 'w-south'),
  type: fc.constantFrom('receipt', 'sale', 'return', 'adjustment'),
  units: fc.integer({ min: 1, max: 50 }),
  // Only an adjustment may be 0 or negative (the declaration's positive rule).
  adjustment: fc.integer({ min: -50, max: 50 }),
});

type Movement = {
  movement_id: string;
  product_id: string;
  warehouse_id: string;
  movement_type: string;
  quantity: number;
  reference?: string;
  event_time: string;
};

const movementsArb = scenarioArb(
  eventArb,
  (event, i, { day, hour }, retry): Movement => ({
    movement_id: `mv${i}`,
    product_id: event.product,
    warehouse_id: event.warehouse,
    movement_type: event.type,
    quantity: event.type === 'adjustment' ? event.adjustment : event.units,
    ...(retry > 0 ? { reference: `retry-${retry}` } : {}),
    event_time: `${day}T${hour}:${String(event.minute).padStart(2, '0')}:00Z`,
  }),
  { days: DAYS, maxLength: 30 },
);

/**
 * The model's rows of `day`, from the copies sent: a movement counts once per day it was stamped on, at its
 * earliest time that day (the declared dedup rule); its units go to its type's measure and, signed, to net_change.
 */
function expectedRows(bodies: readonly string[], day: string): Record<string, string>[] {
  const kept = new Map<string, Movement>();
  for (const movement of bodies.map((b) => JSON.parse(b) as Movement)) {
    if (!movement.event_time.startsWith(day)) continue;
    const earlier = kept.get(movement.movement_id);
    if (!earlier || movement.event_time < earlier.event_time) kept.set(movement.movement_id, movement);
  }
  const rows = new Map<string, Record<(typeof MEASURES)[number], number> & { key: string[] }>();
  for (const m of kept.values()) {
    const key = [m.event_time.slice(0, 16), m.product_id, m.warehouse_id];
    const row = rows.get(key.join('|')) ?? {
      key,
      received: 0,
      sold: 0,
      returned: 0,
      adjusted: 0,
      net_change: 0,
    };
    const measure = {
      receipt: 'received',
      sale: 'sold',
      return: 'returned',
      adjustment: 'adjusted',
    } as const;
    row[measure[m.movement_type as keyof typeof measure]] += m.quantity;
    row.net_change += m.movement_type === 'sale' ? -m.quantity : m.quantity;
    rows.set(key.join('|'), row);
  }
  return [...rows.values()]
    .sort((a, b) => (a.key.join('|') < b.key.join('|') ? -1 : 1))
    .map(({ key: [minute, product_id, warehouse_id], ...measures }) => ({
      minute: minute as string,
      product_id: product_id as string,
      warehouse_id: warehouse_id as string,
      ...Object.fromEntries(MEASURES.map((name) => [name, String(measures[name])])),
    }));
}

/** `GET /metrics/stock_movements_minute` over both days: the totals served. */
async function servedTotals(deps: CoreDeps) {
  const body = await queryMetric(
    servedModel(MODEL),
    {
      start: new Date(`${DAYS[0]}T00:00:00Z`),
      end: new Date('2026-11-22T00:00:00Z'),
      granularity: 'day',
      filters: {},
      groupBy: [],
    },
    { ...deps, cache: new BatchCache() },
  );
  return body.totals;
}

describe('inventory stock_movements_minute: batch ≡ stream ≡ the movements (DESIGN invariant 1)', () => {
  it('compacted realtime rows equal the published batch rows and an independent sum per minute, product and warehouse, whatever the split, order, duplicates, late events and copies across hours and days', async () => {
    await fc.assert(
      fc.asyncProperty(movementsArb, async (scenario) => {
        // Act
        const { speed, batch } = await runBothLayers(DATASET, scenario, {
          days: DAYS,
          now: new Date('2026-11-22T00:00:00Z'),
        });

        // Assess
        const all = DAYS.flatMap((day) => expectedRows(scenario.bodies, day));
        for (const day of DAYS) {
          const expected = expectedRows(scenario.bodies, day);
          expect(await batchRows(batch.store, DATASET, MODEL, day)).toEqual(expected);
          expect(await realtimeRows(speed.store, DATASET, MODEL, day)).toEqual(expected);
        }
        const totals = Object.fromEntries(
          MEASURES.map((name) => [name, all.reduce((sum, row) => sum + Number(row[name]), 0)]),
        );
        expect(await servedTotals(batch)).toEqual(totals);
        expect(await servedTotals(speed)).toEqual(totals);
      }),
      { numRuns: 15 },
    );
  }, 240_000);
});
