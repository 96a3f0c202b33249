import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lake } from '../../functions/pipeline/lake-layout.ts';
import type { ReconciliationAlert, ReconciliationRun } from '../../functions/reconcile/run-record.ts';
import { DAY, makeOrders, NOW, publishBatch, streamIn } from '../reconcile/lake-builder.ts';
import { testDeps } from '../support/lake.ts';
import { fixture, lambdaContext } from '../support/lambda-context.ts';

const lakeDir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-handler-reconcile-'));
let handler: (
  event: unknown,
  context: unknown,
) => Promise<{
  runId: string;
  key: string;
  status: string;
  alerts: string[];
  maxAbsDeviation: { after: string };
  runs: { dataset: string; model: string; runId: string }[];
}>;

beforeAll(async () => {
  process.env['LAKE_DIR'] = lakeDir;
  process.env['POWERTOOLS_LOG_LEVEL'] = 'ERROR';
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  process.env['DEVIATION_THRESHOLD'] = '0.05';
  delete process.env['ALERT_TOPIC_ARN'];
  delete process.env['ORDERS_DLQ_URL'];
  // Prepare: a published day whose stream never received its last 10 orders.
  const deps = testDeps(lakeDir, NOW);
  const orders = makeOrders(50, { hours: [10, 11, 12] });
  await publishBatch(lakeDir, deps, orders);
  await streamIn(deps, orders.slice(0, 40), 20);
  ({ handler } = (await import('../../functions/reconcile-views/handler.ts')) as unknown as {
    handler: typeof handler;
  });
});

afterAll(() => rmSync(lakeDir, { recursive: true, force: true }));

describe('reconcile-views handler', () => {
  it('the hourly schedule fixture reconciles as of event.time and stores the run and its alert', async () => {
    const result = await handler(await fixture('scheduled-hourly-reconcile.json'), lambdaContext());

    expect(result.runId).toMatch(/^20261121T030000Z-/);
    expect(result.key).toBe(lake.reconciliationRun('2026-11-21', result.runId));
    const run = JSON.parse(readFileSync(path.join(lakeDir, result.key), 'utf8')) as ReconciliationRun;
    expect(run.now).toBe('2026-11-21T03:00:00.000Z');
    expect(run.threshold).toBe('0.050000');
    expect(run.days.map((d) => d.day)).toEqual([DAY]);
    expect(run.days[0]?.explanation.dlq_messages).toBe('unknown');
    expect(result.status).toBe('deviation');
    expect(result.alerts).toHaveLength(1);
    const alert = JSON.parse(
      readFileSync(path.join(lakeDir, lake.alert(DAY, result.alerts[0] ?? '')), 'utf8'),
    ) as ReconciliationAlert;
    expect(alert.where.day).toBe(DAY);
    expect(alert.explanation.missing_from_stream.count).toBe(10);
  });

  it("compares the minute models of every dataset with a stream and a batch; the top level stays orders' sales_minute", async () => {
    const result = await handler(await fixture('scheduled-hourly-reconcile.json'), lambdaContext());

    expect(result.runs.map((r) => `${r.dataset}/${r.model}`)).toEqual([
      'clicks/funnel_minute',
      'clicks/sessions_minute',
      'inventory/stock_movements_minute',
      'orders/sales_minute',
    ]);
    expect(result.runId).toBe(result.runs.find((r) => r.model === 'sales_minute')?.runId);
    const run = JSON.parse(readFileSync(path.join(lakeDir, result.key), 'utf8')) as ReconciliationRun;
    expect([run.dataset, run.model]).toEqual(['orders', 'sales_minute']);
  });

  it('rejects an event that is not a scheduled event, naming the field', async () => {
    await expect(
      handler({ 'detail-type': 'Scheduled Event', time: 'noon' }, lambdaContext()),
    ).rejects.toThrow(/time: must be an ISO-8601 timestamp with a zone/);
    await expect(
      handler({ 'detail-type': 'Scheduled Event', time: '2026-11-21T02:00:00' }, lambdaContext()),
    ).rejects.toThrow(/time: must be an ISO-8601 timestamp with a zone/);
    await expect(handler({ time: '2026-11-21T02:00:00Z' }, lambdaContext())).rejects.toThrow(
      /detail-type: must be "Scheduled Event"/,
    );
  });
});
