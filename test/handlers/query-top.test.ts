import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectDatasets } from '../cli/project-datasets.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import { liveStockMovesLake } from '../support/live-stock-moves.ts';

type Handler = (event: unknown, context: unknown) => Promise<APIGatewayProxyStructuredResultV2>;

const datasets = mkdtempSync(path.join(os.tmpdir(), 'twinflow-top-handler-datasets-'));
const lakeDir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-top-handler-lake-'));
let handler: Handler;
let expected: [string, number][];

/** A GET as API Gateway (HTTP API, payload 2.0) hands it to the function. */
function request(rawPath: string, rawQueryString: string): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: `GET ${rawPath}`,
    rawPath,
    rawQueryString,
    headers: {},
    queryStringParameters: Object.fromEntries(new URLSearchParams(rawQueryString)),
    requestContext: {
      requestId: 'req-top',
      routeKey: `GET ${rawPath}`,
      stage: '$default',
      http: {
        method: 'GET',
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: '203.0.113.10',
        userAgent: 'test',
      },
    },
    isBase64Encoded: false,
  } as unknown as APIGatewayProxyEventV2;
}

async function get(rawPath: string, rawQueryString: string) {
  const response = await handler(request(rawPath, rawQueryString), lambdaContext('query-sales'));
  return { status: response.statusCode, body: JSON.parse(String(response.body)) as Record<string, unknown> };
}

beforeAll(async () => {
  // The handler's routes come from the declarations when it loads: declare stock_moves first.
  process.env['TWINFLOW_DATASETS_DIR'] = projectDatasets(datasets, ['stock_moves']);
  process.env['LAKE_DIR'] = lakeDir;
  process.env['POWERTOOLS_LOG_LEVEL'] = 'ERROR';
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  ({ expected } = await liveStockMovesLake(lakeDir));
  ({ handler } = (await import('../../functions/query-sales/handler.ts')) as unknown as { handler: Handler });
}, 60_000);

afterAll(() => {
  rmSync(datasets, { recursive: true, force: true });
  rmSync(lakeDir, { recursive: true, force: true });
});

describe('query-sales handler: GET /metrics/{model}/top', () => {
  it('ranks the last 15 minutes of a declared model, merged like every range', async () => {
    const { status, body } = await get('/metrics/moves_minute/top', 'measure=movements&minutes=15&limit=10');
    expect(status).toBe(200);
    expect(
      (body['top'] as { product_id: string; movements: number }[]).map((r) => [r.product_id, r.movements]),
    ).toEqual(expected);
    expect(body).toMatchObject({
      model: 'moves_minute',
      measure: 'movements',
      by: 'product_id',
      minutes: 15,
    });
    expect((body['segments'] as { source: string }[]).map((s) => s.source)).toEqual(['realtime']);
    expect(body['batch_boundary']).toEqual(expect.any(String));
  });

  it('serves every minute model of every dataset, the ones the repository does not ship too', async () => {
    const byType = await get('/metrics/moves_by_type_minute/top', 'measure=products&minutes=60');
    const sales = await get('/metrics/sales_minute/top', 'measure=revenue&currency=USD');
    expect(byType.status).toBe(200);
    // The last hour: the 8 recent and the 6 older movements (all sales) of 4 products.
    expect(byType.body['top']).toEqual([
      { movement_type: 'sale', products: 4, movements: 14, units: expect.any(Number) },
    ]);
    expect(sales).toMatchObject({
      status: 200,
      body: { top: [], by: 'product_id', where: { currency: 'USD' } },
    });
  });

  it.each([
    [
      '/metrics/moves_minute/top',
      'measure=nope',
      'measure',
      /no measure "nope" \(measures: movements, net_change\)/,
    ],
    ['/metrics/moves_minute/top', 'measure=movements&minutes=0', 'minutes', /1\.\.1440/],
    ['/metrics/moves_minute/top', 'measure=movements&minutes=1441', 'minutes', /1\.\.1440/],
    ['/metrics/moves_minute/top', 'measure=movements&limit=0', 'limit', /1\.\.100/],
    ['/metrics/moves_minute/top', 'measure=movements&limit=abc', 'limit', /1\.\.100/],
    [
      '/metrics/sales_minute/top',
      'measure=revenue',
      'currency',
      /ranks only within one currency: add currency=/,
    ],
  ])('%s?%s is a 400 naming %s', async (rawPath, query, parameter, detail) => {
    const { status, body } = await get(rawPath, query);
    expect(status).toBe(400);
    expect(body).toMatchObject({ error: 'invalid_parameter', parameter });
    expect(String(body['detail'])).toMatch(detail);
  });
});
