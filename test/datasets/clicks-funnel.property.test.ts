import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { publishedFile, readPublished } from '../../functions/pipeline/batch-published.ts';
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

const scenarioArb = fc
  .array(
    fc.record({
      event: eventArb,
      redeliveries: fc.integer({ min: 0, max: 1 }),
      retries: fc.array(fc.constantFrom('same', 'hour', 'day'), { maxLength: 2 }),
    }),
    { minLength: 1, maxLength: 30 },
  )
  .chain((items) => {
    const messages: StreamMessage[] = [];
    const bodies: string[] = [];
    items.forEach(({ event, redeliveries, retries }, i) => {
      const copies = [{ day: event.day, hour: event.hour }];
      for (const shift of retries) {
        copies.push({
          day: shift === 'day' ? (DAYS.find((d) => d !== event.day) ?? event.day) : event.day,
          hour: shift === 'hour' ? (event.hour === '10' ? '23' : '10') : event.hour,
        });
      }
      for (const [r, copy] of copies.entries()) {
        const body = JSON.stringify({
          event_id: `c${i}`,
          user_id: event.user,
          event_type: event.type,
          ...(event.type === 'page_view' ? {} : { product_id: event.product }),
          ...(event.device ? { device: event.device } : {}),
          ...(r > 0 ? { referrer: `retry-${r}` } : {}),
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

/** funnel_minute's rows from some Parquet files, summed per minute and product, in one order (counts as text). */
async function rowsOf(_model: string, paths: string[]): Promise<unknown[]> {
  if (paths.length === 0) return [];
  return withConnection(async (connection) =>
    (
      await connection.runAndReadAll(
        `select strftime(window_start, '%Y-%m-%dT%H:%M') as minute, product_id,
                sum(product_views)::varchar as product_views, sum(add_to_carts)::varchar as add_to_carts,
                sum(checkouts)::varchar as checkouts, sum(purchases)::varchar as purchases
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
      fc.asyncProperty(scenarioArb, async ({ bodies, deliveries, batchSize, compactMidway }) => {
        // Prepare: the speed layer's lake and the batch layer's (each day's events as that day's export).
        const { deps, clock } = streamDeps(new Date('2026-11-22T00:00:00Z'));
        const batch = streamDeps(new Date('2026-11-22T00:00:00Z'));
        for (const day of DAYS) {
          const lines = bodies.filter((b) =>
            (JSON.parse(b) as { event_time: string }).event_time.startsWith(day),
          );
          if (lines.length === 0) continue;
          await batch.deps.store.put(`landing/${DATASET}/dt=${day}/clicks.jsonl`, `${lines.join('\n')}\n`);
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
        await compactRealtime(deps, { now: clock.now, days: DAYS, datasets: [DATASET] });
        // Assess
        const served = await servedFunnel(deps);
        expect(served).toEqual(await servedFunnel(batch.deps));
        const t = served.totals as Record<string, number | string | null>;
        const ratio = (n: number, d: number) => (d === 0 ? null : (n / d).toFixed(6));
        expect(t['view_to_cart']).toBe(ratio(Number(t['add_to_carts']), Number(t['product_views'])));
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
