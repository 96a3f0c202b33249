import type { PublishCommandInput, SNSClient } from '@aws-sdk/client-sns';
import { describe, expect, it } from 'vitest';
import type { RuleAlert } from '../../functions/alerts/rules.ts';
import { snsRuleAlertSink } from '../../functions/alerts/sns-sink.ts';

/** A rule alert goes to SNS in the one alert shape: a subject SNS accepts, the alert JSON, filterable attributes. */
describe('SNS sink of rule alerts', () => {
  it('publishes a subject of at most 100 printable ASCII characters, the alert as JSON, and day/kind/rule attributes', async () => {
    // Arrange: a message with non-ASCII characters and longer than a subject may be.
    const alert: RuleAlert = {
      alert_id: 'a1',
      kind: 'rule',
      rule: 'low_stock',
      dataset: 'inventory',
      where: { product_id: 'p-ü1', warehouse_id: 'wh-1', day: '2026-11-21' },
      condition: 'below',
      value: 4,
      threshold: 8,
      measure: 'stock.on_hand',
      raised_at: '2026-11-21T10:00:00.000Z',
      resolved_at: null,
      message: `low_stock: p-ü1 in wh-1 has 4 on hand, below its reorder point 8 — ${'x'.repeat(120)}`,
    };
    const sent: PublishCommandInput[] = [];
    const client = { send: async (command: { input: PublishCommandInput }) => sent.push(command.input) };

    // Act
    await snsRuleAlertSink(
      client as unknown as SNSClient,
      'arn:aws:sns:us-east-1:123456789012:alerts',
    ).publish(alert);

    // Assess
    expect(sent).toHaveLength(1);
    const [input] = sent;
    expect(input?.Subject).toBe(
      `Twinflow alert ${alert.message}`.replace(/[^\x20-\x7e]/g, '?').slice(0, 100),
    );
    expect(input?.Subject).toMatch(
      /^Twinflow alert low_stock: p-\?1 in wh-1 has 4 on hand, below its reorder point 8 \? x+$/,
    );
    expect(input?.Subject).toHaveLength(100);
    expect(JSON.parse(input?.Message ?? '')).toEqual(alert);
    expect(input?.MessageAttributes).toEqual({
      day: { DataType: 'String', StringValue: '2026-11-21' },
      kind: { DataType: 'String', StringValue: 'rule' },
      rule: { DataType: 'String', StringValue: 'low_stock' },
    });
  });
});
