import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { silentLog } from '../../functions/pipeline/ports.ts';
import { dispatch } from '../../functions/query-sales/router.ts';
import { reconciliationRoutes } from '../../functions/query-sales/routes/reconciliation.ts';
import { reconcile } from '../../functions/reconcile/reconcile.ts';
import { reconciliationTrend } from '../../functions/reconcile/trend.ts';
import { testDeps } from '../support/lake.ts';
import { useTempDirs } from '../support/temp-dir.ts';
import { DAY, makeOrders, publishBatch, reconcileDeps, streamIn } from './lake-builder.ts';

const tempDir = useTempDirs();

function get(rawQueryString: string): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'GET /reconciliation',
    rawPath: '/reconciliation',
    rawQueryString,
    headers: {},
    isBase64Encoded: false,
    requestContext: {
      http: { method: 'GET', path: '/reconciliation' },
      stage: '$default',
      requestId: 'r1',
    },
  } as unknown as APIGatewayProxyEventV2;
}

/** Three hourly runs over a day whose stream missed 10 of 40 orders until the export was corrected. */
async function lakeWithRuns() {
  const dir = tempDir();
  const deps = testDeps(dir, new Date('2026-11-21T03:00:00Z'));
  const orders = makeOrders(40);
  await publishBatch(dir, deps, orders);
  await streamIn(deps, orders.slice(0, 30), 15);
  const runs = [];
  for (const time of ['2026-11-21T03:00:00Z', '2026-11-21T04:00:00Z', '2026-11-22T01:00:00Z']) {
    const now = new Date(time);
    runs.push((await reconcile({ now }, reconcileDeps(deps.store, { clock: () => now }))).record);
  }
  return { dir, deps, runs };
}

describe('reconciliation trend', () => {
  it('lists the runs of the last N days in order, with the newest in full', async () => {
    const { deps, runs } = await lakeWithRuns();

    const two = await reconciliationTrend(deps.store, { days: 2, now: new Date('2026-11-22T05:00:00Z') });
    const one = await reconciliationTrend(deps.store, { days: 1, now: new Date('2026-11-22T05:00:00Z') });

    expect(two.runs.map((r) => r.run_id)).toEqual(runs.map((r) => r.run_id));
    expect(two.runs[0]?.days).toEqual([
      {
        day: DAY,
        max_abs_deviation: '0.294118',
        deviation: expect.objectContaining({ orders: '-0.250000' }),
      },
    ]);
    expect(two.runs.map((r) => r.alerts)).toEqual([1, 1, 1]);
    expect(two.latest).toEqual(runs[2]);
    expect(one.runs.map((r) => r.run_id)).toEqual([runs[2]?.run_id]);
  });

  it('GET /reconciliation?days=N answers the trend; days outside 1..90 is a 400 naming days', async () => {
    const { deps, runs } = await lakeWithRuns();
    const serving = { ...deps, log: silentLog, clock: () => new Date('2026-11-22T05:00:00Z') };

    const ok = await dispatch(get('days=2'), reconciliationRoutes, serving);
    const fallback = await dispatch(get(''), reconciliationRoutes, serving);

    expect(ok.statusCode).toBe(200);
    const body = JSON.parse(ok.body) as { days: number; runs: { run_id: string }[] };
    expect(body.days).toBe(2);
    expect(body.runs.map((r) => r.run_id)).toEqual(runs.map((r) => r.run_id));
    expect(JSON.parse(fallback.body)).toMatchObject({ days: 7 });
    for (const bad of ['days=0', 'days=91', 'days=abc', 'days=1.5', 'days=', 'since=3']) {
      const response = await dispatch(get(bad), reconciliationRoutes, serving);
      expect(response.statusCode, bad).toBe(400);
      expect(JSON.parse(response.body).parameter, bad).toBe(bad.split('=')[0]);
    }
  });
});
