import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CoreDeps } from '../../functions/pipeline/ports.ts';
import { BatchCache } from '../../functions/serving/batch-cache.ts';
import { servedModel } from '../../functions/serving/metric-model.ts';
import { queryMetric } from '../../functions/serving/metric-query.ts';
import { batchRows, realtimeRows, runBothLayers, scenarioArb } from './batch-stream.ts';

/**
 * DESIGN invariant 1 for clicks' funnel_minute (datasets/clicks/): the speed layer (consumer +
 * compaction) gives exactly the batch layer's funnel counts, whatever the micro-batch split, arrival order,
 * redeliveries, producer retries (the same event_id in another hour or on another day) and late events.
 */

const DATASET = 'clicks';
const MODELS = ['funnel_minute'];
const DAYS = ['2026-11-20', '2026-11-21'];

const eventArb = fc.record({
  day: fc.constantFrom(...DAYS),
  hour: fc.constantFrom('09', '10', '23'),
  minute: fc.integer({ min: 0, max: 59 }),
  product: fc.constantFrom('p0', 'p1', 'p2'),
  user: fc.constantFrom('u0', 'u1', 'u2', 'u3'),
  type: fc.constantFrom('page_view', 'product_view', 'add_to_cart', 'checkout', 'purchase'),
  device: fc.constantFrom('desktop', 'mobile', undefined),
});

const clicksArb = scenarioArb(
  eventArb,
  (event, i, { day, hour }, retry) => ({
    event_id: `c${i}`,
    user_id: event.user,
    event_type: event.type,
    ...(event.type === 'page_view' ? {} : { product_id: event.product }),
    ...(event.device ? { device: event.device } : {}),
    ...(retry > 0 ? { referrer: `retry-${retry}` } : {}),
    event_time: `${day}T${hour}:${String(event.minute).padStart(2, '0')}:00Z`,
  }),
  { days: DAYS, maxLength: 30 },
);

/** `GET /metrics/funnel_minute` over both days by day and product: counts and the ratios of their sums. */
async function servedFunnel(deps: CoreDeps) {
  const body = await queryMetric(
    servedModel('funnel_minute'),
    {
      start: new Date(`${DAYS[0]}T00:00:00Z`),
      end: new Date('2026-11-22T00:00:00Z'),
      granularity: 'day',
      filters: {},
      groupBy: ['product_id'],
    },
    { ...deps, cache: new BatchCache() },
  );
  return { totals: body.totals, rows: body.rows };
}

describe('clicks funnel_minute: batch ≡ stream (DESIGN invariant 1)', () => {
  it('consumer + compaction equal the batch run of the same clicks, whatever the split, order, duplicates, late events and copies across hours and days; served ratios are the ratios of the sums', async () => {
    await fc.assert(
      fc.asyncProperty(clicksArb, async (scenario) => {
        // Act
        const { speed, batch } = await runBothLayers(DATASET, scenario, {
          days: DAYS,
          now: new Date('2026-11-22T00:00:00Z'),
        });
        // Assess
        const served = await servedFunnel(speed);
        expect(served).toEqual(await servedFunnel(batch));
        const t = served.totals as Record<string, number | string | null>;
        const ratio = (n: number, d: number) => (d === 0 ? null : (n / d).toFixed(6));
        expect(t['view_to_cart']).toBe(ratio(Number(t['add_to_carts']), Number(t['product_views'])));
        for (const model of MODELS) {
          for (const day of DAYS) {
            expect(await realtimeRows(speed.store, DATASET, model, day)).toEqual(
              await batchRows(batch.store, DATASET, model, day),
            );
          }
        }
      }),
      { numRuns: 15 },
    );
  }, 240_000);
});
