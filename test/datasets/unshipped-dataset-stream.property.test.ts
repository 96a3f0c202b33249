import { cpSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { datasetsDir } from '../../functions/pipeline/datasets.ts';
import type { CoreDeps } from '../../functions/pipeline/ports.ts';
import { BatchCache } from '../../functions/serving/batch-cache.ts';
import { servedModel } from '../../functions/serving/metric-model.ts';
import { queryMetric } from '../../functions/serving/metric-query.ts';
import { compactRealtime } from '../../functions/stream/compaction.ts';
import { batchRows, realtimeRows, runBothLayers, scenarioArb } from './batch-stream.ts';

/**
 * DESIGN invariant 1 for a dataset the repository does not ship (the stock_moves fixture, with two minute models):
 * the speed layer (consumer + compaction) gives exactly the batch layer's views, whatever the micro-batch split,
 * arrival order, redeliveries and producer retries (the same movement_id stamped in another hour or on another day).
 */

const DATASET = 'stock_moves';
const MODELS = ['moves_minute', 'moves_by_type_minute'];
const DAYS = ['2026-11-20', '2026-11-21'];

beforeAll(() => {
  // A project copy's datasets/: the shipped ones plus the fixture folder, no TypeScript.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-datasets-'));
  cpSync(datasetsDir(), dir, { recursive: true });
  cpSync(path.join(import.meta.dirname, 'fixtures', DATASET), path.join(dir, DATASET), { recursive: true });
  process.env['TWINFLOW_DATASETS_DIR'] = dir;
});

const eventArb = fc.record({
  day: fc.constantFrom(...DAYS),
  hour: fc.constantFrom('09', '10', '23'),
  minute: fc.integer({ min: 0, max: 59 }),
  product: fc.constantFrom('p0', 'p1', 'p2'),
  warehouse: fc.constantFrom('w-north', 'w-south'),
  type: fc.constantFrom('receipt', 'sale', 'return', 'adjustment'),
  quantity: fc.integer({ min: 1, max: 50 }),
});

const movesArb = scenarioArb(
  eventArb,
  (event, i, { day, hour }, retry) => ({
    movement_id: `mv${i}`,
    product_id: event.product,
    warehouse_id: event.warehouse,
    movement_type: event.type,
    quantity: event.type === 'adjustment' && i % 2 === 0 ? -event.quantity : event.quantity,
    ...(retry > 0 ? { reference: `retry-${retry}` } : {}),
    event_time: `${day}T${hour}:${String(event.minute).padStart(2, '0')}:00Z`,
  }),
  { days: DAYS, maxLength: 25 },
);

/** `GET /metrics/moves_by_type_minute` over both days by day and movement type: the distinct products served. */
async function servedProducts(deps: CoreDeps) {
  const body = await queryMetric(
    servedModel('moves_by_type_minute'),
    {
      start: new Date(`${DAYS[0]}T00:00:00Z`),
      end: new Date('2026-11-22T00:00:00Z'),
      granularity: 'day',
      filters: {},
      groupBy: ['movement_type'],
    },
    { ...deps, cache: new BatchCache() },
  );
  return {
    total: body.totals['products'],
    // Rows are ordered by their first measure (movements), which only compaction makes exact: compare as a set.
    rows: body.rows.map((r) => [r['window_start'], r['movement_type'], r['products']]).sort(),
  };
}

describe('a declared dataset the repository does not ship: batch ≡ stream (DESIGN invariant 1)', () => {
  it('consumer + compaction equal the batch run of the same events for each of its minute models, whatever the split, order, duplicates and copies across hours and days', async () => {
    let rolledUp = 0;
    await fc.assert(
      fc.asyncProperty(movesArb, async (scenario) => {
        // Act: a distinct measure is exact before compaction too (a value two micro-batches saw counts once).
        let before: Awaited<ReturnType<typeof servedProducts>> | undefined;
        const { speed, batch } = await runBothLayers(DATASET, scenario, {
          days: DAYS,
          now: new Date('2026-11-22T00:00:00Z'),
          beforeLastCompaction: async (deps) => {
            before = await servedProducts(deps);
            // Compaction's cheap tier (every day "large", the fold not due): each day's new partials summed into
            // one roll-up per hour change no answer, counts included.
            const rowsBefore = await Promise.all(
              MODELS.flatMap((m) => DAYS.map((d) => realtimeRows(deps.store, DATASET, m, d))),
            );
            const rolled = await compactRealtime(deps, {
              now: deps.clock(),
              days: DAYS,
              datasets: [DATASET],
              rollUpAboveEvents: 0,
              foldEveryMs: 60 * 60_000,
            });
            if (rolled.days.length > 0 && rolled.days.every((d) => d.status === 'rolled-up')) {
              expect(
                await Promise.all(
                  MODELS.flatMap((m) => DAYS.map((d) => realtimeRows(deps.store, DATASET, m, d))),
                ),
              ).toEqual(rowsBefore);
              expect(await servedProducts(deps)).toEqual(before);
              rolledUp++;
            }
          },
        });
        // Assess
        const expected = await servedProducts(batch);
        expect(before).toEqual(expected);
        expect(await servedProducts(speed)).toEqual(expected);
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
    // Scenarios compacted midway get roll-ups before their last fold.
    expect(rolledUp).toBeGreaterThan(0);
  }, 240_000);
});
