import { rmSync } from 'node:fs';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_CSP } from '../../functions/query-sales/routes/dashboard-page.generated.ts';
import type { OpsSummary } from '../../functions/serving/ops-summary.ts';
import { fixture, lambdaContext } from '../support/lambda-context.ts';
import { DLQ_MESSAGES, type SeededLake, seedDashboardLake } from './seed-lake.ts';

type Handler = (event: unknown, context: unknown) => Promise<APIGatewayProxyStructuredResultV2>;

let seed: SeededLake;
let handler: Handler;
let template: APIGatewayProxyEventV2;

function get(rawPath: string, rawQueryString = ''): Promise<APIGatewayProxyStructuredResultV2> {
  return handler(
    {
      ...template,
      routeKey: `GET ${rawPath}`,
      rawPath,
      rawQueryString,
      queryStringParameters: Object.fromEntries(new URLSearchParams(rawQueryString)),
      requestContext: {
        ...template.requestContext,
        routeKey: `GET ${rawPath}`,
        http: { ...template.requestContext.http, method: 'GET', path: rawPath },
      },
    },
    lambdaContext(),
  );
}

const json = (response: APIGatewayProxyStructuredResultV2) => JSON.parse(String(response.body));

beforeAll(async () => {
  seed = await seedDashboardLake();
  process.env['LAKE_DIR'] = seed.dir;
  process.env['POWERTOOLS_LOG_LEVEL'] = 'ERROR';
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  template = (await fixture('apigw-sales-1day.json')) as APIGatewayProxyEventV2;
  ({ handler } = (await import('../../functions/query-sales/handler.ts')) as unknown as { handler: Handler });
}, 40_000);

afterAll(() => rmSync(seed.dir, { recursive: true, force: true }));

describe('GET /dashboard through the real handler', () => {
  it('returns the page as HTML with a strict Content-Security-Policy', async () => {
    const response = await get('/dashboard');
    expect(response.statusCode).toBe(200);
    expect(response.headers?.['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers?.['content-security-policy']).toBe(DASHBOARD_CSP);
    expect(response.headers?.['x-content-type-options']).toBe('nosniff');
    expect(String(response.body)).toMatch(/^<!doctype html>/);
    expect(String(response.body)).toContain('Twinflow operations');
  });

  it('ignores query parameters instead of answering JSON errors to a browser', async () => {
    const response = await get('/dashboard', 'utm_source=mail');
    expect(response.statusCode).toBe(200);
  });
});

describe('GET /ops/summary through the real handler', () => {
  it('counts quarantine by source and reason, late-event hours and the DLQ depth of the newest run', async () => {
    const end = new Date(seed.now.getTime() + 60_000);
    const start = new Date(end.getTime() - 2 * 86_400_000);
    const response = await get('/ops/summary', `start=${start.toISOString()}&end=${end.toISOString()}`);
    const body = json(response) as OpsSummary;
    expect(response.statusCode).toBe(200);
    expect(body.quarantine.records).toBe(seed.quarantined);
    expect(body.quarantine.by_source).toEqual({ batch: 1, stream: 3 });
    expect(body.quarantine.top_reasons[0]).toEqual(seed.topReason);
    expect(body.late.hours).toEqual([{ hour_start: seed.lateHour, late: 1 }]);
    expect(body.late.events).toBe(1);
    expect(body.dlq.messages).toBe(DLQ_MESSAGES);
    expect(body.dlq.run_id).toMatch(/^rec-/);
  });

  it('defaults to the last 24 hours', async () => {
    const body = json(await get('/ops/summary')) as OpsSummary;
    expect(Date.parse(body.range.end) - Date.parse(body.range.start)).toBe(86_400_000);
  });

  it.each([
    ['start=yesterday', 'start', 'invalid_parameter'],
    ['end=2026-01-01&start=2026-02-01', 'end', 'invalid_parameter'],
    ['start=2026-01-01&end=2026-03-01', 'end', 'range_too_large'],
    ['days=3', 'days', 'invalid_parameter'],
  ])('%s → 400 naming %s', async (query, parameter, error) => {
    const response = await get('/ops/summary', query);
    expect(response.statusCode).toBe(400);
    expect(json(response)).toMatchObject({ error, parameter });
  });
});
