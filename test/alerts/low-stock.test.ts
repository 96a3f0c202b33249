import { describe, expect, it } from 'vitest';
import { evaluateRule, listAlerts, openAlerts, type RuleAlert } from '../../functions/alerts/rules.ts';
import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { listAlertRules } from '../../functions/pipeline/datasets.ts';
import type { CoreDeps } from '../../functions/pipeline/ports.ts';
import { consumeMicroBatch, type StreamMessage } from '../../functions/stream/micro-batch.ts';
import { streamDeps } from '../stream/stream-helpers.ts';

/**
 * Issue 16's alert proof on inventory's declared `low_stock` rule (datasets/inventory: the stock balance below the
 * reorder_points table): one alert when a level crosses below its point, none for the movements after, none on a
 * redelivered micro-batch or a restart, re-armed by a receipt that lifts the level back to the point, then a second
 * crossing raises a second alert; a delivery that failed is delivered exactly once by the next evaluation.
 */

const rule = () => {
  const found = listAlertRules().find((r) => r.name === 'low_stock');
  if (!found) throw new Error('inventory declares no low_stock rule');
  return found;
};

const DAY = '2026-11-20';

async function lakeWithCount(): Promise<{ deps: CoreDeps; clock: { now: Date } }> {
  const { deps, clock } = streamDeps(new Date(`${DAY}T12:00:00Z`));
  await deps.store.put(
    `landing/stock_counts/dt=${DAY}/counts.jsonl`,
    `${JSON.stringify({ product_id: 'p1', warehouse_id: 'w1', on_hand: 10, counted_at: `${DAY}T04:00:00Z` })}\n` +
      `${JSON.stringify({ product_id: 'p2', warehouse_id: 'w1', on_hand: 3, counted_at: `${DAY}T04:00:00Z` })}\n`,
  );
  const report = await runBatchDay({ day: DAY, dataset: 'stock_counts', thresholds: { force: true } }, deps);
  expect(report.status, report.error).toBe('published');
  // p2 has no reorder point: never alerted, however low.
  await deps.store.put('tables/reorder_points.csv', 'product_id,warehouse_id,reorder_point\np1,w1,5\n');
  return { deps, clock };
}

let sequence = 0;
function movement(type: string, quantity: number, at: string): StreamMessage {
  sequence += 1;
  return {
    messageId: `msg-${sequence}`,
    body: JSON.stringify({
      movement_id: `mv-${sequence}`,
      product_id: 'p1',
      warehouse_id: 'w1',
      movement_type: type,
      quantity,
      event_time: `${DAY}T${at}Z`,
    }),
  };
}

async function send(deps: CoreDeps, messages: StreamMessage[]) {
  const result = await consumeMicroBatch({ messages, dataset: 'inventory' }, deps);
  expect(result.failedMessageIds).toEqual([]);
}

async function lakeAlerts(deps: CoreDeps): Promise<RuleAlert[]> {
  const keys = (await deps.store.list('alerts/')).map((o) => o.key);
  const alerts = [];
  for (const key of keys) {
    const object = await deps.store.get(key);
    if (object) alerts.push(JSON.parse(object.body.toString()) as RuleAlert);
  }
  return alerts;
}

describe('low_stock: one alert per crossing below the reorder point (issue 16)', () => {
  it('fires once on the crossing, not on later movements, redeliveries or restarts, and re-arms after a receipt', async () => {
    // Arrange
    const { deps, clock } = await lakeWithCount();
    const published: RuleAlert[] = [];
    const withSink = { ...deps, sinks: [{ publish: async (a: RuleAlert) => void published.push(a) }] };

    // Act + Assess: 10 − 3 = 7, still at or above 5.
    await send(deps, [movement('sale', 3, '10:00:01')]);
    expect((await evaluateRule(rule(), withSink)).fired).toEqual([]);

    // 7 − 3 = 4: below 5, one alert.
    const crossing = [movement('sale', 3, '10:01:00')];
    await send(deps, crossing);
    clock.now = new Date(`${DAY}T12:01:00Z`);
    const first = await evaluateRule(rule(), withSink);
    expect(first.fired).toHaveLength(1);
    expect(first.fired[0]).toMatchObject({
      rule: 'low_stock',
      dataset: 'inventory',
      where: { product_id: 'p1', warehouse_id: 'w1', day: DAY },
      condition: 'below',
      value: 4,
      threshold: 5,
      resolved_at: null,
    });

    // A later sale (4 − 1 = 3), the crossing batch redelivered, a restart (a new evaluation with fresh state reads).
    await send(deps, [movement('sale', 1, '10:02:00')]);
    expect((await evaluateRule(rule(), withSink)).fired).toEqual([]);
    await send(deps, crossing);
    expect((await evaluateRule(rule(), withSink)).fired).toEqual([]);
    expect((await evaluateRule(rule(), { ...deps, sinks: withSink.sinks })).fired).toEqual([]);
    expect(published).toHaveLength(1);
    expect(await lakeAlerts(deps)).toHaveLength(1);
    expect((await openAlerts(deps.store)).map((a) => a.alert_id)).toEqual([first.fired[0]?.alert_id]);

    // A receipt back to the point (3 + 2 = 5) re-arms: the alert is resolved, none open.
    await send(deps, [movement('receipt', 2, '10:03:00')]);
    clock.now = new Date(`${DAY}T12:03:00Z`);
    const rearmed = await evaluateRule(rule(), withSink);
    expect(rearmed.resolved.map((a) => a.alert_id)).toEqual([first.fired[0]?.alert_id]);
    expect(await openAlerts(deps.store)).toEqual([]);
    expect((await lakeAlerts(deps))[0]?.resolved_at).toBe(`${DAY}T12:03:00.000Z`);

    // The next crossing (5 − 2 = 3) is a new alert.
    await send(deps, [movement('sale', 2, '10:04:00')]);
    const second = await evaluateRule(rule(), withSink);
    expect(second.fired).toHaveLength(1);
    expect(second.fired[0]?.alert_id).not.toBe(first.fired[0]?.alert_id);
    expect(published).toHaveLength(2);
    expect(await lakeAlerts(deps)).toHaveLength(2);
  });

  it('delivers an alert whose delivery failed exactly once, on the next evaluation', async () => {
    // Arrange
    const { deps } = await lakeWithCount();
    await send(deps, [movement('sale', 6, '10:00:00')]);
    let failing = true;
    const published: RuleAlert[] = [];
    const sinks = [
      {
        publish: async (a: RuleAlert) => {
          if (failing) throw new Error('SNS unavailable');
          published.push(a);
        },
      },
    ];

    // Act
    await expect(evaluateRule(rule(), { ...deps, sinks })).rejects.toThrow('SNS unavailable');
    failing = false;
    const retried = await evaluateRule(rule(), { ...deps, sinks });
    await evaluateRule(rule(), { ...deps, sinks });

    // Assess: the crossing was decided once (the first run), delivered once (the second).
    expect(retried.fired).toEqual([]);
    expect(published).toHaveLength(1);
    expect(await lakeAlerts(deps)).toHaveLength(1);
    expect((await openAlerts(deps.store))[0]?.value).toBe(4);
    const listed = await listAlerts(deps, 10);
    expect(listed.rules).toContainEqual(
      expect.objectContaining({
        name: 'low_stock',
        watches: 'stock.on_hand',
        condition: 'below',
        threshold: 'reorder_points',
      }),
    );
    expect(listed.open.map((a) => a.value)).toEqual([4]);
    expect(listed.recent).toHaveLength(1);
  });
});
