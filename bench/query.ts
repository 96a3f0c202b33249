/**
 * Serving benchmark: seeds a local lake the way the layers would (30 days published by the real batch layer,
 * today in realtime: compacted hours plus the last minutes as partials), then times each query twice:
 *   in process — querySales / salesWindows called directly (the serving core's share);
 *   over HTTP  — `fetch('http://127.0.0.1:PORT/sales?…')` through the local runtime's HTTP API adapter to the
 *                query-sales handler in a FunctionHost worker container, wired as `npm start` wires it (the lake
 *                in the local S3, `LAKE_BUCKET`); see bench/query-api.ts.
 *
 *   npx tsx bench/query.ts [--orders-per-day 100000] [--runs 200] [--first-runs 40]
 *                          [--http-runs N] [--http-first-runs N] [--http-lake s3|dir] [--no-http]
 *                          [--out bench/results/query.json]
 *   npx tsx bench/query.ts --dataset clicks [--events-per-day 200000] [same options]
 *                          [--out bench/results/query-clicks.json]
 * --dataset clicks: GET /metrics/funnel_minute and /metrics/sessions_minute for one day, of a lake seeded by the
 * real layers from realistic clicks (local/click-generator.ts): the two days before today published by runBatchDay
 * (the newest one reads its neighbour's export), today until 14:30 through consumeMicroBatch and compactRealtime
 * (hours compacted with the day's sessions, the last minute as partials of the batching window).
 * --http-runs / --http-first-runs default to --runs / --first-runs capped at 100 / 10 (each HTTP "first" sample
 * costs a container cold start). --http-lake dir serves the seeded directory (LAKE_DIR) instead of the local S3,
 * to tell the adapter and worker apart from the S3 emulation.
 *
 * In process: "first" = the query with fresh batch and realtime caches (files on disk, their metadata and DuckDB
 *             warm);
 *             "warm"  = the same query repeated: batch days and realtime files already read come from the caches
 *             (the publish index and each realtime day's listing are read on every request). The case "a new
 *             partial before each" writes one more micro-batch partial before every sample (untimed), as the
 *             speed layer does every batching window: the request then reads that file.
 * Over HTTP:  "first" = the first request for that query in a fresh container (new worker thread: empty batch
 *             cache, no file metadata, own DuckDB), after the container's cold start was paid by one unrelated
 *             request (`/sales/windows` on a day no case reads); lake files already downloaded to the
 *             function's /tmp, as after any earlier request of a `twinflow start` session. The cold start itself
 *             (new worker, module load, DuckDB, that small query) is reported as `coldStart`.
 *             "warm"  = the same request repeated against one warm container (keep-alive connection).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runBatchDay } from '../functions/batch/run-batch-day.ts';
import { buildDatasetViews, copyToParquet } from '../functions/pipeline/dataset-views.ts';
import { dataset } from '../functions/pipeline/datasets.ts';
import { addDays } from '../functions/pipeline/dates.ts';
import { withConnection } from '../functions/pipeline/duckdb-session.ts';
import { lake } from '../functions/pipeline/lake-layout.ts';
import { LocalDirectoryStore } from '../functions/pipeline/local-directory-store.ts';
import { type ObjectStore, putJson } from '../functions/pipeline/object-store.ts';
import { silentLog } from '../functions/pipeline/ports.ts';
import type { RealtimeManifest } from '../functions/pipeline/realtime-view.ts';
import { appendJsonRecords, createRawTable } from '../functions/pipeline/record-sources.ts';
import { BatchCache, RealtimeCache } from '../functions/serving/batch-cache.ts';
import { servedModel } from '../functions/serving/metric-model.ts';
import { queryMetric } from '../functions/serving/metric-query.ts';
import type { SalesQuery } from '../functions/serving/query-limits.ts';
import { parseMetricParams } from '../functions/serving/query-params.ts';
import { querySales, type ServingDeps } from '../functions/serving/sales.ts';
import { salesWindows } from '../functions/serving/windows.ts';
import { compactRealtime } from '../functions/stream/compaction.ts';
import { consumeMicroBatch, type StreamMessage } from '../functions/stream/micro-batch.ts';
import { stageConfig } from '../lib/stage-config.ts';
import { clickRecordsForDay } from '../local/click-generator.ts';
import { writeDatasetLandingExport, writeLandingExport } from '../local/landing-export.ts';
import { type OrderEvent, ordersForDay } from '../local/order-generator.ts';
import { parseSchedule } from '../local/schedule-expression.ts';
import { type LakeMode, type QueryApi, startQueryApi } from './query-api.ts';

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'orders' },
    'orders-per-day': { type: 'string', default: '100000' },
    'events-per-day': { type: 'string', default: '200000' },
    runs: { type: 'string', default: '200' },
    'first-runs': { type: 'string', default: '40' },
    'http-runs': { type: 'string' },
    'http-first-runs': { type: 'string' },
    'http-lake': { type: 'string', default: 's3' },
    'no-http': { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});

const TODAY = '2026-11-21';
const NOW = new Date(`${TODAY}T14:30:00Z`);
const FIRST_DAY = addDays(TODAY, -30);
// The dev stage's speed layer: one partial per batching window, folded away by each compaction. The seed is the
// worst case between two compactions: a whole interval of uncompacted partials.
const PARTIAL_SECONDS = stageConfig('dev').stream.maxBatchingWindowSeconds;
const COMPACTION_MS = compactionIntervalMs(stageConfig('dev').compaction.schedule);

function compactionIntervalMs(expression: string): number {
  const schedule = parseSchedule(expression);
  if (schedule.kind !== 'rate')
    throw new Error(`bench/query.ts expects a rate(…) compaction schedule, not ${expression}`);
  return schedule.everyMs;
}

async function putMinutes(store: ObjectStore, key: string, orders: readonly OrderEvent[], dir: string) {
  const file = path.join(dir, `${key.replaceAll('/', '_')}`);
  await withConnection(async (connection) => {
    await createRawTable(connection);
    await appendJsonRecords(
      connection,
      orders.map((o, i) => ({ ref: `r${i}`, line: JSON.stringify(o) })),
      { source: 'bench', isEventIdRequired: true },
    );
    await buildDatasetViews(connection);
    await copyToParquet(connection, 'select * from sales_minute order by window_start, product_id', file);
  });
  await store.putFile(key, file);
}

/** Today as the speed layer leaves it: hours compacted, the minutes since the last compaction as partials. */
async function seedRealtime(store: ObjectStore, ordersPerDay: number, dir: string): Promise<number> {
  const orders = [...ordersForDay(TODAY, ordersPerDay, 99)].filter(
    (o) => Date.parse(o.event_time) < NOW.getTime(),
  );
  const compactedUntil = NOW.getTime() - COMPACTION_MS;
  const byHour = new Map<string, OrderEvent[]>();
  for (const o of orders) {
    const hh = o.event_time.slice(11, 13);
    byHour.set(hh, [...(byHour.get(hh) ?? []), o]);
  }
  let partials = 0;
  const compacted = orders.filter((o) => Date.parse(o.event_time) < compactedUntil);
  const key = lake.realtimeCompacted(TODAY, 'c-today');
  await putMinutes(store, key, compacted, dir);
  const covered: Record<string, string[]> = {};
  for (const hh of byHour.keys()) covered[hh] = [`covered-${hh}`];
  await putJson(store, lake.realtimeManifest(TODAY), {
    compacted: key,
    covered,
    compactedAt: NOW.toISOString(),
    orders: compacted.length,
    duplicates: 0,
  } satisfies RealtimeManifest);
  for (const [hh, hourOrders] of byHour) {
    const recent = hourOrders.filter((o) => Date.parse(o.event_time) >= compactedUntil);
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
  /** The same query as a request to the HTTP API. */
  path: string;
  /** Changes the lake before each sample, untimed (answers then differ between runs and are not compared). */
  before?: (store: ObjectStore, work: string) => Promise<void>;
  /** Undoes `before`'s changes once the case is measured, so later cases and modes see the seeded lake. */
  after?: (store: ObjectStore) => Promise<void>;
}

const day = (d: string) => new Date(`${d}T00:00:00Z`);
const iso = (d: Date) => d.toISOString().replace('.000Z', 'Z');

function salesCase(name: string, q: SalesQuery): Case {
  const params = new URLSearchParams({ start: iso(q.start), end: iso(q.end), granularity: q.granularity });
  if (q.productId !== undefined) params.set('product_id', q.productId);
  if (q.groupBy !== undefined) params.set('group_by', q.groupBy);
  return { name, run: (deps) => querySales(q, deps), path: `/sales?${params}` };
}

const ORDERS_CASES: Case[] = [
  salesCase('1 day, batch, by hour', { start: day('2026-11-20'), end: day(TODAY), granularity: 'hour' }),
  salesCase('1 day, batch, by minute', { start: day('2026-11-20'), end: day(TODAY), granularity: 'minute' }),
  salesCase('1 day, batch, top products', {
    start: day('2026-11-20'),
    end: day(TODAY),
    granularity: 'day',
    groupBy: 'product',
  }),
  salesCase('1 day, today (realtime), by hour', {
    start: day(TODAY),
    end: day(addDays(TODAY, 1)),
    granularity: 'hour',
  }),
  salesCase('30 days (29 batch + today), by hour', {
    start: day(addDays(TODAY, -29)),
    end: day(addDays(TODAY, 1)),
    granularity: 'hour',
  }),
  salesCase('30 days (29 batch + today), by day', {
    start: day(addDays(TODAY, -29)),
    end: day(addDays(TODAY, 1)),
    granularity: 'day',
  }),
  salesCase('30 days (29 batch + today), 1 product, by day', {
    start: day(addDays(TODAY, -29)),
    end: day(addDays(TODAY, 1)),
    granularity: 'day',
    productId: 'p-0001',
  }),
  {
    name: 'windows 1/5/15 min (realtime)',
    run: (deps) => salesWindows({ at: NOW }, deps),
    path: `/sales/windows?${new URLSearchParams({ at: iso(NOW) })}`,
  },
  {
    ...salesCase('1 day, today (realtime), by hour, a new partial before each', {
      start: day(TODAY),
      end: day(addDays(TODAY, 1)),
      granularity: 'hour',
    }),
    before: putNewPartial,
    after: (store) => store.delete(newPartialKeys.splice(0)),
  },
];

let newPartials = 0;
const newPartialKeys: string[] = [];
/** New partials kept at once: about a compaction interval's worth (the fold takes the older ones away). */
const NEW_PARTIALS_KEPT = 8;

/** One more micro-batch's partial in the current hour (3 orders), as the speed layer writes one per window. */
async function putNewPartial(store: ObjectStore, work: string): Promise<void> {
  if (newPartialKeys.length >= NEW_PARTIALS_KEPT) await store.delete(newPartialKeys.splice(0, 1));
  newPartials += 1;
  const at = new Date(NOW.getTime() - 10_000).toISOString();
  const orders = [...ordersForDay(TODAY, 3, 1000 + newPartials)].map((o, i) => ({
    ...o,
    order_id: `new-${newPartials}-${i}`,
    event_time: at,
  }));
  const hh = at.slice(11, 13);
  const key = lake.realtimePartial(TODAY, hh, `mb-new-${newPartials}`);
  await putMinutes(store, key, orders, work);
  newPartialKeys.push(key);
}

/**
 * Pays a fresh container's cold start without touching what the cases read: windows on the oldest seeded day,
 * which no case includes (their batch cache keys and file metadata stay cold).
 */
const ORDERS_COLD_START_PATH = `/sales/windows?${new URLSearchParams({ at: `${FIRST_DAY}T12:00:00Z` })}`;

/** One `GET /metrics/{model}` query, answered in process exactly as the route parses and answers it. */
function metricCase(name: string, model: string, params: Record<string, string>): Case {
  const served = servedModel(model);
  return {
    name,
    run: (deps) => queryMetric(served, parseMetricParams(served, params, NOW, 'UTC'), deps),
    path: `/metrics/${model}?${new URLSearchParams(params)}`,
  };
}

const YESTERDAY = addDays(TODAY, -1);
const oneDay = (d: string) => ({
  start: `${d}T00:00:00Z`,
  end: `${addDays(d, 1)}T00:00:00Z`,
  granularity: 'hour',
});
const CLICKS_CASES: Case[] = [
  metricCase('funnel_minute 1 day, batch, by hour', 'funnel_minute', oneDay(YESTERDAY)),
  metricCase('funnel_minute 1 day, today (realtime), by hour', 'funnel_minute', oneDay(TODAY)),
  metricCase('sessions_minute 1 day, batch, by hour', 'sessions_minute', oneDay(YESTERDAY)),
  metricCase('sessions_minute 1 day, today (realtime), by hour', 'sessions_minute', oneDay(TODAY)),
  metricCase('funnel_minute 1 day, batch, by product', 'funnel_minute', {
    ...oneDay(YESTERDAY),
    granularity: 'day',
    group_by: 'product_id',
  }),
];
/** As for orders: windows on the oldest seeded day (batch), which no case reads. */
const CLICKS_FIRST_DAY = addDays(TODAY, -2);
const CLICKS_COLD_START_PATH = `/metrics/funnel_minute/windows?${new URLSearchParams({ at: `${CLICKS_FIRST_DAY}T12:00:00Z` })}`;

/**
 * Clicks as the layers leave them at NOW: the two days before published by batch (each reads its neighbours'
 * exports), today through the consumer core and compaction — every event until the last compaction (NOW − one
 * schedule interval) compacted, with the day's sessions, and the minute since as one partial per batching window.
 */
async function seedClicks(store: ObjectStore, eventsPerDay: number): Promise<number> {
  const ds = dataset('clicks');
  const input = (d: string, seed: number) => ({ day: d, count: eventsPerDay, seed, duplicateShare: 0.02 });
  for (const [i, d] of [CLICKS_FIRST_DAY, YESTERDAY].entries()) {
    await writeDatasetLandingExport(
      { ...input(d, 7 + i), dataset: ds, rows: eventsPerDay, format: 'parquet' },
      store,
    );
  }
  for (const d of [CLICKS_FIRST_DAY, YESTERDAY]) {
    const report = await runBatchDay(
      { day: d, dataset: 'clicks', thresholds: { force: true } },
      { store, clock: () => new Date(`${addDays(d, 1)}T02:00:00Z`), log: silentLog },
    );
    if (report.status !== 'published') throw new Error(`clicks batch ${d}: ${report.status} ${report.error}`);
  }
  const deps = { store, clock: () => NOW, log: silentLog };
  const compactedUntil = NOW.getTime() - COMPACTION_MS;
  const today = [...clickRecordsForDay(ds, input(TODAY, 9))]
    .map((r, i) => ({
      at: Date.parse(String(r.event['event_time'])),
      message: { messageId: `c${i}`, body: JSON.stringify(r.event) },
    }))
    .filter((m) => m.at < NOW.getTime());
  const consume = async (messages: StreamMessage[]) => {
    const result = await consumeMicroBatch({ messages, dataset: 'clicks' }, deps);
    if (result.failedMessageIds.length > 0) throw new Error(`clicks micro-batch failed: ${result.error}`);
  };
  // Large micro-batches for what compaction folds away anyway (the partials it covers are then deleted).
  const compacted = today.filter((m) => m.at < compactedUntil).map((m) => m.message);
  for (let i = 0; i < compacted.length; i += 5_000) await consume(compacted.slice(i, i + 5_000));
  await compactRealtime(deps, { now: NOW, days: [TODAY], datasets: ['clicks'], graceMs: 0 });
  const windows = new Map<number, StreamMessage[]>();
  for (const m of today.filter((m) => m.at >= compactedUntil)) {
    const slice = Math.floor(m.at / (PARTIAL_SECONDS * 1000));
    windows.set(slice, [...(windows.get(slice) ?? []), m.message]);
  }
  for (const messages of windows.values()) await consume(messages);
  return windows.size;
}

/** What one dataset's bench seeds and asks. */
interface Suite {
  /** Seeds the lake; returns the realtime partials left uncompacted. */
  seed(store: ObjectStore, work: string): Promise<number>;
  /** The lake, for the report. */
  lake: Record<string, unknown>;
  cases: Case[];
  coldStartPath: string;
  /** The bench's own options in the command that reproduces it. */
  command: string;
  out: string;
  /** What is called in process. */
  core: string;
}

function suiteOf(name: string): Suite {
  if (name === 'clicks') {
    const eventsPerDay = Number(values['events-per-day']);
    return {
      seed: (store) => seedClicks(store, eventsPerDay),
      lake: { dataset: 'clicks', eventsPerDay, batchDays: 2, store: 'local directory' },
      cases: CLICKS_CASES,
      coldStartPath: CLICKS_COLD_START_PATH,
      command: `--dataset clicks --events-per-day ${eventsPerDay}`,
      out: 'bench/results/query-clicks.json',
      core: 'queryMetric',
    };
  }
  if (name !== 'orders') throw new Error('--dataset is orders or clicks');
  const ordersPerDay = Number(values['orders-per-day']);
  return {
    async seed(store, work) {
      for (let d = FIRST_DAY; d < TODAY; d = addDays(d, 1)) {
        await writeLandingExport({ day: d, orders: ordersPerDay, seed: 7 }, store);
        await runBatchDay(
          { day: d },
          { store, clock: () => new Date(`${addDays(d, 1)}T02:00:00Z`), log: silentLog },
        );
      }
      return seedRealtime(store, ordersPerDay, work);
    },
    lake: { ordersPerDay, batchDays: 30, store: 'local directory' },
    cases: ORDERS_CASES,
    coldStartPath: ORDERS_COLD_START_PATH,
    command: `--orders-per-day ${ordersPerDay}`,
    out: 'bench/results/query.json',
    core: 'querySales / salesWindows',
  };
}

/** What must be identical in process and over HTTP: the answer without its generation time. */
const answerOf = (body: { rows?: unknown[]; windows?: unknown[] }) =>
  JSON.stringify(body.rows ?? body.windows);

async function get(api: QueryApi, requestPath: string): Promise<{ ms: number; body: string }> {
  const t0 = performance.now();
  const response = await fetch(`${api.url}${requestPath}`);
  const body = await response.text();
  const ms = performance.now() - t0;
  if (response.status !== 200)
    throw new Error(`GET ${requestPath} → ${response.status}: ${body.slice(0, 500)}`);
  return { ms, body };
}

interface CaseResult {
  name: string;
  rows: number;
  first: ReturnType<typeof stats>;
  warm: ReturnType<typeof stats>;
}

interface HttpCaseResult extends CaseResult {
  path: string;
  /** Identical rows (or windows) to the in-process answer. */
  /** null: the case changes the lake before each request, so answers are not compared. */
  sameAnswer: boolean | null;
  /** The handler's time in its worker (FunctionHost invocation) for the warm requests: HTTP minus this = adapter. */
  warmHandler: ReturnType<typeof stats>;
}

async function measureInProcess(
  store: LocalDirectoryStore,
  cases: readonly Case[],
  runs: number,
  firstRuns: number,
  work: string,
): Promise<{ coldProcessMs: number; results: (CaseResult & { answer: string })[] }> {
  // Caches of their own: "first" starts with empty batch and realtime caches, "warm" keeps one pair.
  const fresh = () => ({ cache: new BatchCache(), realtimeCache: new RealtimeCache() });
  const deps = (caches: ReturnType<typeof fresh>): ServingDeps => ({
    store,
    clock: () => NOW,
    log: silentLog,
    ...caches,
  });
  const first = cases[0];
  const coldProcessMs = first ? await time(() => first.run(deps(fresh()))) : Number.NaN;
  const results = [];
  for (const c of cases) {
    const firstSamples: number[] = [];
    let rows = 0;
    let answer = '';
    for (let i = 0; i < firstRuns; i++) {
      await c.before?.(store, work);
      const t0 = performance.now();
      const out = await c.run(deps(fresh()));
      firstSamples.push(performance.now() - t0);
      rows = (out.rows ?? out.windows ?? []).length;
      answer = answerOf(JSON.parse(JSON.stringify(out)));
    }
    const caches = fresh();
    const out = await c.run(deps(caches));
    rows = (out.rows ?? out.windows ?? []).length;
    answer = answerOf(JSON.parse(JSON.stringify(out)));
    const warmSamples: number[] = [];
    for (let i = 0; i < runs; i++) {
      await c.before?.(store, work);
      warmSamples.push(await time(() => c.run(deps(caches))));
    }
    await c.after?.(store);
    results.push({ name: c.name, rows, answer, first: stats(firstSamples), warm: stats(warmSamples) });
  }
  return { coldProcessMs, results };
}

async function measureHttp(
  api: QueryApi,
  suite: Pick<Suite, 'cases' | 'coldStartPath'>,
  runs: number,
  firstRuns: number,
  inProcess: readonly { name: string; answer: string }[],
  work: string,
): Promise<{ coldStart: ReturnType<typeof stats>; results: HttpCaseResult[] }> {
  // The first container's cold start (and, in s3 mode, the first download of every file the cases read).
  await get(api, suite.coldStartPath);
  const results: HttpCaseResult[] = [];
  for (const c of suite.cases) {
    const warmup = await get(api, c.path);
    const parsed = JSON.parse(warmup.body) as { rows?: unknown[]; windows?: unknown[] };
    const warmSamples: number[] = [];
    const handlerSamples: number[] = [];
    for (let i = 0; i < runs; i++) {
      await c.before?.(api.store, work);
      warmSamples.push((await get(api, c.path)).ms);
      handlerSamples.push(api.lastInvocation?.durationMs ?? Number.NaN);
    }
    await c.after?.(api.store);
    results.push({
      name: c.name,
      path: c.path,
      rows: (parsed.rows ?? parsed.windows ?? []).length,
      sameAnswer: c.before ? null : answerOf(parsed) === inProcess.find((r) => r.name === c.name)?.answer,
      first: stats([]),
      warm: stats(warmSamples),
      warmHandler: stats(handlerSamples),
    });
  }
  const coldStartSamples: number[] = [];
  for (const [index, c] of suite.cases.entries()) {
    const firstSamples: number[] = [];
    for (let i = 0; i < firstRuns; i++) {
      await api.recycle();
      const cold = await get(api, suite.coldStartPath);
      if (!api.lastInvocation?.coldStart) throw new Error('recycled container did not cold start');
      coldStartSamples.push(cold.ms);
      await c.before?.(api.store, work);
      const first = await get(api, c.path);
      if (api.lastInvocation?.coldStart) throw new Error('the measured first request paid a cold start');
      firstSamples.push(first.ms);
    }
    await c.after?.(api.store);
    const result = results[index];
    if (result) result.first = stats(firstSamples);
  }
  return { coldStart: stats(coldStartSamples), results };
}

async function main() {
  const suite = suiteOf(values.dataset ?? 'orders');
  const runs = Number(values.runs);
  const firstRuns = Number(values['first-runs']);
  // A first request over HTTP costs a container cold start (~1 s) on top: fewer samples unless asked for.
  const httpRuns = Number(values['http-runs'] ?? Math.min(runs, 100));
  const httpFirstRuns = Number(values['http-first-runs'] ?? Math.min(firstRuns, 10));
  const httpLake = values['http-lake'] as LakeMode;
  const withHttp = !values['no-http'];
  if (httpLake !== 's3' && httpLake !== 'dir') throw new Error('--http-lake is s3 or dir');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bench-query-'));
  const work = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bench-query-work-'));
  try {
    const store = new LocalDirectoryStore(dir);
    const seedStart = performance.now();
    const partials = await suite.seed(store, work);
    const seedMs = performance.now() - seedStart;
    console.log(
      `seeded ${JSON.stringify(suite.lake)}: batch days + today until ${NOW.toISOString()} (${partials} partials) in ${(seedMs / 1000).toFixed(1)} s`,
    );

    const inProcessStart = performance.now();
    const { coldProcessMs, results } = await measureInProcess(store, suite.cases, runs, firstRuns, work);
    const inProcessSeconds = (performance.now() - inProcessStart) / 1000;
    console.log(`\nin process (${suite.core} called directly), ${inProcessSeconds.toFixed(1)} s:`);
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

    let http:
      | {
          lake: LakeMode;
          upload: { files: number; ms: number };
          coldStart: ReturnType<typeof stats>;
          seconds: number;
          results: HttpCaseResult[];
        }
      | undefined;
    if (withHttp) {
      const httpStart = performance.now();
      const api = await startQueryApi({
        lake: store,
        lakeDir: dir,
        dataDir: path.join(work, 'runtime'),
        mode: httpLake,
      });
      try {
        const measured = await measureHttp(api, suite, httpRuns, httpFirstRuns, results, work);
        http = {
          lake: httpLake,
          upload: { files: api.upload.files, ms: Number(api.upload.ms.toFixed(0)) },
          coldStart: measured.coldStart,
          seconds: Number(((performance.now() - httpStart) / 1000).toFixed(1)),
          results: measured.results,
        };
      } finally {
        await api.close();
      }
      console.log(
        `\nover HTTP (fetch → local runtime HTTP API → query-sales in a worker container, lake ${
          httpLake === 's3' ? 'in the local S3 as with npm start' : 'in a local directory (LAKE_DIR)'
        }), ${http.seconds} s${http.upload.files > 0 ? ` (upload of ${http.upload.files} files ${(http.upload.ms / 1000).toFixed(1)} s)` : ''}:`,
      );
      console.table(
        http.results.map((r) => ({
          query: r.name,
          rows: r.rows,
          'same answer': r.sameAnswer ?? 'n/a (lake changes)',
          'first p50 ms': r.first.p50,
          'first p95 ms': r.first.p95,
          'warm p50 ms': r.warm.p50,
          'warm p95 ms': r.warm.p95,
          'handler p50 ms': r.warmHandler.p50,
        })),
      );
      console.log(
        `cold start of a container (new worker, module load, DuckDB, one small query): p50 ${http.coldStart.p50} ms, p95 ${http.coldStart.p95} ms (n=${http.coldStart.n})`,
      );
    }

    const out = values.out ?? suite.out;
    const command =
      `npx tsx bench/query.ts ${suite.command} --runs ${runs} --first-runs ${firstRuns}` +
      (withHttp
        ? ` --http-runs ${httpRuns} --http-first-runs ${httpFirstRuns} --http-lake ${httpLake}`
        : ' --no-http');
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(
      out,
      `${JSON.stringify(
        {
          measuredAt: new Date().toISOString(),
          command,
          machine: {
            cpus: os.cpus().length,
            cpu: os.cpus()[0]?.model,
            node: process.version,
            // Other work on the machine skews percentiles; recorded so numbers can be compared honestly.
            loadAverage1m: Number(os.loadavg()[0]?.toFixed(2)),
          },
          dataset: values.dataset ?? 'orders',
          lake: { ...suite.lake, realtimePartials: partials },
          targets: { oneDayWarmP95Ms: 20, userSpecOneDayMs: 100 },
          coldProcessMs: Number(coldProcessMs.toFixed(1)),
          results: results.map(({ answer: _, ...r }) => r),
          ...(http
            ? {
                http: {
                  ...http,
                  how:
                    'fetch() → startHttpApi (API Gateway v2 events) → FunctionHost worker → functions/query-sales handler; ' +
                    (http.lake === 's3'
                      ? 'lake in the local S3 (s3rver) via LAKE_BUCKET, as twinflow start wires it'
                      : 'lake in the seeded directory via LAKE_DIR'),
                  first:
                    'first request for the query in a fresh container whose cold start was paid by an unrelated request; lake files already in the function /tmp',
                  warm: 'the same request repeated against one warm container',
                },
              }
            : {}),
        },
        null,
        2,
      )}\n`,
    );
    console.log(`wrote ${out}`);
    if (http?.results.some((r) => r.sameAnswer === false)) {
      console.error('HTTP answers differ from the in-process answers: see "same answer" above');
      process.exitCode = 1;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
