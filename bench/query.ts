/**
 * Serving benchmark: seeds a local lake the way the layers would (30 days published by the real batch layer,
 * today in realtime: compacted hours plus the last minutes as partials), then times querySales in process.
 *   npx tsx bench/query.ts [--orders-per-day 100000] [--runs 200] [--out bench/results/query.json]
 * "first" = a query whose batch days are not in the cache yet (fresh cache per run; files already on disk);
 * "warm"  = the same query repeated in a warm process (batch from the cache, realtime always re-read).
 * An HTTP-level version belongs with the local runtime.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runBatchDay } from '../functions/batch/run-batch-day.ts';
import { addDays } from '../functions/pipeline/dates.ts';
import { withConnection } from '../functions/pipeline/duckdb-session.ts';
import { lake } from '../functions/pipeline/lake-layout.ts';
import { LocalDirectoryStore } from '../functions/pipeline/local-directory-store.ts';
import { type ObjectStore, putJson } from '../functions/pipeline/object-store.ts';
import { appendJsonRecords, createRawOrders } from '../functions/pipeline/order-sources.ts';
import { buildOrderViews, copyToParquet } from '../functions/pipeline/order-views.ts';
import { silentLog } from '../functions/pipeline/ports.ts';
import type { RealtimeManifest } from '../functions/pipeline/realtime-view.ts';
import { BatchCache } from '../functions/serving/batch-cache.ts';
import { querySales, type ServingDeps } from '../functions/serving/query-sales.ts';
import type { SalesQuery } from '../functions/serving/sales-query.ts';
import { salesWindows } from '../functions/serving/sales-windows.ts';
import { writeLandingExport } from '../local/landing-export.ts';
import { type OrderEvent, ordersForDay } from '../local/order-generator.ts';

const { values } = parseArgs({
  options: {
    'orders-per-day': { type: 'string', default: '100000' },
    runs: { type: 'string', default: '200' },
    'first-runs': { type: 'string', default: '40' },
    out: { type: 'string', default: 'bench/results/query.json' },
  },
});

const TODAY = '2026-11-21';
const NOW = new Date(`${TODAY}T14:30:00Z`);
const FIRST_DAY = addDays(TODAY, -30);
const PARTIAL_SECONDS = 10;
const COMPACTION_MINUTES = 5;

async function putMinutes(store: ObjectStore, key: string, orders: readonly OrderEvent[], dir: string) {
  const file = path.join(dir, `${key.replaceAll('/', '_')}`);
  await withConnection(async (connection) => {
    await createRawOrders(connection);
    await appendJsonRecords(
      connection,
      orders.map((o, i) => ({ ref: `r${i}`, line: JSON.stringify(o) })),
      { source: 'bench', isEventIdRequired: true },
    );
    await buildOrderViews(connection);
    await copyToParquet(connection, 'select * from sales_minute order by window_start, product_id', file);
  });
  await store.putFile(key, file);
}

/** Today as the speed layer leaves it: hours compacted every 5 minutes, the newest minutes as 10 s partials. */
async function seedRealtime(store: ObjectStore, ordersPerDay: number, dir: string): Promise<number> {
  const orders = [...ordersForDay(TODAY, ordersPerDay, 99)].filter(
    (o) => Date.parse(o.event_time) < NOW.getTime(),
  );
  const compactedUntil = NOW.getTime() - COMPACTION_MINUTES * 60_000;
  const byHour = new Map<string, OrderEvent[]>();
  for (const o of orders) {
    const hh = o.event_time.slice(11, 13);
    byHour.set(hh, [...(byHour.get(hh) ?? []), o]);
  }
  let partials = 0;
  for (const [hh, hourOrders] of byHour) {
    const compacted = hourOrders.filter((o) => Date.parse(o.event_time) < compactedUntil);
    const recent = hourOrders.filter((o) => Date.parse(o.event_time) >= compactedUntil);
    const key = lake.realtimeCompacted(TODAY, hh, `c-${hh}`);
    await putMinutes(store, key, compacted, dir);
    await putJson(store, lake.realtimeManifest(TODAY, hh), {
      compacted: key,
      batches: [`covered-${hh}`],
      compactedAt: NOW.toISOString(),
      orders: compacted.length,
      duplicates: 0,
    } satisfies RealtimeManifest);
    const slices = new Map<number, OrderEvent[]>();
    for (const o of recent) {
      const slice = Math.floor(Date.parse(o.event_time) / (PARTIAL_SECONDS * 1000));
      slices.set(slice, [...(slices.get(slice) ?? []), o]);
    }
    for (const [slice, sliceOrders] of slices) {
      await putMinutes(store, lake.realtimePartial(TODAY, hh, `mb-${slice}`), sliceOrders, dir);
      partials += 1;
    }
  }
  return partials;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const round = (v: number) => Number(v.toFixed(2));
  return {
    n: sorted.length,
    p50: round(percentile(sorted, 50)),
    p95: round(percentile(sorted, 95)),
    max: round(sorted.at(-1) ?? 0),
  };
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

interface Case {
  name: string;
  run: (deps: ServingDeps) => Promise<{ rows?: unknown[]; windows?: unknown[] }>;
}

const day = (d: string) => new Date(`${d}T00:00:00Z`);
const sales = (q: SalesQuery) => (deps: ServingDeps) => querySales(q, deps);

const CASES: Case[] = [
  {
    name: '1 day, batch, by hour',
    run: sales({ start: day('2026-11-20'), end: day(TODAY), granularity: 'hour' }),
  },
  {
    name: '1 day, batch, by minute',
    run: sales({ start: day('2026-11-20'), end: day(TODAY), granularity: 'minute' }),
  },
  {
    name: '1 day, batch, top products',
    run: sales({ start: day('2026-11-20'), end: day(TODAY), granularity: 'day', groupBy: 'product' }),
  },
  {
    name: '1 day, today (realtime), by hour',
    run: sales({ start: day(TODAY), end: day(addDays(TODAY, 1)), granularity: 'hour' }),
  },
  {
    name: '30 days (29 batch + today), by hour',
    run: sales({ start: day(addDays(TODAY, -29)), end: day(addDays(TODAY, 1)), granularity: 'hour' }),
  },
  {
    name: '30 days (29 batch + today), by day',
    run: sales({ start: day(addDays(TODAY, -29)), end: day(addDays(TODAY, 1)), granularity: 'day' }),
  },
  {
    name: '30 days (29 batch + today), 1 product, by day',
    run: sales({
      start: day(addDays(TODAY, -29)),
      end: day(addDays(TODAY, 1)),
      granularity: 'day',
      productId: 'p-0001',
    }),
  },
  { name: 'windows 1/5/15 min (realtime)', run: (deps) => salesWindows({ at: NOW }, deps) },
];

async function main() {
  const ordersPerDay = Number(values['orders-per-day']);
  const runs = Number(values.runs);
  const firstRuns = Number(values['first-runs']);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bench-query-'));
  const work = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bench-query-work-'));
  try {
    const store = new LocalDirectoryStore(dir);
    const seedStart = performance.now();
    for (let d = FIRST_DAY; d < TODAY; d = addDays(d, 1)) {
      await writeLandingExport({ day: d, orders: ordersPerDay, seed: 7 }, store);
      await runBatchDay(
        { day: d },
        { store, clock: () => new Date(`${addDays(d, 1)}T02:00:00Z`), log: silentLog },
      );
    }
    const partials = await seedRealtime(store, ordersPerDay, work);
    const seedMs = performance.now() - seedStart;
    console.log(
      `seeded ${ordersPerDay} orders/day: 30 batch days + today until ${NOW.toISOString()} (${partials} partials) in ${(seedMs / 1000).toFixed(1)} s`,
    );

    const deps = (cache: BatchCache): ServingDeps => ({ store, clock: () => NOW, log: silentLog, cache });
    const first = CASES[0];
    const coldProcessMs = first ? await time(() => first.run(deps(new BatchCache()))) : Number.NaN;

    const results = [];
    for (const c of CASES) {
      const firstSamples: number[] = [];
      let rows = 0;
      for (let i = 0; i < firstRuns; i++) {
        const t0 = performance.now();
        const out = await c.run(deps(new BatchCache()));
        firstSamples.push(performance.now() - t0);
        rows = (out.rows ?? out.windows ?? []).length;
      }
      const cache = new BatchCache();
      await c.run(deps(cache));
      const warmSamples: number[] = [];
      for (let i = 0; i < runs; i++) warmSamples.push(await time(() => c.run(deps(cache))));
      results.push({ name: c.name, rows, first: stats(firstSamples), warm: stats(warmSamples) });
    }

    console.table(
      results.map((r) => ({
        query: r.name,
        rows: r.rows,
        'first p50 ms': r.first.p50,
        'first p95 ms': r.first.p95,
        'warm p50 ms': r.warm.p50,
        'warm p95 ms': r.warm.p95,
      })),
    );
    console.log(`first call in a cold process (DuckDB start + first read): ${coldProcessMs.toFixed(1)} ms`);
    const out = values.out ?? 'bench/results/query.json';
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(
      out,
      `${JSON.stringify(
        {
          measuredAt: new Date().toISOString(),
          command: `npx tsx bench/query.ts --orders-per-day ${ordersPerDay} --runs ${runs} --first-runs ${firstRuns}`,
          machine: {
            cpus: os.cpus().length,
            cpu: os.cpus()[0]?.model,
            node: process.version,
            // Other work on the machine skews percentiles; recorded so numbers can be compared honestly.
            loadAverage1m: Number(os.loadavg()[0]?.toFixed(2)),
          },
          lake: { ordersPerDay, batchDays: 30, realtimePartials: partials, store: 'local directory' },
          targets: { oneDayWarmP95Ms: 20, userSpecOneDayMs: 100 },
          coldProcessMs: Number(coldProcessMs.toFixed(1)),
          results,
        },
        null,
        2,
      )}\n`,
    );
    console.log(`wrote ${out}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
