import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../../functions/pipeline/dates.ts';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import type { ObjectStore } from '../../functions/pipeline/object-store.ts';
import { silentLog } from '../../functions/pipeline/ports.ts';
import { dispatch } from '../../functions/query-sales/router.ts';
import { routes } from '../../functions/query-sales/routes/index.ts';
import { parseInstant } from '../../functions/serving/query-params.ts';
import { expectedTotals, publishBatchDay, putRealtimePartial, type Sale } from '../serving/lake-fixtures.ts';
import { fixture, lambdaContext } from '../support/lambda-context.ts';

type Handler = (event: unknown, context: unknown) => Promise<APIGatewayProxyStructuredResultV2>;

const lakeDir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-handler-query-'));
const store = new LocalDirectoryStore(lakeDir);
const FIRST_BATCH_DAY = '2026-10-23';
const TODAY = '2026-11-21';
const batchSales = new Map<string, Sale[]>();
const todaySales: Sale[] = [
  { order_id: 't1', event_time: '2026-11-21T01:00:00Z', unit_price: '3.10' },
  { order_id: 't2', event_time: '2026-11-21T10:01:00Z', unit_price: '1.00', quantity: 2 },
  { order_id: 't3', event_time: '2026-11-21T10:14:30Z', unit_price: '0.05' },
  { order_id: 't4', event_time: '2026-11-21T10:15:10Z', unit_price: '7.77' },
];
let handler: Handler;
let template: APIGatewayProxyEventV2;

function body(response: APIGatewayProxyStructuredResultV2): Record<string, unknown> {
  return JSON.parse(String(response.body)) as Record<string, unknown>;
}

/** The fixture event with another path and query string, as API Gateway would build it. */
function request(rawPath: string, rawQueryString: string, method = 'GET'): APIGatewayProxyEventV2 {
  const queryStringParameters: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(rawQueryString)) {
    queryStringParameters[name] =
      name in queryStringParameters ? `${queryStringParameters[name]},${value}` : value;
  }
  return {
    ...template,
    routeKey: `${method} ${rawPath}`,
    rawPath,
    rawQueryString,
    queryStringParameters,
    requestContext: {
      ...template.requestContext,
      routeKey: `${method} ${rawPath}`,
      http: { ...template.requestContext.http, method, path: rawPath },
    },
  };
}

beforeAll(async () => {
  process.env['LAKE_DIR'] = lakeDir;
  process.env['CORS_ALLOWED_ORIGINS'] = 'https://dash.example.com';
  process.env['POWERTOOLS_LOG_LEVEL'] = 'ERROR';
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  for (let day = FIRST_BATCH_DAY; day < TODAY; day = addDays(day, 1)) {
    const sales: Sale[] = [
      { order_id: `${day}-a`, event_time: `${day}T08:30:00Z`, unit_price: '12.34' },
      { order_id: `${day}-b`, event_time: `${day}T19:59:59Z`, unit_price: '0.01', quantity: 3 },
    ];
    batchSales.set(day, sales);
    await publishBatchDay(store, day, sales, `v-${day}`);
  }
  for (const sale of todaySales) {
    await putRealtimePartial(store, TODAY, sale.event_time.slice(11, 13), `b-${sale.order_id}`, [sale]);
  }
  template = (await fixture('apigw-sales-1day.json')) as APIGatewayProxyEventV2;
  ({ handler } = (await import('../../functions/query-sales/handler.ts')) as unknown as { handler: Handler });
}, 30_000);

afterAll(() => rmSync(lakeDir, { recursive: true, force: true }));

describe('query-sales handler with the events/ fixtures', () => {
  it('apigw-sales-1day.json: one published day by hour, from batch', async () => {
    const response = await handler(await fixture('apigw-sales-1day.json'), lambdaContext());
    const result = body(response);
    expect(response.statusCode).toBe(200);
    expect(result['rows']).toEqual([
      {
        window_start: '2026-11-20T08:00:00Z',
        orders: 1,
        units: 1,
        revenue: '12.34',
        revenue_by_currency: { USD: '12.34' },
      },
      {
        window_start: '2026-11-20T19:00:00Z',
        orders: 1,
        units: 3,
        revenue: '0.03',
        revenue_by_currency: { USD: '0.03' },
      },
    ]);
    expect(result['segments']).toEqual([
      { start: '2026-11-20T00:00:00.000Z', end: '2026-11-21T00:00:00.000Z', source: 'batch' },
    ]);
    expect(response.headers?.['Access-Control-Allow-Origin']).toBe('https://dash.example.com');
  });

  it('apigw-sales-30days.json: 29 batch days and today from realtime add up', async () => {
    const response = await handler(await fixture('apigw-sales-30days.json'), lambdaContext());
    const result = body(response);
    expect(response.statusCode).toBe(200);
    expect(result['totals']).toEqual(expectedTotals([...[...batchSales.values()].flat(), ...todaySales]));
    expect((result['rows'] as unknown[]).length).toBe(30);
    expect(result['segments']).toEqual([
      { start: '2026-10-23T00:00:00.000Z', end: '2026-11-21T00:00:00.000Z', source: 'batch' },
      { start: '2026-11-21T00:00:00.000Z', end: '2026-11-22T00:00:00.000Z', source: 'realtime' },
    ]);
    expect(result['batch_boundary']).toBe('2026-11-21T00:00:00.000Z');
    expect(result['realtime_freshness']).toBe('2026-11-21T10:15:00Z');
  });

  it('apigw-windows.json: the last 1, 5 and 15 minutes', async () => {
    const response = await handler(await fixture('apigw-windows.json'), lambdaContext());
    expect(response.statusCode).toBe(200);
    expect((body(response)['windows'] as unknown[]).map((w) => (w as { revenue: string }).revenue)).toEqual([
      '7.77',
      '7.82',
      '9.82',
    ]);
  });

  it('apigw-bad-input.json: 400 naming the first bad parameter', async () => {
    const response = await handler(await fixture('apigw-bad-input.json'), lambdaContext());
    expect(response.statusCode).toBe(400);
    expect(body(response)).toMatchObject({ error: 'invalid_parameter', parameter: 'start' });
  });

  it('GET /health reports what is served', async () => {
    const response = await handler(request('/health', ''), lambdaContext());
    expect(response.statusCode).toBe(200);
    expect(body(response)).toMatchObject({
      status: 'ok',
      published_days: 29,
      batch_boundary: '2026-11-21T00:00:00.000Z',
    });
  });

  it('a range too large for its granularity is a 400 that names the limit', async () => {
    const response = await handler(
      request('/sales', 'start=2026-01-01&end=2026-11-01&granularity=hour'),
      lambdaContext(),
    );
    expect(response.statusCode).toBe(400);
    expect(body(response)).toMatchObject({
      error: 'range_too_large',
      parameter: 'end',
      limit: '92 days for granularity=hour',
    });
  });

  it('unknown routes are 404, other methods 405, repeated parameters 400', async () => {
    expect((await handler(request('/nope', ''), lambdaContext())).statusCode).toBe(404);
    expect((await handler(request('/sales', '', 'POST'), lambdaContext())).statusCode).toBe(405);
    const repeated = await handler(
      request('/sales', 'start=2026-11-20&start=2026-11-19&end=2026-11-21'),
      lambdaContext(),
    );
    expect(repeated.statusCode).toBe(400);
    expect(body(repeated)).toMatchObject({ parameter: 'start' });
  });

  it('a real fault is a 500 that hides the details and logs them', async () => {
    const errors: unknown[] = [];
    const broken: ObjectStore = Object.assign(Object.create(store) as ObjectStore, {
      get: async () => {
        throw new Error('disk on fire');
      },
    });
    const response = await dispatch(request('/sales', 'start=2026-11-20&end=2026-11-21'), routes, {
      store: broken,
      clock: () => new Date('2026-11-21T10:15:00Z'),
      log: { ...silentLog, error: (message, extra) => errors.push({ message, ...extra }) },
    });
    expect(response.statusCode).toBe(500);
    expect(response.body).not.toContain('disk on fire');
    expect(errors).toMatchObject([{ message: 'request failed', error: 'disk on fire' }]);
  });
});

// ---- generated bad input: every case names the parameter it breaks ----

interface BadCase {
  path: string;
  pairs: string[][];
  parameter: string;
}

const NASTY = [
  '',
  ' ',
  'yesterday',
  'now',
  'null',
  'undefined',
  'NaN',
  '-1',
  '1e309',
  '[]',
  '{}',
  '2026-13-01',
  '2026-02-30',
  '2026-11-31',
  '2026-11-20T24:00:00Z',
  '2026-11-20T10:60:00Z',
  '2026-11-20T10:00:00',
  '2026-11-20T10:00:00+19:00',
  '2026-11-20 10:00:00Z',
  '20261120',
  '1969-12-31',
  '１２３',
  "' or 1=1 --",
  "'); drop table sales_minute; --",
  '$1',
  '$' + '{start}',
  '%00',
  '\u0000',
  '\u202e2026-11-20',
  '🙂',
  '<script>alert(1)</script>',
];

function isValidInstant(value: string): boolean {
  try {
    parseInstant(value, 'x');
    return true;
  } catch {
    return false;
  }
}

const text = fc.oneof(
  fc.constantFrom(...NASTY),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.integer().map(String),
);
const badInstant = text.filter((value) => !isValidInstant(value));
const granularity = fc.constantFrom('minute', 'hour', 'day');
const okRange: [string, string][] = [
  ['start', '2026-11-20'],
  ['end', '2026-11-21'],
];
const LIMIT_DAYS = { minute: 7, hour: 92, day: 3660 } as const;

const badCases: fc.Arbitrary<BadCase> = fc.oneof(
  badInstant.map((v) => ({
    path: '/sales',
    pairs: [
      ['start', v],
      ['end', '2026-11-21'],
    ],
    parameter: 'start',
  })),
  badInstant.map((v) => ({
    path: '/sales',
    pairs: [
      ['start', '2026-11-20'],
      ['end', v],
    ],
    parameter: 'end',
  })),
  fc.constant<BadCase>({ path: '/sales', pairs: [['end', '2026-11-21']], parameter: 'start' }),
  text
    .filter((v) => !['minute', 'hour', 'day'].includes(v))
    .map((v) => ({ path: '/sales', pairs: [...okRange, ['granularity', v]], parameter: 'granularity' })),
  text
    .filter((v) => v !== 'product')
    .map((v) => ({ path: '/sales', pairs: [...okRange, ['group_by', v]], parameter: 'group_by' })),
  fc
    .oneof(fc.string({ unit: 'grapheme', minLength: 129, maxLength: 300 }), fc.constant(''))
    .filter((v) => v === '' || [...v].length > 128)
    .map((v) => ({ path: '/sales', pairs: [...okRange, ['product_id', v]], parameter: 'product_id' })),
  fc
    .tuple(granularity, fc.integer({ min: 0, max: 20 * 365 * 24 }), fc.integer({ min: 1, max: 10_000_000 }))
    .map(([g, startHours, extraMinutes]) => {
      const start = new Date(Date.UTC(2000, 0, 1) + startHours * 3_600_000);
      const end = new Date(start.getTime() + LIMIT_DAYS[g] * 86_400_000 + extraMinutes * 60_000);
      return {
        path: '/sales',
        pairs: [
          ['start', start.toISOString()],
          ['end', end.toISOString()],
          ['granularity', g],
        ],
        parameter: 'end',
      };
    }),
  fc.integer({ min: 0, max: 100_000 }).map((minutes) => {
    const end = new Date(Date.UTC(2026, 10, 20) - minutes * 60_000);
    return {
      path: '/sales',
      pairs: [
        ['start', '2026-11-20'],
        ['end', end.toISOString()],
      ],
      parameter: 'end',
    };
  }),
  fc
    .tuple(
      fc.constantFrom('start', 'end', 'granularity', 'product_id', 'group_by'),
      fc.constantFrom('x', '2026-11-20', 'hour'),
    )
    .map(([name, value]) => ({
      path: '/sales',
      pairs: [...okRange, [name, value], [name, value]] as [string, string][],
      parameter: name,
    })),
  fc
    .oneof(fc.constantFrom(...NASTY), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }))
    .filter(
      (name) => name !== '' && !['start', 'end', 'granularity', 'product_id', 'group_by'].includes(name),
    )
    .map((name) => ({
      path: '/sales',
      pairs: [...okRange, [name, '1']] as [string, string][],
      parameter: name,
    })),
  text
    .filter(
      (v) => !/^\d{1,4}(,\d{1,4})*$/.test(v) || v.split(',').some((n) => Number(n) < 1 || Number(n) > 1440),
    )
    .map((v) => ({ path: '/sales/windows', pairs: [['sizes', v]], parameter: 'sizes' })),
  badInstant.map((v) => ({ path: '/sales/windows', pairs: [['at', v]], parameter: 'at' })),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).map((name) => ({
    path: '/health',
    pairs: [[`x${name}`, '1']] as [string, string][],
    parameter: `x${name}`,
  })),
);

function queryString(pairs: readonly (readonly string[])[]): string {
  return pairs
    .map(([name = '', value = '']) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .join('&');
}

describe('query-sales handler under generated bad input', () => {
  it('answers 300 generated bad query strings with 400s that name the broken parameter', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(badCases, async (bad) => {
        runs += 1;
        const response = await handler(request(bad.path, queryString(bad.pairs)), lambdaContext());
        const result = body(response);
        expect(response.statusCode).toBe(400);
        expect(result['parameter']).toBe(bad.parameter);
        expect(typeof result['error']).toBe('string');
        expect(typeof result['detail']).toBe('string');
      }),
      { numRuns: 300, seed: 20261121 },
    );
    expect(runs).toBeGreaterThanOrEqual(300);
  }, 30_000);

  it('treats any product id up to 128 characters as data: 200, never 500', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.constantFrom(...NASTY.filter((v) => v !== '')),
          fc.string({ unit: 'grapheme', minLength: 1, maxLength: 128 }),
        ),
        async (productId) => {
          const query = queryString([
            ['start', '2026-11-20T08:00:00Z'],
            ['end', '2026-11-20T09:00:00Z'],
            ['product_id', productId],
          ]);
          const response = await handler(request('/sales', query), lambdaContext());
          expect(response.statusCode).toBe(200);
          expect(body(response)['query']).toMatchObject({ product_id: productId });
        },
      ),
      { numRuns: 60, seed: 7 },
    );
  }, 30_000);
});
