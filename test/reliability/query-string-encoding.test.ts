import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import type { HttpApi } from '../../local/http-api.ts';
import { expectedTotals, publishBatchDay, type Sale } from '../serving/lake-fixtures.ts';
import { fixture, lambdaContext } from '../support/lambda-context.ts';
import { startQueryApi } from '../support/query-api.ts';

/**
 * Broken percent-encoding in a query string is a client mistake: a 400 naming the parameter, never a lenient
 * decode (URLSearchParams turns `%E0%A4%A` into "\uFFFD%A") that then quietly matches nothing.
 */

type Handler = (event: unknown, context: unknown) => Promise<APIGatewayProxyStructuredResultV2>;

const lakeDir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-query-encoding-'));
const DAY = '2026-11-20';
const SALES: Sale[] = [
  { order_id: 'a', event_time: `${DAY}T08:30:00Z`, unit_price: '12.34', product_id: 'p1' },
  { order_id: 'b', event_time: `${DAY}T09:10:00Z`, unit_price: '5.00', product_id: 'क', quantity: 2 },
];
const RANGE = `start=${DAY}&end=2026-11-21&granularity=day`;
let handler: Handler;
let template: APIGatewayProxyEventV2;
let api: HttpApi;

beforeAll(async () => {
  process.env['LAKE_DIR'] = lakeDir;
  delete process.env['LAKE_BUCKET'];
  process.env['POWERTOOLS_LOG_LEVEL'] = 'CRITICAL';
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  await publishBatchDay(new LocalDirectoryStore(lakeDir), DAY, SALES, 'v-encoding');
  template = (await fixture('apigw-sales-1day.json')) as APIGatewayProxyEventV2;
  ({ handler } = (await import('../../functions/query-sales/handler.ts')) as unknown as { handler: Handler });
  api = await startQueryApi();
}, 30_000);

afterAll(async () => {
  await api?.close();
  rmSync(lakeDir, { recursive: true, force: true });
});

/**
 * The fixture event for GET /sales with `rawQueryString` as the client sent it (API Gateway keeps it encoded)
 * and `queryStringParameters` decoded leniently, as a gateway that does not refuse the request would.
 */
function salesEvent(rawQueryString: string): APIGatewayProxyEventV2 {
  return {
    ...template,
    rawQueryString,
    queryStringParameters: Object.fromEntries(new URLSearchParams(rawQueryString)),
  };
}

const body = (text: string | undefined) => JSON.parse(String(text)) as Record<string, unknown>;

describe('broken percent-encoding in the query string', () => {
  it('through the handler (API Gateway v2 event): 400 naming product_id, in the shape of every 400', async () => {
    const response = await handler(salesEvent(`${RANGE}&product_id=%E0%A4%A`), lambdaContext());

    expect(response.statusCode).toBe(400);
    expect(body(response.body)).toEqual({
      error: 'invalid_parameter',
      parameter: 'product_id',
      detail: expect.stringMatching(/product_id.*percent-encod/),
    });
  });

  it('over HTTP (local HTTP adapter + real handler): 400 naming the parameter, for each kind of breakage', async () => {
    const cases: [string, string][] = [
      [`${RANGE}&product_id=%E0%A4%A`, 'product_id'], // truncated escape after an incomplete UTF-8 sequence
      [`${RANGE}&product_id=%E0%A4`, 'product_id'], // complete escapes, incomplete UTF-8
      [`${RANGE}&product_id=%ZZ`, 'product_id'], // not hex
      [`${RANGE}&product_id=50%`, 'product_id'], // a bare "%"
      [`${RANGE}&product_id=%C0%AF`, 'product_id'], // overlong UTF-8 for "/"
      [`start=2026-11-20T08%3A00%3A00%Z&end=2026-11-21`, 'start'],
      [`${RANGE}&%E0%A4%A=1`, '%E0%A4%A'], // a broken name is named as sent
    ];
    for (const [query, parameter] of cases) {
      const response = await fetch(`${api.url}/sales?${query}`);

      expect(response.status, query).toBe(400);
      expect(body(await response.text()), query).toMatchObject({ error: 'invalid_parameter', parameter });
    }
  });

  it('well-formed encodings still decode: UTF-8 escapes, "+" as a space, encoded separators', async () => {
    const devanagari = await fetch(`${api.url}/sales?${RANGE}&product_id=%E0%A4%95`);
    const commaSizes = await fetch(`${api.url}/sales/windows?sizes=1%2C5&at=${DAY}T10%3A00%3A00Z`);
    const plusOffset = await fetch(`${api.url}/sales?start=${DAY}T00:00:00+00:00&end=2026-11-21`);

    expect(devanagari.status).toBe(200);
    expect(body(await devanagari.text())['totals']).toEqual(
      expectedTotals(SALES.filter((s) => s.product_id === 'क')),
    );
    expect(commaSizes.status).toBe(200);
    expect(plusOffset.status).toBe(200);
  });
});
