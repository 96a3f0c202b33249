import { describe, expect, it } from 'vitest';
import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { listQuarantine } from '../../functions/ops/quarantine.ts';
import { readPublished } from '../../functions/pipeline/batch-published.ts';
import { validationPolicy } from '../../functions/pipeline/validation-policy.ts';
import { consumeMicroBatch } from '../../functions/stream/micro-batch.ts';
import { readWatermark } from '../../functions/stream/watermark.ts';
import { testDeps, writeJsonlExport } from '../support/lake.ts';
import { order } from '../support/orders.ts';
import { useTempDirs } from '../support/temp-dir.ts';
import { streamDeps } from './stream-helpers.ts';

const tempDir = useTempDirs();
const SENT = new Date('2026-11-20T10:01:00Z');

function sent(bodies: Record<string, unknown>[], sentAt = SENT) {
  return bodies.map((body, i) => ({ messageId: `m-${i}`, body: JSON.stringify(body), sentAt }));
}

describe('validation policy: currencies and clock skew', () => {
  it('quarantines a code that is not ISO 4217, and codes the stage does not accept, naming them', async () => {
    // Prepare
    const { deps } = streamDeps();
    const bodies = [
      order({ order_id: 'usd', currency: 'USD' }),
      order({ order_id: 'eur', currency: 'EUR' }),
      order({ order_id: 'abc', currency: 'ABC' }),
      order({ order_id: 'lower', currency: 'usd' }),
    ];
    // Act
    const open = await consumeMicroBatch({ messages: sent(bodies) }, deps);
    const restricted = await consumeMicroBatch(
      {
        messages: sent(bodies).map((m) => ({ ...m, messageId: `r-${m.messageId}` })),
        policy: validationPolicy({ currencies: ['USD'] }),
      },
      deps,
    );
    // Assess
    expect(open).toMatchObject({ valid: 2, quarantined: 2 });
    expect(restricted).toMatchObject({ valid: 1, quarantined: 3 });
    const reasons = Object.fromEntries(
      (await listQuarantine(deps.store)).map((r) => [r.message_id, r.reasons]),
    );
    expect(reasons['m-2']).toEqual(['currency: not an ISO 4217 code']);
    expect(reasons['m-3']).toEqual(['currency: not an ISO 4217 code']);
    expect(reasons['m-1']).toBeUndefined();
    expect(reasons['r-m-1']).toEqual(['currency: EUR not accepted (accepted: USD)']);
  });

  it('refuses a stage setting that names a code outside ISO 4217', () => {
    expect(() => validationPolicy({ currencies: ['USD', 'XYZ'] })).toThrow(
      /currencies must be ISO 4217 codes.*not ISO 4217: XYZ/,
    );
    expect(() => validationPolicy({ maxClockSkewSeconds: -1 })).toThrow(/maxClockSkewSeconds/);
  });

  it('a far-future event is quarantined with its reason and never moves the watermark', async () => {
    // Prepare
    const { deps } = streamDeps();
    const onTime = order({ order_id: 'now', event_time: '2026-11-20T10:00:30Z' });
    const skewed = order({ order_id: 'skewed', event_time: '2026-11-20T10:07:00Z' });
    const future = order({ order_id: 'future', event_time: '2099-01-01T00:00:00Z' });
    // Act
    const result = await consumeMicroBatch({ messages: sent([onTime, skewed, future]) }, deps);
    const later = await consumeMicroBatch(
      {
        messages: [
          {
            messageId: 'late-ish',
            body: JSON.stringify(order({ order_id: 'next', event_time: '2026-11-20T10:00:45Z' })),
            sentAt: SENT,
          },
        ],
      },
      deps,
    );
    // Assess
    expect(result).toMatchObject({ valid: 1, quarantined: 2, orders: 1 });
    const reasons = (await listQuarantine(deps.store)).flatMap((r) => r.reasons);
    expect(reasons).toEqual([
      'event_time: more than 300 s after the record was received (2026-11-20T10:01:00Z)',
      'event_time: more than 300 s after the record was received (2026-11-20T10:01:00Z)',
    ]);
    const { value: mark } = await readWatermark(deps.store);
    expect(mark.maxEventTime).toBe('2026-11-20T10:00:45.000Z');
    expect(later.late).toBe(0);
  });

  it('the skew limit is a setting: a larger one accepts what the default rejects', async () => {
    const { deps } = streamDeps();
    const skewed = order({ order_id: 'skewed', event_time: '2026-11-20T10:07:00Z' });
    const result = await consumeMicroBatch(
      { messages: sent([skewed]), policy: validationPolicy({ maxClockSkewSeconds: 600 }) },
      deps,
    );
    expect(result).toMatchObject({ valid: 1, quarantined: 0 });
  });
});

describe('sums within the allowed limits never overflow', () => {
  it('100,001 orders at the maximum quantity and price publish their exact revenue', async () => {
    // Prepare: each order is 100000 × 1000000.00 = 1e11; the day is 1.00001e16, past DECIMAL(18,2).
    const dir = tempDir();
    const deps = testDeps(dir);
    const day = '2026-11-20';
    const orders = Array.from({ length: 100_001 }, (_, i) =>
      order({
        order_id: `o${i}`,
        event_id: `e${i}`,
        quantity: 100000,
        unit_price: '1000000.00',
        event_time: `${day}T10:${String(i % 60).padStart(2, '0')}:00Z`,
      }),
    );
    writeJsonlExport(dir, day, 'orders.jsonl', orders);
    // Act
    const report = await runBatchDay({ day }, deps);
    // Assess
    expect(report.counts.orders).toBe(100_001);
    expect(report.revenue_by_currency).toEqual({ USD: '10000100000000000.00' });
    const { index } = await readPublished(deps.store);
    expect(index.days[day]?.revenue_by_currency).toEqual({ USD: '10000100000000000.00' });
  });
});
