import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { datasetsDir } from '../../functions/pipeline/datasets.ts';
import { BatchCache } from '../../functions/serving/batch-cache.ts';
import { servedModel } from '../../functions/serving/metric-model.ts';
import { queryMetric } from '../../functions/serving/metric-query.ts';
import { metricWindows } from '../../functions/serving/windows.ts';
import { compactRealtime } from '../../functions/stream/compaction.ts';
import { consumeMicroBatch } from '../../functions/stream/micro-batch.ts';
import { messages, streamDeps } from '../stream/stream-helpers.ts';
import { twinflowWith } from '../support/cli.ts';
import { useTempDirs } from '../support/temp-dir.ts';

/**
 * Declared ratios (the page_funnel fixture: view_to_cart = carts / views …) are served from each answer's own
 * sums — rows, totals, windows, from batch and from realtime — as exact 6-place decimals, null where the
 * denominator is 0. The data is chosen so that averaging per-minute ratios gives other answers.
 */

const tempDir = useTempDirs();
const DAY = '2026-11-20';
const MODEL = 'page_funnel_minute';
let datasets: string;

beforeAll(() => {
  datasets = mkdtempSync(path.join(os.tmpdir(), 'twinflow-datasets-'));
  cpSync(datasetsDir(), datasets, { recursive: true });
  cpSync(path.join(import.meta.dirname, 'fixtures', 'page_funnel'), path.join(datasets, 'page_funnel'), {
    recursive: true,
  });
  // The in-process serving and stream cores read the declarations from here too.
  process.env['TWINFLOW_DATASETS_DIR'] = datasets;
});

let seq = 0;
/** `n` events of one step of a product at `hh:mm` (the n-th at second n), quantity 1 unless given. */
function events(product: string, step: string, hhmm: string, n = 1, quantity = 1) {
  return Array.from({ length: n }, (_, i) => ({
    event_id: `e${++seq}`,
    product_id: product,
    step,
    quantity,
    event_time: `${DAY}T${hhmm}:${String(i % 60).padStart(2, '0')}Z`,
  }));
}

const purchase = events('p1', 'purchase', '10:00', 1, 3)[0] as Record<string, unknown>;
const FUNNEL = [
  ...events('p1', 'view', '10:00'),
  ...events('p1', 'cart', '10:00'),
  purchase,
  ...events('p1', 'view', '10:01', 5),
  ...events('p1', 'view', '10:02', 2),
  ...events('p1', 'cart', '10:02', 2),
  ...events('p2', 'cart', '10:05'),
  ...events('p2', 'view', '11:00', 3),
  ...events('p2', 'cart', '11:00', 2),
  ...events('p2', 'purchase', '11:00', 1, 2),
  ...events('p3', 'view', '12:00', 128),
  ...events('p3', 'cart', '12:00'),
];
/** A producer retry of the purchase (counted once: the earliest copy wins) and an invalid step. */
const RETRY = { ...purchase, event_time: `${DAY}T10:30:00Z` };
const INVALID = { ...events('p1', 'view', '10:03')[0], step: 'wishlist' };

const ratios = (
  view_to_cart: string | null,
  cart_to_purchase: string | null,
  view_to_purchase: string | null,
  units_per_purchase: string | null,
) => ({ view_to_cart, cart_to_purchase, view_to_purchase, units_per_purchase });

/** By hour: 10:00 is 8 views, 4 carts, 1 purchase of 3 units. */
const HOURS = [
  {
    window_start: `${DAY}T10:00:00Z`,
    views: 8,
    carts: 4,
    purchases: 1,
    units: 3,
    ...ratios('0.500000', '0.250000', '0.125000', '3.000000'),
  },
  {
    window_start: `${DAY}T11:00:00Z`,
    views: 3,
    carts: 2,
    purchases: 1,
    units: 2,
    ...ratios('0.666667', '0.500000', '0.333333', '2.000000'),
  },
  // 1/128 = 0.0078125: half away from zero. No purchase: units per purchase has no value.
  {
    window_start: `${DAY}T12:00:00Z`,
    views: 128,
    carts: 1,
    purchases: 0,
    units: 0,
    ...ratios('0.007813', '0.000000', '0.000000', null),
  },
];
const TOTALS = {
  views: 139,
  carts: 7,
  purchases: 2,
  units: 5,
  ...ratios('0.050360', '0.285714', '0.014388', '2.500000'),
};
/** Windows ending with the minute of 10:05:30. */
const WINDOWS = [
  // Only p2's cart at 10:05: no views, no purchases.
  { minutes: 1, views: 0, carts: 1, purchases: 0, units: 0, ...ratios(null, '0.000000', null, null) },
  {
    minutes: 5,
    views: 7,
    carts: 3,
    purchases: 0,
    units: 0,
    ...ratios('0.428571', '0.000000', '0.000000', null),
  },
  {
    minutes: 15,
    views: 8,
    carts: 4,
    purchases: 1,
    units: 3,
    ...ratios('0.500000', '0.250000', '0.125000', '3.000000'),
  },
];

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

describe('declared ratios, served', () => {
  it('batch: twinflow query --model gives each row and the totals the ratio of their own sums, exact, null for a zero denominator; the API serves them in windows and lists them', async () => {
    // Prepare: the day's export, with a producer retry and an invalid event.
    const env = { TWINFLOW_DATASETS_DIR: datasets };
    const data = tempDir();
    const lake = path.join(data, 'lake');
    const landing = path.join(lake, 'landing', 'page_funnel', `dt=${DAY}`);
    mkdirSync(landing, { recursive: true });
    const lines = [...FUNNEL, RETRY, INVALID].map((e) => JSON.stringify(e));
    writeFileSync(path.join(landing, 'funnel.jsonl'), `${lines.join('\n')}\n`);
    const query = (...args: string[]) =>
      twinflowWith(env, 'query', '--model', MODEL, '--start', DAY, '--lake', lake, ...args);
    const windowsEvent = path.join(data, 'windows.json');
    writeFileSync(
      windowsEvent,
      JSON.stringify(apiEvent(`/metrics/${MODEL}/windows`, { sizes: '1,5,15', at: `${DAY}T10:05:30Z` })),
    );
    const datasetsEvent = path.join(data, 'datasets.json');
    writeFileSync(datasetsEvent, JSON.stringify(apiEvent('/datasets', {})));

    // Act
    const batch = await twinflowWith(env, 'batch', '--dataset', 'page_funnel', '--date', DAY, '--lake', lake);
    const [byHour, byMinute, byProduct, table] = await Promise.all([
      query('--granularity', 'hour', '--json'),
      query('--granularity', 'minute', '--json'),
      query('--granularity', 'day', '--group-by', 'product_id', '--json'),
      query('--granularity', 'day', '--group-by', 'product_id'),
    ]);
    const [windows, listed] = await Promise.all([
      twinflowWith(env, 'invoke', 'query-sales', '--event', windowsEvent, '--data', data),
      twinflowWith(env, 'invoke', 'query-sales', '--event', datasetsEvent, '--data', data),
    ]);

    // Assess
    expect(batch.code, batch.stderr).toBe(0);
    for (const result of [byHour, byMinute, byProduct, table, windows, listed]) {
      expect(result.code, result.stderr).toBe(0);
    }
    const hours = JSON.parse(byHour.stdout);
    expect(hours.segments.map((s: { source: string }) => s.source)).toEqual(['batch']);
    expect(hours.rows).toEqual(HOURS);
    expect(hours.totals).toEqual(TOTALS);

    const minutes = JSON.parse(byMinute.stdout);
    expect(minutes.totals).toEqual(TOTALS);
    expect(minutes.rows).toEqual([
      {
        window_start: `${DAY}T10:00:00Z`,
        views: 1,
        carts: 1,
        purchases: 1,
        units: 3,
        ...ratios('1.000000', '1.000000', '1.000000', '3.000000'),
      },
      {
        window_start: `${DAY}T10:01:00Z`,
        views: 5,
        carts: 0,
        purchases: 0,
        units: 0,
        ...ratios('0.000000', null, '0.000000', null),
      },
      {
        window_start: `${DAY}T10:02:00Z`,
        views: 2,
        carts: 2,
        purchases: 0,
        units: 0,
        ...ratios('1.000000', '0.000000', '0.000000', null),
      },
      {
        window_start: `${DAY}T10:05:00Z`,
        views: 0,
        carts: 1,
        purchases: 0,
        units: 0,
        ...ratios(null, '0.000000', null, null),
      },
      {
        window_start: `${DAY}T11:00:00Z`,
        views: 3,
        carts: 2,
        purchases: 1,
        units: 2,
        ...ratios('0.666667', '0.500000', '0.333333', '2.000000'),
      },
      {
        window_start: `${DAY}T12:00:00Z`,
        views: 128,
        carts: 1,
        purchases: 0,
        units: 0,
        ...ratios('0.007813', '0.000000', '0.000000', null),
      },
    ]);
    // Ratio of the sums, not the average of the ratios: hour 10's minutes average 0.666667 views to carts, the
    // hour is 0.500000; the day's minutes average 0.534896, the day is 0.050360.
    const viewToCart = (rows: { window_start: string; view_to_cart: string | null }[]) =>
      rows.flatMap((r) => (r.view_to_cart === null ? [] : [Number(r.view_to_cart)]));
    const hour10 = minutes.rows.filter((r: { window_start: string }) => r.window_start < `${DAY}T11`);
    expect(mean(viewToCart(hour10))).toBeCloseTo(2 / 3, 6);
    expect(mean(viewToCart(minutes.rows))).toBeCloseTo(0.534896, 6);

    // Whole published days at granularity=day are read from the daily rollup: the ratios are the same sums'.
    const products = JSON.parse(byProduct.stdout);
    expect(products.rows).toEqual([
      {
        window_start: `${DAY}T00:00:00Z`,
        product_id: 'p3',
        views: 128,
        carts: 1,
        purchases: 0,
        units: 0,
        ...ratios('0.007813', '0.000000', '0.000000', null),
      },
      {
        window_start: `${DAY}T00:00:00Z`,
        product_id: 'p1',
        views: 8,
        carts: 3,
        purchases: 1,
        units: 3,
        ...ratios('0.375000', '0.333333', '0.125000', '3.000000'),
      },
      {
        window_start: `${DAY}T00:00:00Z`,
        product_id: 'p2',
        views: 3,
        carts: 3,
        purchases: 1,
        units: 2,
        ...ratios('1.000000', '0.333333', '0.333333', '2.000000'),
      },
    ]);
    expect(products.totals).toEqual(TOTALS);

    const header = table.stdout.split('\n').find((line) => line.startsWith('window_start')) ?? '';
    expect(header.split(/\s+/)).toEqual([
      'window_start',
      'product_id',
      'views',
      'carts',
      'purchases',
      'units',
      'view_to_cart',
      'cart_to_purchase',
      'view_to_purchase',
      'units_per_purchase',
    ]);
    const p3 = table.stdout.split('\n').find((line) => line.includes(' p3 ')) ?? '';
    expect(p3.split(/\s+/).slice(-4)).toEqual(['0.007813', '0.000000', '0.000000', '—']);
    expect(
      table.stdout
        .split('\n')
        .find((line) => line.startsWith('total'))
        ?.split(/\s+/)
        .slice(-4),
    ).toEqual(['0.050360', '0.285714', '0.014388', '2.500000']);

    const windowsBody = JSON.parse(JSON.parse(windows.stdout).body);
    expect(windowsBody.windows.map(withoutBounds)).toEqual(WINDOWS);
    const listedModels = JSON.parse(JSON.parse(listed.stdout).body).datasets.flatMap(
      (d: { models: unknown[] }) => d.models,
    );
    expect(listedModels.find((m: { name: string }) => m.name === MODEL).ratios).toEqual([
      { name: 'view_to_cart', numerator: 'carts', denominator: 'views' },
      { name: 'cart_to_purchase', numerator: 'purchases', denominator: 'carts' },
      { name: 'view_to_purchase', numerator: 'purchases', denominator: 'views' },
      { name: 'units_per_purchase', numerator: 'units', denominator: 'purchases' },
    ]);
  }, 120_000);

  it("realtime: the consumer's micro-batches, compacted, serve the same ratios in rows, totals and windows", async () => {
    // Prepare: the same events as two micro-batches; the retry arrives in the second.
    const { deps, clock } = streamDeps(new Date(`${DAY}T13:00:00Z`));
    const first = messages(FUNNEL.slice(0, 80), 'a');
    const second = messages([...FUNNEL.slice(80), RETRY, INVALID], 'b');
    const model = servedModel(MODEL);

    // Act
    const results = [
      await consumeMicroBatch({ messages: first, dataset: 'page_funnel' }, deps),
      await consumeMicroBatch({ messages: second, dataset: 'page_funnel' }, deps),
    ];
    await compactRealtime(deps, { now: clock.now, days: [DAY], datasets: ['page_funnel'] });
    const serving = { ...deps, cache: new BatchCache() };
    const byHour = await queryMetric(
      model,
      {
        start: new Date(`${DAY}T00:00:00Z`),
        end: new Date('2026-11-21T00:00:00Z'),
        granularity: 'hour',
        filters: {},
        groupBy: [],
      },
      serving,
    );
    const windows = await metricWindows(
      model,
      { sizes: [1, 5, 15], at: new Date(`${DAY}T10:05:30Z`) },
      serving,
    );

    // Assess
    expect(results.map((r) => [r.failedMessageIds, r.quarantined])).toEqual([
      [[], 0],
      [[], 1],
    ]);
    expect(byHour.segments.map((s) => s.source)).toEqual(['realtime']);
    expect(byHour.rows).toEqual(HOURS);
    expect(byHour.totals).toEqual(TOTALS);
    expect(windows.windows.map(withoutBounds)).toEqual(WINDOWS);
  }, 60_000);
});

function withoutBounds({ start: _start, end: _end, ...rest }: Record<string, unknown>) {
  return rest;
}

function apiEvent(routePath: string, query: Record<string, string>) {
  return {
    version: '2.0',
    routeKey: `GET ${routePath}`,
    rawPath: routePath,
    rawQueryString: new URLSearchParams(query).toString(),
    queryStringParameters: query,
    requestContext: { http: { method: 'GET', path: routePath } },
    isBase64Encoded: false,
  };
}
