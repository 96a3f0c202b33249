import { cpSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { publishedFile, readPublished } from '../../functions/pipeline/batch-published.ts';
import { datasetsDir } from '../../functions/pipeline/datasets.ts';
import { sqlPathList, withConnection } from '../../functions/pipeline/duckdb-session.ts';
import type { ObjectStore } from '../../functions/pipeline/object-store.ts';
import type { CoreDeps } from '../../functions/pipeline/ports.ts';
import { realtimeDaySnapshot, snapshotFiles } from '../../functions/pipeline/realtime-view.ts';
import { BatchCache } from '../../functions/serving/batch-cache.ts';
import { servedModel } from '../../functions/serving/metric-model.ts';
import { queryMetric } from '../../functions/serving/metric-query.ts';
import { compactRealtime } from '../../functions/stream/compaction.ts';
import { consumeMicroBatch, type StreamMessage } from '../../functions/stream/micro-batch.ts';
import { microBatches, streamDeps } from '../stream/stream-helpers.ts';

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

const scenarioArb = fc
  .array(
    fc.record({
      event: eventArb,
      redeliveries: fc.integer({ min: 0, max: 1 }),
      retries: fc.array(fc.constantFrom('same', 'hour', 'day'), { maxLength: 2 }),
    }),
    { minLength: 1, maxLength: 25 },
  )
  .chain((items) => {
    const messages: StreamMessage[] = [];
    const bodies: string[] = [];
    items.forEach(({ event, redeliveries, retries }, i) => {
      const quantity = event.type === 'adjustment' && i % 2 === 0 ? -event.quantity : event.quantity;
      const copies = [{ day: event.day, hour: event.hour }];
      for (const shift of retries) {
        copies.push({
          day: shift === 'day' ? (DAYS.find((d) => d !== event.day) ?? event.day) : event.day,
          hour: shift === 'hour' ? (event.hour === '10' ? '23' : '10') : event.hour,
        });
      }
      for (const [r, copy] of copies.entries()) {
        const body = JSON.stringify({
          movement_id: `mv${i}`,
          product_id: event.product,
          warehouse_id: event.warehouse,
          movement_type: event.type,
          quantity,
          ...(r > 0 ? { reference: `retry-${r}` } : {}),
          event_time: `${copy.day}T${copy.hour}:${String(event.minute).padStart(2, '0')}:00Z`,
        });
        bodies.push(body);
        for (let d = 0; d <= redeliveries; d++) messages.push({ messageId: `m${i}-${r}`, body });
      }
    });
    return fc.record({
      bodies: fc.constant(bodies),
      deliveries: fc.shuffledSubarray(messages, { minLength: messages.length, maxLength: messages.length }),
      batchSize: fc.integer({ min: 3, max: 12 }),
      compactMidway: fc.boolean(),
    });
  });

/** A model's rows from some Parquet files, summed per minute and dimensions, in one order (measures as text). */
async function rowsOf(model: string, paths: string[]): Promise<unknown[]> {
  if (paths.length === 0) return [];
  const dims = model === 'moves_minute' ? 'product_id, warehouse_id' : 'movement_type';
  const measures =
    model === 'moves_minute'
      ? 'sum(movements)::varchar as movements, sum(net_change)::varchar as net_change'
      : `sum(movements)::varchar as movements, sum(units)::varchar as units,
         list_sort(list_distinct(flatten(list(products)))) as products`;
  return withConnection(async (connection) =>
    (
      await connection.runAndReadAll(
        `select strftime(window_start, '%Y-%m-%dT%H:%M') as minute, ${dims}, ${measures}
         from read_parquet(${sqlPathList(paths)}) group by all order by all`,
      )
    ).getRowObjectsJson(),
  );
}

async function realtimeRows(store: ObjectStore, model: string, day: string) {
  const snapshot = await realtimeDaySnapshot(store, day, { model, manifestModel: MODELS[0] as string });
  return rowsOf(model, await Promise.all(snapshotFiles(snapshot).map((info) => store.localPath(info))));
}

async function batchRows(store: ObjectStore, model: string, day: string) {
  const entry = (await readPublished(store, DATASET)).index.days[day];
  if (!entry) return [];
  const info = await store.head(publishedFile(entry, model));
  return rowsOf(model, info ? [await store.localPath(info)] : []);
}

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
    await fc.assert(
      fc.asyncProperty(scenarioArb, async ({ bodies, deliveries, batchSize, compactMidway }) => {
        // Prepare: the speed layer's lake and the batch layer's (each day's events as that day's export).
        const { deps, clock } = streamDeps(new Date('2026-11-22T00:00:00Z'));
        const batch = streamDeps(new Date('2026-11-22T00:00:00Z'));
        for (const day of DAYS) {
          const lines = bodies.filter((b) =>
            (JSON.parse(b) as { event_time: string }).event_time.startsWith(day),
          );
          if (lines.length === 0) continue;
          await batch.deps.store.put(`landing/${DATASET}/dt=${day}/moves.jsonl`, `${lines.join('\n')}\n`);
        }
        // Act
        for (const day of DAYS) {
          if ((await batch.deps.store.list(`landing/${DATASET}/dt=${day}/`)).length === 0) continue;
          const report = await runBatchDay(
            { day, dataset: DATASET, thresholds: { force: true } },
            batch.deps,
          );
          expect(report.status, report.error).toBe('published');
        }
        const batches = microBatches(deliveries, batchSize);
        for (const [i, messages] of batches.entries()) {
          const result = await consumeMicroBatch({ messages, dataset: DATASET }, deps);
          expect(result.failedMessageIds).toEqual([]);
          expect(result.quarantined).toBe(0);
          if (compactMidway && i === Math.floor(batches.length / 2)) {
            await compactRealtime(deps, { now: clock.now, days: DAYS, datasets: [DATASET] });
          }
        }
        // A distinct measure is exact before compaction too: a value two micro-batches saw counts once.
        const before = await servedProducts(deps);
        await compactRealtime(deps, { now: clock.now, days: DAYS, datasets: [DATASET] });
        // Assess
        const expected = await servedProducts(batch.deps);
        expect(before).toEqual(expected);
        expect(await servedProducts(deps)).toEqual(expected);
        for (const model of MODELS) {
          for (const day of DAYS) {
            expect(await realtimeRows(deps.store, model, day)).toEqual(
              await batchRows(batch.deps.store, model, day),
            );
          }
        }
      }),
      { numRuns: 15 },
    );
  }, 240_000);
});
