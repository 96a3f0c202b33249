import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runBatchRange } from '../../functions/batch/run-batch.ts';
import { addDays } from '../../functions/pipeline/dates.ts';
import { BatchCache } from '../../functions/serving/batch-cache.ts';
import { querySales, type SalesResponse } from '../../functions/serving/sales.ts';
import { compactRealtime } from '../../functions/stream/compaction.ts';
import { consumeMicroBatch } from '../../functions/stream/micro-batch.ts';
import type { OrderEvent } from '../../local/order-generator.ts';
import { seededRandom } from '../../local/order-generator.ts';
import { testDeps, writeJsonlExport } from '../support/lake.ts';
import { expectedTotals, type Totals, validOrders } from './helpers.ts';

const lakeDir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-rel-concurrency-'));
afterAll(() => rmSync(lakeDir, { recursive: true, force: true }));

// Days long past, so the batch freshness gate (exports written after the day ended) holds on any machine clock.
const DAYS = ['2025-06-01', '2025-06-02'];
const HOURS = ['08', '09', '10', '11', '12', '13'];
const PER_HOUR = 40;
const PER_BATCH = 20;
const NOW = new Date('2025-06-03T02:00:00Z');

/** Shuffles in place with a seeded generator (a reproducible interleaving). */
function shuffle<T>(items: T[], seed: number): T[] {
  const random = seededRandom(seed);
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

const hourKey = (o: OrderEvent) => `${o.event_time.slice(0, 13)}:00:00Z`;
const same = (a: Totals, b: Totals) =>
  a.orders === b.orders &&
  a.units === b.units &&
  JSON.stringify(a.revenue_by_currency) === JSON.stringify(b.revenue_by_currency);

describe('concurrency: backfill, stream, compaction and queries on the same days', () => {
  it('every query answer is a consistent snapshot: each hour equals batch, or a prefix of the stream, never more', async () => {
    // Prepare: the same orders land as daily exports (batch) and arrive as micro-batches of one hour each (stream).
    const deps = testDeps(lakeDir, NOW);
    const orders: OrderEvent[] = [];
    for (const [d, day] of DAYS.entries()) {
      for (const [h, hh] of HOURS.entries()) {
        orders.push(...validOrders(PER_HOUR, 100 + d * 24 + h, new Date(`${day}T${hh}:00:00Z`), 60_000));
      }
    }
    for (const day of DAYS) {
      writeJsonlExport(
        lakeDir,
        day,
        'export.jsonl',
        orders.filter((o) => o.event_time.startsWith(day)),
      );
    }
    const batches: OrderEvent[][] = [];
    for (let i = 0; i < orders.length; i += PER_BATCH) batches.push(orders.slice(i, i + PER_BATCH));
    shuffle(batches, 7);
    // The valid states of each hour: batch's (all its orders) and every prefix of its stream batches.
    const valid = new Map<string, Totals[]>();
    const seen = new Map<string, OrderEvent[]>();
    for (const batch of batches) {
      const key = hourKey(batch[0] as OrderEvent);
      const sofar = [...(seen.get(key) ?? []), ...batch];
      seen.set(key, sofar);
      valid.set(key, [...(valid.get(key) ?? [expectedTotals([])]), expectedTotals(sofar)]);
    }

    // Act: one stream consumer with a compaction every 4 batches, a backfill run three times, queries throughout.
    let isRunning = true;
    const stream = (async () => {
      for (const [i, batch] of batches.entries()) {
        const messages = batch.map((o) => ({ messageId: `m-${o.order_id}`, body: JSON.stringify(o) }));
        const result = await consumeMicroBatch({ messages }, deps);
        if (result.error) throw new Error(result.error);
        if (i % 4 === 3) await compactRealtime(deps, { now: NOW, days: DAYS });
      }
    })();
    const backfill = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const runs = [[DAYS[0] as string], [DAYS[1] as string], DAYS];
      const outcomes = [];
      // Spaced out, so hours switch from realtime to batch (and get republished) while the stream still writes.
      for (const days of runs) {
        outcomes.push(await runBatchRange({ days, force: true, concurrency: 2 }, deps));
        await new Promise((resolve) => setTimeout(resolve, 1_500));
      }
      return outcomes;
    })();
    const answers: SalesResponse[] = [];
    const errors: string[] = [];
    const cache = new BatchCache();
    const reader = async () => {
      while (isRunning) {
        try {
          answers.push(
            await querySales(
              {
                start: new Date(`${DAYS[0]}T00:00:00Z`),
                end: new Date(`${addDays(DAYS[1] as string, 1)}T00:00:00Z`),
                granularity: 'hour',
              },
              { ...deps, cache },
            ),
          );
        } catch (error) {
          errors.push(String(error));
        }
      }
    };
    const readers = [reader(), reader()];
    const [, outcomes] = await Promise.all([stream, backfill]);
    isRunning = false;
    await Promise.all(readers);

    // Assess: every hour of every answer is one of its valid states, and the totals are the sum of the hours.
    const violations: string[] = [];
    let batchHours = 0;
    let partialHours = 0;
    for (const answer of answers) {
      const sourceOf = (at: string) =>
        answer.segments.find(
          (s) => Date.parse(s.start) <= Date.parse(at) && Date.parse(at) < Date.parse(s.end),
        )?.source;
      for (const row of answer.rows) {
        const states = valid.get(row.window_start) ?? [expectedTotals([])];
        const totals = { orders: row.orders, units: row.units, revenue_by_currency: row.revenue_by_currency };
        const source = sourceOf(row.window_start);
        const allowed = source === 'batch' ? states.slice(-1) : states;
        if (!allowed.some((s) => same(s, totals))) {
          violations.push(`${row.window_start} (${source}): ${JSON.stringify(totals)}`);
        }
        if (source === 'batch') batchHours += 1;
        else if (!same(states.at(-1) as Totals, totals)) partialHours += 1;
      }
      const rowOrders = answer.rows.reduce((n, r) => n + r.orders, 0);
      if (answer.totals.orders !== rowOrders)
        violations.push(`totals ${answer.totals.orders} ≠ rows ${rowOrders}`);
    }
    const final = answers.at(-1);
    console.info(
      `concurrency: ${answers.length} answers, ${batchHours} hour rows from batch, ${partialHours} from a partial stream state, ` +
        `${violations.length} violations, ${errors.length} errors`,
    );
    expect(errors).toEqual([]);
    expect(violations).toEqual([]);
    expect(answers.length).toBeGreaterThan(20);
    expect(partialHours).toBeGreaterThan(0);
    expect(batchHours).toBeGreaterThan(0);
    expect(outcomes.flatMap((o) => o.outcomes.map((x) => x.status))).toEqual(Array(4).fill('published'));
    expect(final?.totals).toEqual(expectedTotals(orders));
  }, 60_000);
});
