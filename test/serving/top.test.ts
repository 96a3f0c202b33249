import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { InvalidInputError } from '../../functions/pipeline/errors.ts';
import type { CoreDeps } from '../../functions/pipeline/ports.ts';
import { BatchCache } from '../../functions/serving/batch-cache.ts';
import { servedModel } from '../../functions/serving/metric-model.ts';
import { paramsFromQueryString, parseTopParams } from '../../functions/serving/query-params.ts';
import { type TopResponse, topOf } from '../../functions/serving/top.ts';
import { compactRealtime } from '../../functions/stream/compaction.ts';
import { consumeMicroBatch, type StreamMessage } from '../../functions/stream/micro-batch.ts';
import { projectDatasets } from '../cli/project-datasets.ts';
import { streamDeps } from '../stream/stream-helpers.ts';

/**
 * `GET /metrics/{model}/top` (the core, topOf) over the stock_moves fixture dataset the repository does not ship:
 * real DuckDB, real micro-batches, compaction and batch runs on a local lake, a fixed serving clock.
 */

const DATASET = 'stock_moves';
/** 10:10:30: the 15-minute window is the buckets 09:56 … 10:10, i.e. [09:56:00, 10:11:00). */
const NOW = new Date('2026-11-21T10:10:30Z');

const datasetsDir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-top-datasets-'));

beforeAll(() => {
  // Before any model is served: servedModel() reads the declarations of this directory (model SQL lazily).
  process.env['TWINFLOW_DATASETS_DIR'] = projectDatasets(datasetsDir, ['stock_moves']);
});

afterAll(() => rmSync(datasetsDir, { recursive: true, force: true }));

interface Move {
  movement_id: string;
  product_id: string;
  warehouse_id: string;
  movement_type: string;
  quantity: number;
  event_time: string;
}

let serial = 0;
/** A movement at `event_time`; the rest varies deterministically. */
function move(product: string, eventTime: string, overrides: Partial<Move> = {}): Move {
  serial += 1;
  return {
    movement_id: `mv-${serial}`,
    product_id: product,
    warehouse_id: serial % 3 === 0 ? 'w-south' : 'w-north',
    movement_type: ['receipt', 'sale', 'return', 'adjustment'][serial % 4] as string,
    quantity: (serial % 7) + 1,
    event_time: eventTime,
    ...overrides,
  };
}

/** `n` movements of `product`, one per minute from `first` (HH:MM on NOW's day) on. */
function moves(product: string, n: number, first: string, day = '2026-11-21'): Move[] {
  const [h, m] = first.split(':').map(Number) as [number, number];
  return Array.from({ length: n }, (_, i) => {
    const at = new Date(Date.UTC(2026, 10, 21, h, m + i, 17));
    return move(product, `${day}${at.toISOString().slice(10, 19)}Z`);
  });
}

/** Each movement as an SQS message whose id is its movement id (a redelivery keeps the id). */
function asMessages(list: readonly Move[]): StreamMessage[] {
  return list.map((m) => ({ messageId: `msg-${m.movement_id}`, body: JSON.stringify(m) }));
}

async function consume(deps: CoreDeps, list: readonly Move[]) {
  const result = await consumeMicroBatch({ messages: asMessages(list), dataset: DATASET }, deps);
  expect(result.failedMessageIds).toEqual([]);
  expect(result.quarantined).toBe(0);
  return result;
}

/** What `GET /metrics/<model>/top?<query>` answers (parsing included), or the 400 it gives. */
async function top(deps: CoreDeps, model: string, query: string): Promise<TopResponse> {
  const served = servedModel(model);
  return topOf(served, parseTopParams(served, paramsFromQueryString(query)), {
    ...deps,
    cache: new BatchCache(),
  });
}

/** The independent answer: per product, the movements with an event time in [start, end), highest first. */
function expectedRanking(list: readonly Move[], start: string, end: string, where = (_: Move) => true) {
  const counts = new Map<string, { movements: number; net_change: number }>();
  for (const m of list) {
    if (m.event_time < start || m.event_time >= end || !where(m)) continue;
    const c = counts.get(m.product_id) ?? { movements: 0, net_change: 0 };
    c.movements += 1;
    c.net_change += m.movement_type === 'sale' ? -m.quantity : m.quantity;
    counts.set(m.product_id, c);
  }
  return [...counts]
    .sort(([a, x], [b, y]) => y.movements - x.movements || (a < b ? -1 : 1))
    .map(([product_id, c]) => ({ product_id, ...c }));
}

const ranking = (body: TopResponse) => body.top.map((r) => [r['product_id'], r['movements']]);

describe('GET /metrics/{model}/top', () => {
  it('ranks the last 15 minutes exactly as an independent count; older movements and an older published batch day do not count', async () => {
    // Prepare: movements inside the window (ties between p1 and p2), just before it, an hour before it, and a
    // published batch day before it whose product would top everything if it leaked in.
    const { deps } = streamDeps(NOW);
    const inWindow = [
      ...moves('p0', 5, '09:56'),
      ...moves('p1', 3, '10:02'),
      ...moves('p2', 3, '10:08'),
      ...moves('p3', 1, '10:10'),
      ...moves('p4', 2, '09:59'),
    ];
    const older = [
      ...moves('p3', 6, '09:50'), // 09:50 … 09:55: the minutes just before the window
      ...moves('p4', 9, '08:30'),
    ];
    const yesterday = moves('p9', 40, '12:00', '2026-11-20');
    await deps.store.put(
      `landing/${DATASET}/dt=2026-11-20/moves.jsonl`,
      `${yesterday.map((m) => JSON.stringify(m)).join('\n')}\n`,
    );
    const report = await runBatchDay(
      { day: '2026-11-20', dataset: DATASET, thresholds: { force: true } },
      deps,
    );
    expect(report.status, report.error).toBe('published');
    await consume(deps, [...older.slice(0, 4), ...inWindow.slice(0, 7)]);
    await consume(deps, [...inWindow.slice(7), ...older.slice(4)]);

    // Act
    const body = await top(deps, 'moves_minute', 'measure=movements&minutes=15&limit=10');
    const two = await top(deps, 'moves_minute', 'measure=movements&limit=2');
    const north = await top(deps, 'moves_minute', 'measure=movements&warehouse_id=w-north');
    const hour = await top(deps, 'moves_minute', 'measure=movements&minutes=60');

    // Assess
    const start = '2026-11-21T09:56:00Z';
    const end = '2026-11-21T10:11:00Z';
    const expected = expectedRanking([...inWindow, ...older, ...yesterday], start, end);
    expect(expected.map((r) => r.product_id)).toEqual(['p0', 'p1', 'p2', 'p4', 'p3']);
    expect(body.top).toEqual(expected);
    expect(body).toMatchObject({
      model: 'moves_minute',
      measure: 'movements',
      minutes: 15,
      limit: 10,
      by: 'product_id',
      start: '2026-11-21T09:56:00.000Z',
      end: '2026-11-21T10:11:00.000Z',
      segments: [{ start: '2026-11-21T09:56:00.000Z', end: '2026-11-21T10:11:00.000Z', source: 'realtime' }],
      batch_boundary: '2026-11-21T00:00:00.000Z',
      realtime_freshness: '2026-11-21T10:10:00Z',
    });
    expect(ranking(two)).toEqual([
      ['p0', 5],
      ['p1', 3],
    ]);
    expect(north.where).toEqual({ warehouse_id: 'w-north' });
    expect(north.top).toEqual(
      expectedRanking(inWindow, start, end, (m) => m.warehouse_id === 'w-north').slice(0, 10),
    );
    // An hour reaches back to 09:11: the older p3 minutes and none of 08:30 or the batch day.
    expect(hour.top).toEqual(expectedRanking([...inWindow, ...older], '2026-11-21T09:11:00Z', end));
    expect(ranking(hour)[0]).toEqual(['p3', 7]);
  });

  it('a movement redelivered in another micro-batch counts twice until compaction, then once; a redelivered batch never does', async () => {
    // Prepare: pA and pB tie at 2 (pA first by name). SQS redelivers pB's first movement in a later batch of
    // another grouping (a consumer timed out after writing), and the first batch again as it was.
    const { deps } = streamDeps(NOW);
    const list = [...moves('pA', 2, '10:00'), ...moves('pB', 2, '10:03'), ...moves('pC', 1, '10:05')];
    const [a1, a2, b1, b2, c1] = list as [Move, Move, Move, Move, Move];
    await consume(deps, [a1, b1, c1]);
    await consume(deps, [a2, b1, b2]);
    await consume(deps, [a1, b1, c1]);
    const query = 'measure=movements&minutes=15';

    // Act
    const beforeCompaction = await top(deps, 'moves_minute', query);
    const distinctBefore = await top(deps, 'moves_by_type_minute', 'measure=products');
    const compaction = await compactRealtime(deps, { now: NOW, datasets: [DATASET] });
    const afterCompaction = await top(deps, 'moves_minute', query);
    const distinctAfter = await top(deps, 'moves_by_type_minute', 'measure=products');

    // Assess: the speed layer's documented semantics (README, The speed layer, step 3): partials are keyed by
    // their batch's message ids, so the identical redelivery overwrote its own files, while the regrouped copy of
    // b1 is in a second partial until compaction dedupes by movement_id.
    expect(ranking(beforeCompaction)).toEqual([
      ['pB', 3],
      ['pA', 2],
      ['pC', 1],
    ]);
    expect(compaction.days).toEqual([
      expect.objectContaining({ day: '2026-11-21', orders: 5, duplicates: 1 }),
    ]);
    expect(afterCompaction.top).toEqual(
      expectedRanking(list, '2026-11-21T09:56:00Z', '2026-11-21T10:11:00Z'),
    );
    expect(ranking(afterCompaction)).toEqual([
      ['pA', 2],
      ['pB', 2],
      ['pC', 1],
    ]);
    // A distinct measure ranks by its set size, exact before compaction too (a union counts b1's product once).
    const products = new Map<string, Set<string>>();
    for (const m of list)
      products.set(m.movement_type, (products.get(m.movement_type) ?? new Set()).add(m.product_id));
    const expectedTypes = [...products]
      .sort(([a, x], [b, y]) => y.size - x.size || (a < b ? -1 : 1))
      .map(([type, set]) => [type, set.size]);
    const types = (body: TopResponse) => body.top.map((r) => [r['movement_type'], r['products']]);
    expect(distinctBefore.by).toBe('movement_type');
    expect(types(distinctBefore)).toEqual(expectedTypes);
    expect(types(distinctAfter)).toEqual(expectedTypes);
    expect(distinctAfter.top[0]).toEqual({
      movement_type: expectedTypes[0]?.[0],
      products: expectedTypes[0]?.[1],
      movements: list.filter((m) => m.movement_type === expectedTypes[0]?.[0]).length,
      units: list
        .filter((m) => m.movement_type === expectedTypes[0]?.[0])
        .reduce((sum, m) => sum + Math.abs(m.quantity), 0),
    });
  });

  it('a window across midnight reads the published day from batch and today from realtime, never both', async () => {
    // Prepare: 00:05:30, so the window is [23:51, 00:06). The stream saw yesterday's movements too, and one batch
    // does not have (batch wins for its hours).
    const { deps } = streamDeps(new Date('2026-11-21T00:05:30Z'));
    const yesterday = [...moves('pX', 3, '23:55', '2026-11-20'), ...moves('pY', 1, '23:58', '2026-11-20')];
    const streamOnly = moves('pY', 1, '23:57', '2026-11-20');
    const today = moves('pY', 3, '00:01');
    await deps.store.put(
      `landing/${DATASET}/dt=2026-11-20/moves.jsonl`,
      `${yesterday.map((m) => JSON.stringify(m)).join('\n')}\n`,
    );
    const report = await runBatchDay(
      { day: '2026-11-20', dataset: DATASET, thresholds: { force: true } },
      deps,
    );
    expect(report.status, report.error).toBe('published');
    await consume(deps, [...yesterday, ...streamOnly, ...today]);

    // Act
    const body = await top(deps, 'moves_minute', 'measure=movements');

    // Assess
    expect(ranking(body)).toEqual([
      ['pY', 4],
      ['pX', 3],
    ]);
    expect(body.segments).toEqual([
      { start: '2026-11-20T23:51:00.000Z', end: '2026-11-21T00:00:00.000Z', source: 'batch' },
      { start: '2026-11-21T00:00:00.000Z', end: '2026-11-21T00:06:00.000Z', source: 'realtime' },
    ]);
  });

  it('money ranks only within the currency the query filters', async () => {
    // Prepare: orders in USD and JPY; product a sells in both.
    const { deps } = streamDeps(NOW);
    const order = (id: string, product: string, price: string, currency: string, quantity = 1) => ({
      messageId: `o-${id}`,
      body: JSON.stringify({
        event_id: `e-${id}`,
        order_id: id,
        user_id: 'u1',
        product_id: product,
        quantity,
        unit_price: price,
        currency,
        event_time: '2026-11-21T10:05:00Z',
      }),
    });
    const result = await consumeMicroBatch(
      {
        messages: [
          order('1', 'a', '10.00', 'USD'),
          order('2', 'a', '5000.00', 'JPY'),
          order('3', 'b', '7.50', 'USD', 3),
          order('4', 'c', '100000.00', 'JPY'),
        ],
      },
      deps,
    );
    expect(result, JSON.stringify(result)).toMatchObject({ orders: 4 });

    // Act
    const usd = await top(deps, 'sales_minute', 'measure=revenue&currency=USD');
    const jpy = await top(deps, 'sales_minute', 'measure=revenue&currency=JPY');
    const orders = await top(deps, 'sales_minute', 'measure=orders');

    // Assess
    expect(usd.top).toEqual([
      { product_id: 'b', revenue: '22.50', orders: 1, units: 3, revenue_by_currency: { USD: '22.50' } },
      { product_id: 'a', revenue: '10.00', orders: 1, units: 1, revenue_by_currency: { USD: '10.00' } },
    ]);
    expect(jpy.top.map((r) => [r['product_id'], r['revenue']])).toEqual([
      ['c', '100000.00'],
      ['a', '5000.00'],
    ]);
    // A count adds across currencies; the row keeps its money per currency.
    expect(orders.top[0]).toEqual({
      product_id: 'a',
      orders: 2,
      units: 2,
      revenue_by_currency: { JPY: '5000.00', USD: '10.00' },
    });
  });

  it.each([
    ['', 'measure', /measure is required \(moves_minute measures: movements, net_change\)/],
    [
      'measure=revenue',
      'measure',
      /moves_minute has no measure "revenue" \(measures: movements, net_change\)/,
    ],
    ['measure=movements&minutes=0', 'minutes', /minutes must be a whole number 1\.\.1440/],
    ['measure=movements&minutes=1441', 'minutes', /minutes must be a whole number 1\.\.1440/],
    ['measure=movements&minutes=15m', 'minutes', /minutes must be a whole number 1\.\.1440/],
    ['measure=movements&limit=0', 'limit', /limit must be a whole number 1\.\.100/],
    ['measure=movements&limit=101', 'limit', /limit must be a whole number 1\.\.100/],
    ['measure=movements&by=movement_type', 'by', /moves_minute has no dimension "movement_type"/],
    ['measure=movements&sizes=1', 'sizes', /unknown parameter "sizes"/],
  ])('moves_minute/top?%s is a 400 naming %s', async (query, parameter, detail) => {
    const { deps } = streamDeps(NOW);
    const error = await top(deps, 'moves_minute', query).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).parameter).toBe(parameter);
    expect((error as Error).message).toMatch(detail);
  });

  it("each ranked value carries the model's ratios, from that value's own sums over the window", async () => {
    // Prepare: clicks' funnel_minute in the window: p-a 4 views, 2 carts, 1 purchase; p-b 1 cart, no view.
    const { deps } = streamDeps(NOW);
    const click = (i: number, product: string, type: string, at: string) => ({
      event_id: `c-${i}`,
      user_id: `u-${i % 3}`,
      event_type: type,
      product_id: product,
      event_time: `2026-11-21T${at}:05Z`,
    });
    const types = [
      'product_view',
      'product_view',
      'product_view',
      'product_view',
      'add_to_cart',
      'add_to_cart',
    ];
    const clicks = [
      ...types.map((type, i) => click(i, 'p-a', type, `10:0${i}`)),
      click(6, 'p-a', 'purchase', '10:07'),
      click(7, 'p-b', 'add_to_cart', '10:08'),
      click(8, 'p-b', 'add_to_cart', '09:40'), // before the window
    ];
    const result = await consumeMicroBatch(
      {
        messages: clicks.map((c) => ({ messageId: c.event_id, body: JSON.stringify(c) })),
        dataset: 'clicks',
      },
      deps,
    );
    expect(result.failedMessageIds).toEqual([]);

    // Act
    const body = await top(deps, 'funnel_minute', 'measure=add_to_carts');

    // Assess
    expect(body.top).toEqual([
      {
        product_id: 'p-a',
        add_to_carts: 2,
        product_views: 4,
        checkouts: 0,
        purchases: 1,
        view_to_cart: '0.500000',
        cart_to_purchase: '0.500000',
        view_to_purchase: '0.250000',
      },
      {
        product_id: 'p-b',
        add_to_carts: 1,
        product_views: 0,
        checkouts: 0,
        purchases: 0,
        view_to_cart: null,
        cart_to_purchase: '0.000000',
        view_to_purchase: null,
      },
    ]);
  });

  it.each([
    ['measure=revenue', 'currency', /revenue is money and ranks only within one currency: add currency=/],
    ['measure=orders&by=currency', 'by', /currency is a currency dimension: .*\(by: product_id\)/],
  ])('sales_minute/top?%s is a 400 naming %s', async (query, parameter, detail) => {
    const { deps } = streamDeps(NOW);
    const error = await top(deps, 'sales_minute', query).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).parameter).toBe(parameter);
    expect((error as Error).message).toMatch(detail);
  });
});
