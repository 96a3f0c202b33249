import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { evaluateRule, type RuleAlert } from '../../functions/alerts/rules.ts';
import { datasetsDir, listAlertRules, loadDataset } from '../../functions/pipeline/datasets.ts';
import { consumeMicroBatch } from '../../functions/stream/micro-batch.ts';
import { messages, streamDeps } from '../stream/stream-helpers.ts';
import { order } from '../support/orders.ts';

/**
 * A model rule, declared without code (datasets/orders: `slow_sales_hour`, USD revenue over the last 60 minutes
 * below 100): fires once when the hour's USD revenue falls below 100 (EUR never counts), stays quiet while it stays
 * there, and re-arms when sales come back.
 */

const rule = () => {
  const found = listAlertRules().find((r) => r.name === 'slow_sales_hour');
  if (!found) throw new Error('orders declares no slow_sales_hour rule');
  return found;
};

describe('slow_sales_hour: a model rule on money, per currency (issue 16)', () => {
  it('fires when the last hour’s USD revenue falls below 100, once, and re-arms when it is back', async () => {
    // Arrange: 150.00 USD and 500.00 EUR at 10:00.
    const { deps, clock } = streamDeps(new Date('2026-11-20T10:30:00Z'));
    const sent = [
      order({ order_id: 'o1', unit_price: '150.00', event_time: '2026-11-20T10:00:30Z' }),
      order({ order_id: 'o2', unit_price: '500.00', currency: 'EUR', event_time: '2026-11-20T10:01:00Z' }),
    ];
    expect((await consumeMicroBatch({ messages: messages(sent, 'a') }, deps)).failedMessageIds).toEqual([]);
    const published: RuleAlert[] = [];
    const withSink = { ...deps, sinks: [{ publish: async (a: RuleAlert) => void published.push(a) }] };

    // Act + Assess: at 10:30 the hour holds 150.00 USD.
    expect((await evaluateRule(rule(), withSink)).fired).toEqual([]);
    // At 11:05 the USD order is out of the window; the EUR one does not count.
    clock.now = new Date('2026-11-20T11:05:00Z');
    const fired = (await evaluateRule(rule(), withSink)).fired;
    expect(fired).toEqual([
      expect.objectContaining({
        rule: 'slow_sales_hour',
        where: { currency: 'USD', day: '2026-11-20' },
        value: 0,
        threshold: 100,
        measure: 'sales_minute.revenue (currency=USD) over 60 minutes',
      }),
    ]);
    clock.now = new Date('2026-11-20T11:06:00Z');
    expect((await evaluateRule(rule(), withSink)).fired).toEqual([]);
    // 120.00 USD at 11:06: back above, re-armed.
    const back = [order({ order_id: 'o3', unit_price: '120.00', event_time: '2026-11-20T11:06:10Z' })];
    await consumeMicroBatch({ messages: messages(back, 'b') }, deps);
    const resolved = await evaluateRule(rule(), withSink);
    expect(resolved.resolved.map((a) => a.alert_id)).toEqual([fired[0]?.alert_id]);
    expect(resolved.fired).toEqual([]);
    expect(published).toHaveLength(1);
  });

  it('refuses a money measure without its currency, a dimension the model lacks, a window it lacks', () => {
    const declare = (alert: string) => {
      const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'twinflow-alert-decl-')), 'orders');
      cpSync(path.join(datasetsDir(), 'orders'), dir, { recursive: true });
      // The shipped rules out, this one in.
      const yaml = readFileSync(path.join(dir, 'dataset.yaml'), 'utf8').replace(
        /\nalerts:\n[\s\S]*?\n(?=models:)/,
        '\n',
      );
      writeFileSync(path.join(dir, 'dataset.yaml'), `${yaml}\nalerts:\n  bad:\n${alert}`);
      return () => loadDataset(dir);
    };
    expect(declare('    model: sales_minute\n    measure: revenue\n    minutes: 60\n    below: 1\n')).toThrow(
      'alerts.bad.where: a money measure is per currency; name it (where: { currency: USD })',
    );
    expect(
      declare(
        '    model: sales_minute\n    measure: orders\n    where: { shop: x }\n    minutes: 60\n    below: 1\n',
      ),
    ).toThrow('alerts.bad.where: "shop" is not a dimension of sales_minute');
    expect(declare('    model: sales_minute\n    measure: orders\n    below: 1\n')).toThrow(
      'alerts.bad.minutes: a model rule sums its measure over the last N minutes',
    );
  });
});
