import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { silentLog } from '../../functions/pipeline/ports.ts';
import { dispatch } from '../../functions/query-sales/router.ts';
import { routes } from '../../functions/query-sales/routes/index.ts';
import { BatchCache } from '../../functions/serving/batch-cache.ts';
import type { ServingDeps } from '../../functions/serving/sales.ts';
import { QUERY_ROUTES } from '../../lib/constructs/query-api.ts';
import { hourlySales, publishBatchDay, putRealtimePartial } from './lake-fixtures.ts';

const lakeDir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-metrics-'));
const NOW = new Date('2026-11-21T14:05:00Z');
let deps: ServingDeps;

async function get(path: string, query: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const event = {
    rawPath: path,
    rawQueryString: query,
    requestContext: { http: { method: 'GET', path } },
  } as unknown as APIGatewayProxyEventV2;
  const result = await dispatch(event, routes, { ...deps, cache: new BatchCache() });
  return { status: result.statusCode, body: JSON.parse(result.body) as Record<string, unknown> };
}

/** `/sales` minus what only it echoes: the same answer `GET /metrics/sales_minute` must give. */
function comparable(body: Record<string, unknown>) {
  const { query: _query, generated_at: _at, ...rest } = body;
  return rest;
}

beforeAll(async () => {
  const store = new LocalDirectoryStore(lakeDir);
  deps = { store, clock: () => NOW, log: silentLog };
  const hours = Array.from({ length: 24 }, (_, h) => h);
  await publishBatchDay(
    store,
    '2026-11-19',
    hourlySales('2026-11-19', hours, 'a', { unit_price: '1.25' }),
    'v19',
  );
  await publishBatchDay(
    store,
    '2026-11-20',
    [
      ...hourlySales('2026-11-20', hours, 'b', { unit_price: '0.10', quantity: 2 }),
      ...hourlySales('2026-11-20', [3, 9], 'c', { unit_price: '9.99', product_id: 'p-hot' }),
    ],
    'v20',
  );
  for (const sale of hourlySales('2026-11-21', [0, 5, 13, 14], 'r', { unit_price: '2.00' }, 2)) {
    await putRealtimePartial(store, '2026-11-21', sale.event_time.slice(11, 13), `rt-${sale.order_id}`, [
      sale,
    ]);
  }
});

afterAll(() => rmSync(lakeDir, { recursive: true, force: true }));

describe('GET /metrics/{model}', () => {
  it('CDK and the handler serve the same routes, one pair per declared minute model', () => {
    expect(QUERY_ROUTES).toEqual(
      expect.arrayContaining(['/metrics/sales_minute', '/metrics/sales_minute/windows']),
    );
    expect(routes.map((r) => r.path).sort()).toEqual([...QUERY_ROUTES].sort());
  });

  it.each([
    ['start=2026-11-19&end=2026-11-22&granularity=day', 'start=2026-11-19&end=2026-11-22&granularity=day'],
    [
      'start=2026-11-20T02:00:00Z&end=2026-11-21T14:00:00Z',
      'start=2026-11-20T02:00:00Z&end=2026-11-21T14:00:00Z',
    ],
    [
      'start=2026-11-20&granularity=minute&product_id=p-hot',
      'start=2026-11-20&granularity=minute&product_id=p-hot',
    ],
    [
      'start=2026-11-19&end=2026-11-22&group_by=product',
      'start=2026-11-19&end=2026-11-22&group_by=product_id',
    ],
    [
      'start=2026-11-19&end=2026-11-22&granularity=day&tz=Asia/Taipei',
      'start=2026-11-19&end=2026-11-22&granularity=day&tz=Asia/Taipei',
    ],
  ])(
    '/sales?%s is /metrics/sales_minute?%s: the orders model through the same engine',
    async (sales, metrics) => {
      const a = await get('/sales', sales);
      const b = await get('/metrics/sales_minute', metrics);
      expect(a.status).toBe(200);
      expect(b.status).toBe(200);
      expect(comparable(b.body)).toEqual(comparable(a.body));
      expect((b.body['rows'] as unknown[]).length).toBeGreaterThan(0);
      expect(b.body['query']).toMatchObject({ model: 'sales_minute', granularity: expect.any(String) });
    },
  );

  it('groups by any declared dimensions and filters by each, rows carrying them', async () => {
    const { body } = await get(
      '/metrics/sales_minute',
      'start=2026-11-20&granularity=day&group_by=product_id,currency&currency=USD',
    );
    const rows = body['rows'] as Record<string, unknown>[];
    expect(rows.every((r) => r['currency'] === 'USD' && typeof r['product_id'] === 'string')).toBe(true);
    expect(rows.find((r) => r['product_id'] === 'p-hot')).toMatchObject({ orders: 2, revenue: '19.98' });
    expect(body['totals']).toMatchObject({ orders: 26, units: 50 });
    expect(body['query']).toMatchObject({ group_by: ['product_id', 'currency'], where: { currency: 'USD' } });
  });

  it('windows: the last 1, 5 and 15 minutes with each measure by name, as /sales/windows', async () => {
    const a = await get('/sales/windows', 'sizes=1,5,15&at=2026-11-21T14:02:30Z');
    const b = await get('/metrics/sales_minute/windows', 'sizes=1,5,15&at=2026-11-21T14:02:30Z');
    expect(b.status).toBe(200);
    expect((b.body['windows'] as unknown[]).map((w) => ({ ...(w as object) }))).toEqual(a.body['windows']);
    expect((b.body['windows'] as { orders: number }[]).map((w) => w.orders)).toEqual([1, 1, 1]);
  });

  it('GET /datasets lists the declarations as twinflow datasets --json does', async () => {
    const { status, body } = await get('/datasets', '');
    expect(status).toBe(200);
    const datasets = body['datasets'] as { name: string; models: { name: string }[] }[];
    expect(datasets.map((d) => d.name)).toEqual(['clicks', 'inventory', 'orders', 'stock_counts']);
    expect(datasets.find((d) => d.name === 'orders')).toMatchObject({
      source: 'stream+batch',
      models: [{ name: 'sales_minute', measures: ['orders', 'units', 'revenue'] }, { name: 'daily_sales' }],
    });
    expect(datasets.find((d) => d.name === 'clicks')).toMatchObject({
      source: 'stream+batch',
      key: ['event_id'],
      models: [
        {
          name: 'funnel_minute',
          grain: 'minute',
          dimensions: ['product_id'],
          measures: ['product_views', 'add_to_carts', 'checkouts', 'purchases'],
          ratios: [
            { name: 'view_to_cart', numerator: 'add_to_carts', denominator: 'product_views' },
            { name: 'cart_to_purchase', numerator: 'purchases', denominator: 'add_to_carts' },
            { name: 'view_to_purchase', numerator: 'purchases', denominator: 'product_views' },
          ],
        },
        {
          name: 'sessions_minute',
          grain: 'minute',
          dimensions: ['device'],
          measures: ['sessions', 'bounced_sessions', 'converted_sessions', 'unique_users'],
          measure_kinds: { sessions: 'count', unique_users: 'distinct' },
        },
      ],
    });
    expect(datasets.find((d) => d.name === 'inventory')).toMatchObject({
      source: 'stream+batch',
      key: ['movement_id'],
      models: [
        {
          name: 'stock_movements_minute',
          grain: 'minute',
          dimensions: ['product_id', 'warehouse_id'],
          measures: ['received', 'sold', 'returned', 'adjusted', 'net_change'],
          ratios: [],
        },
      ],
    });
    expect(datasets.find((d) => d.name === 'stock_counts')).toMatchObject({
      source: 'batch',
      key: ['product_id', 'warehouse_id', 'counted_at'],
      event_time: 'counted_at',
      models: [
        {
          name: 'stock_counts_minute',
          grain: 'minute',
          dimensions: ['product_id', 'warehouse_id'],
          measures: ['counts', 'counted_units'],
        },
      ],
    });
    expect((await get('/datasets', 'x=1')).status).toBe(400);
  });

  it('refuses what the model does not declare, naming the parameter; an unknown model is a 404', async () => {
    const unknownDim = await get('/metrics/sales_minute', 'start=2026-11-20&color=red');
    expect(unknownDim.status).toBe(400);
    expect(unknownDim.body).toMatchObject({ parameter: 'color' });
    expect(String(unknownDim.body['detail'])).toContain('dimensions: product_id, currency');
    const badGroup = await get('/metrics/sales_minute', 'start=2026-11-20&group_by=color');
    expect(badGroup).toMatchObject({ status: 400, body: { parameter: 'group_by' } });
    const noStart = await get('/metrics/sales_minute', 'granularity=day');
    expect(noStart).toMatchObject({ status: 400, body: { parameter: 'start', detail: 'start is required' } });
    expect((await get('/metrics/nope', 'start=2026-11-20')).status).toBe(404);
  });
});
