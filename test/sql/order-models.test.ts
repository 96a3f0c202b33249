import type { DuckDBConnection } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { buildDatasetViews } from '../../functions/pipeline/dataset-views.ts';
import { withConnection } from '../../functions/pipeline/duckdb-session.ts';
import { appendJsonRecords, createRawTable } from '../../functions/pipeline/record-sources.ts';
import { order } from '../support/orders.ts';

async function run(records: unknown[], fn: (c: DuckDBConnection) => Promise<void>) {
  await withConnection(async (connection) => {
    await createRawTable(connection);
    await appendJsonRecords(
      connection,
      records.map((r, i) => ({ ref: `r${i}`, line: typeof r === 'string' ? r : JSON.stringify(r) })),
      { source: 'test', isEventIdRequired: true },
    );
    await fn(connection);
  });
}

async function rows(connection: DuckDBConnection, sql: string) {
  return (await connection.runAndReadAll(sql)).getRowObjectsJson();
}

describe('shared order models', () => {
  it('aggregates valid orders into minute and day facts with exact decimal revenue', async () => {
    // Prepare
    const events = [
      order({
        order_id: 'o1',
        product_id: 'p1',
        quantity: 2,
        unit_price: '0.10',
        event_time: '2026-11-20T10:00:05Z',
      }),
      order({
        order_id: 'o2',
        product_id: 'p1',
        quantity: 1,
        unit_price: 0.2,
        event_time: '2026-11-20T10:00:59.999Z',
      }),
      order({
        order_id: 'o3',
        product_id: 'p2',
        quantity: 3,
        unit_price: '19.99',
        event_time: '2026-11-20T12:01:00+02:00',
      }),
    ];
    await run(events, async (connection) => {
      // Act
      const counts = await buildDatasetViews(connection, { daily: true });
      // Assess
      expect(counts).toEqual({ received: 3, valid: 3, quarantined: 0, duplicates: 0, orders: 3 });
      expect(await rows(connection, 'select * from sales_minute order by window_start, product_id')).toEqual([
        {
          window_start: '2026-11-20 10:00:00',
          product_id: 'p1',
          currency: 'USD',
          orders: '2',
          units: '3',
          revenue: '0.40',
        },
        {
          window_start: '2026-11-20 10:01:00',
          product_id: 'p2',
          currency: 'USD',
          orders: '1',
          units: '3',
          revenue: '59.97',
        },
      ]);
      expect(await rows(connection, 'select * from daily_sales order by product_id')).toEqual([
        { day: '2026-11-20', product_id: 'p1', currency: 'USD', orders: '2', units: '3', revenue: '0.40' },
        { day: '2026-11-20', product_id: 'p2', currency: 'USD', orders: '1', units: '3', revenue: '59.97' },
      ]);
    });
  });

  it('counts an order once whatever the redeliveries and producer retries', async () => {
    const first = order({ order_id: 'o1', event_id: 'e1' });
    await run(
      [first, first, { ...first, event_id: 'e1-retry' }, order({ order_id: 'o2' })],
      async (connection) => {
        const counts = await buildDatasetViews(connection);
        expect(counts).toMatchObject({ received: 4, valid: 4, duplicates: 2, orders: 2 });
        expect(await rows(connection, 'select event_id from order_facts order by order_id')).toEqual([
          { event_id: 'e1' },
          { event_id: 'e-o2' },
        ]);
      },
    );
  });

  it('gives one reason per invalid field and ignores unknown fields', async () => {
    const records = [
      'not json',
      '[1,2]',
      order({ quantity: 0, unit_price: '-1', extra: 'ignored' }),
      order({ quantity: 2.5, unit_price: '1.999', currency: 'usd' }),
      order({ event_time: '2026-11-20T10:00:00', order_id: '' }),
      order({ event_time: '2026-02-30T10:00:00Z', quantity: '1e9', unit_price: 'abc', user_id: null }),
      { order_id: 'x' },
    ];
    await run(records, async (connection) => {
      await buildDatasetViews(connection);
      const reasons = await rows(
        connection,
        'select record_ref, reasons from validated_orders order by record_ref',
      );
      expect(reasons).toEqual([
        { record_ref: 'r0', reasons: ['record: not valid JSON'] },
        { record_ref: 'r1', reasons: ['record: not a JSON object'] },
        { record_ref: 'r2', reasons: ['quantity: must be greater than 0', 'unit_price: must be 0 or more'] },
        {
          record_ref: 'r3',
          reasons: [
            'quantity: not a whole number (or more than 9 digits)',
            'unit_price: more than 2 decimal places',
            'currency: not an ISO 4217 code',
          ],
        },
        {
          record_ref: 'r4',
          reasons: ['order_id: required', 'event_time: not an ISO-8601 timestamp with a time zone'],
        },
        {
          record_ref: 'r5',
          reasons: [
            'user_id: required',
            'quantity: not a whole number (or more than 9 digits)',
            'unit_price: not a decimal number',
            'event_time: not an ISO-8601 timestamp with a time zone',
          ],
        },
        {
          record_ref: 'r6',
          reasons: [
            'event_id: required',
            'user_id: required',
            'product_id: required',
            'quantity: required',
            'unit_price: required',
            'event_time: required',
          ],
        },
      ]);
    });
  });
  it('rejects a number that only the patterns of why it did not type catch, with that reason', async () => {
    // Prepare: numbers that fail typing for a reason the cheap digits-only check does not name.
    const records = [
      order({ quantity: '-5', unit_price: '-1.5' }),
      order({ quantity: '-1234567890', unit_price: '-0.001' }),
      order({ quantity: '-0', unit_price: '1.999' }),
      order({ quantity: '1234567890', unit_price: '-1.999' }),
      order({ quantity: '+5', unit_price: '12345678901234.5' }),
      order({ quantity: '007', unit_price: '-12345678901234' }),
      order({ quantity: 100000, unit_price: '1000000.00' }),
    ];
    await run(records, async (connection) => {
      // Act
      await buildDatasetViews(connection);
      // Assess
      expect(
        await rows(
          connection,
          'select record_ref, is_valid, reasons from validated_orders order by record_ref',
        ),
      ).toEqual([
        {
          record_ref: 'r0',
          is_valid: false,
          reasons: ['quantity: must be greater than 0', 'unit_price: must be 0 or more'],
        },
        {
          record_ref: 'r1',
          is_valid: false,
          reasons: ['quantity: must be greater than 0', 'unit_price: must be 0 or more'],
        },
        {
          record_ref: 'r2',
          is_valid: false,
          reasons: ['quantity: must be greater than 0', 'unit_price: more than 2 decimal places'],
        },
        {
          record_ref: 'r3',
          is_valid: false,
          reasons: ['quantity: not a whole number (or more than 9 digits)', 'unit_price: must be 0 or more'],
        },
        {
          record_ref: 'r4',
          is_valid: false,
          reasons: [
            'quantity: not a whole number (or more than 9 digits)',
            'unit_price: not a decimal number',
          ],
        },
        { record_ref: 'r5', is_valid: false, reasons: ['unit_price: must be 0 or more'] },
        { record_ref: 'r6', is_valid: true, reasons: [] },
      ]);
    });
  });
  it('keeps every order seen once and the earliest copy of each repeated one, as one window over all copies would', async () => {
    // Prepare: keys seen once, keys repeated (ties on the event time broken by the other fields), a key on two days.
    const records = [
      order({ order_id: 'once-1', event_time: '2026-11-20T09:00:00Z' }),
      order({ order_id: 'twice', event_id: 'later', event_time: '2026-11-20T10:00:01Z' }),
      order({ order_id: 'once-2', quantity: 3 }),
      order({ order_id: 'twice', event_id: 'earlier', event_time: '2026-11-20T10:00:00Z' }),
      order({ order_id: 'tie', event_id: 'b', user_id: 'u1' }),
      order({ order_id: 'tie', event_id: 'a', user_id: 'u2' }),
      order({ order_id: 'tie', event_id: 'a', user_id: 'u1' }),
      order({ order_id: 'by-price', event_id: 'p', unit_price: '3.00' }),
      order({ order_id: 'by-price', event_id: 'p', unit_price: '2.00' }),
      order({ order_id: 'two-days', event_time: '2026-11-20T23:59:59Z' }),
      order({ order_id: 'two-days', event_time: '2026-11-21T00:00:00Z' }),
      order({ order_id: 'once-3', quantity: 0 }), // invalid: not a copy of anything
      order({ order_id: 'twice', quantity: 0, event_time: '2026-11-20T09:00:00Z' }), // invalid, earliest: ignored
    ];
    await run(records, async (connection) => {
      // Act
      const counts = await buildDatasetViews(connection);
      // Assess
      expect(counts).toEqual({ received: 13, valid: 11, quarantined: 2, duplicates: 4, orders: 7 });
      const facts = `select order_id, event_id, user_id, unit_price, reporting_day from %s order by all`;
      expect(await rows(connection, facts.replace('%s', 'order_facts'))).toEqual([
        {
          order_id: 'by-price',
          event_id: 'p',
          user_id: 'u1',
          unit_price: '2.00',
          reporting_day: '2026-11-20',
        },
        {
          order_id: 'once-1',
          event_id: 'e-once-1',
          user_id: 'u1',
          unit_price: '10.00',
          reporting_day: '2026-11-20',
        },
        {
          order_id: 'once-2',
          event_id: 'e-once-2',
          user_id: 'u1',
          unit_price: '10.00',
          reporting_day: '2026-11-20',
        },
        { order_id: 'tie', event_id: 'a', user_id: 'u1', unit_price: '10.00', reporting_day: '2026-11-20' },
        {
          order_id: 'twice',
          event_id: 'earlier',
          user_id: 'u1',
          unit_price: '10.00',
          reporting_day: '2026-11-20',
        },
        {
          order_id: 'two-days',
          event_id: 'e-two-days',
          user_id: 'u1',
          unit_price: '10.00',
          reporting_day: '2026-11-20',
        },
        {
          order_id: 'two-days',
          event_id: 'e-two-days',
          user_id: 'u1',
          unit_price: '10.00',
          reporting_day: '2026-11-21',
        },
      ]);
      const oneWindow = `(select * from validated_orders where is_valid
        qualify row_number() over (
          partition by order_id, reporting_day
          order by event_time, event_id nulls last, user_id nulls last, product_id nulls last, quantity nulls last,
                   unit_price nulls last, currency nulls last
        ) = 1)`;
      expect(await rows(connection, facts.replace('%s', 'order_facts'))).toEqual(
        await rows(connection, facts.replace('%s', oneWindow)),
      );
    });
  });
});
