import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileMessages } from '../../functions/ops/replay.ts';
import type { CoreDeps } from '../../functions/pipeline/ports.ts';
import { consumeMicroBatch } from '../../functions/stream/micro-batch.ts';
import { order } from '../support/orders.ts';
import { realtimeOrders, streamDeps } from './stream-helpers.ts';

const valid = order({ order_id: 'keep' });
const { quantity: _q, ...noQuantity } = valid;
const { event_time: _t, ...noEventTime } = valid;
const { event_id: _e, ...noEventId } = valid;

/** [kind, body, a reason it must be quarantined with]. */
const CORPUS: [string, string, string][] = [
  ['truncated JSON', '{"order_id": "o1", "quantity": 2', 'record: not valid JSON'],
  ['empty body', '', 'record: not valid JSON'],
  ['whitespace body', '   \n\t ', 'record: not valid JSON'],
  ['JSON array', '[1, 2, 3]', 'record: not a JSON object'],
  ['JSON string', '"an order"', 'record: not a JSON object'],
  ['JSON null', 'null', 'record: not'],
  ['JSON number', '42', 'record: not a JSON object'],
  ['XML', '<order id="1"/>', 'record: not valid JSON'],
  ['missing event_id', JSON.stringify(noEventId), 'event_id: required'],
  ['missing quantity', JSON.stringify(noQuantity), 'quantity: required'],
  ['missing event_time', JSON.stringify(noEventTime), 'event_time: required'],
  ['empty object', '{}', 'order_id: required'],
  ['null order_id', JSON.stringify({ ...valid, order_id: null }), 'order_id: required'],
  ['blank product_id', JSON.stringify({ ...valid, product_id: '   ' }), 'product_id: required'],
  ['quantity as words', JSON.stringify({ ...valid, quantity: 'two' }), 'quantity: not a whole number'],
  ['quantity fractional', JSON.stringify({ ...valid, quantity: 1.5 }), 'quantity: not a whole number'],
  ['quantity zero', JSON.stringify({ ...valid, quantity: 0 }), 'quantity: must be greater than 0'],
  ['quantity negative', JSON.stringify({ ...valid, quantity: -4 }), 'quantity: must be greater than 0'],
  ['quantity huge', JSON.stringify({ ...valid, quantity: 1e12 }), 'quantity: not a whole number'],
  ['quantity above limit', JSON.stringify({ ...valid, quantity: 100001 }), 'quantity: larger than 100000'],
  ['quantity as object', JSON.stringify({ ...valid, quantity: { n: 1 } }), 'quantity: not a whole number'],
  ['quantity boolean', JSON.stringify({ ...valid, quantity: true }), 'quantity: not a whole number'],
  ['price negative', JSON.stringify({ ...valid, unit_price: '-1.00' }), 'unit_price: must be 0 or more'],
  [
    'price 3 decimals',
    JSON.stringify({ ...valid, unit_price: '1.999' }),
    'unit_price: more than 2 decimal places',
  ],
  [
    'price huge',
    JSON.stringify({ ...valid, unit_price: '99999999999999999999' }),
    'unit_price: not a decimal',
  ],
  ['price above limit', JSON.stringify({ ...valid, unit_price: '1000000.01' }), 'unit_price: larger than'],
  ['price NaN', JSON.stringify({ ...valid, unit_price: 'NaN' }), 'unit_price: not a decimal number'],
  ['price exponent', JSON.stringify({ ...valid, unit_price: '1e3' }), 'unit_price: not a decimal number'],
  ['currency lowercase', JSON.stringify({ ...valid, currency: 'usd' }), 'currency: not an ISO 4217 code'],
  ['currency emoji', JSON.stringify({ ...valid, currency: '💶' }), 'currency: not an ISO 4217 code'],
  [
    'time without zone',
    JSON.stringify({ ...valid, event_time: '2026-11-20T10:00:00' }),
    'event_time: not an ISO-8601',
  ],
  ['time as words', JSON.stringify({ ...valid, event_time: 'yesterday' }), 'event_time: not an ISO-8601'],
  [
    'time impossible date',
    JSON.stringify({ ...valid, event_time: '2026-02-30T10:00:00Z' }),
    'event_time: not an ISO-8601',
  ],
  ['time epoch number', JSON.stringify({ ...valid, event_time: 1795255200 }), 'event_time: not an ISO-8601'],
  [
    'time far future',
    JSON.stringify({ ...valid, event_time: '2999-01-01T00:00:00Z' }),
    'event_time: outside 2000..2099',
  ],
  [
    'time year 0001',
    JSON.stringify({ ...valid, event_time: '0001-01-01T00:00:00Z' }),
    'event_time: outside 2000..2099',
  ],
  [
    'SQL in order_id',
    JSON.stringify({ ...valid, order_id: "x'); drop table order_facts; --", quantity: -1 }),
    'quantity',
  ],
  [
    'SQL in product_id',
    JSON.stringify({ ...valid, product_id: "' or 1=1 --", unit_price: 'x' }),
    'unit_price',
  ],
  [
    'unicode ids too long',
    JSON.stringify({ ...valid, user_id: '🛒'.repeat(200) }),
    'user_id: longer than 128',
  ],
  [
    'NUL and RTL characters',
    JSON.stringify({ ...valid, order_id: 'a\u0000b\u202e', quantity: 'x' }),
    'quantity',
  ],
  ['256 KB body', JSON.stringify({ ...valid, quantity: 'big', padding: 'x'.repeat(256 * 1024) }), 'quantity'],
  ['256 KB garbage', 'x'.repeat(256 * 1024), 'record: not valid JSON'],
  ['deeply nested', `${'['.repeat(5000)}${']'.repeat(5000)}`, 'record: not'],
  [
    'duplicate keys, bad last',
    '{"order_id":"o","quantity":1,"quantity":"bad"}',
    'record: duplicate key quantity',
  ],
  [
    'duplicate keys, good last',
    JSON.stringify(valid).replace('{', '{"order_id":"decoy",'),
    'record: duplicate key order_id',
  ],
  [
    'duplicate keys, same value',
    JSON.stringify(valid).replace('{', '{"unit_price":"10.00",'),
    'record: duplicate key unit_price',
  ],
  ['order_id array', JSON.stringify({ ...valid, order_id: ['o1'] }), 'order_id: must be a string or'],
  ['order_id object', JSON.stringify({ ...valid, order_id: { id: 'o1' } }), 'order_id: must be a string or'],
  ['order_id boolean', JSON.stringify({ ...valid, order_id: true }), 'order_id: must be a string or'],
  ['order_id fraction', JSON.stringify({ ...valid, order_id: 4.5 }), 'order_id: must be a string or'],
  [
    'product_id array',
    JSON.stringify({ ...valid, product_id: ['p1', 'p2'] }),
    'product_id: must be a string',
  ],
  ['user_id boolean', JSON.stringify({ ...valid, user_id: false }), 'user_id: must be a string or'],
  ['event_id object', JSON.stringify({ ...valid, event_id: { id: 'e1' } }), 'event_id: must be a string or'],
  ['currency array', JSON.stringify({ ...valid, currency: ['USD'] }), 'currency: not an ISO 4217 code'],
  ['event_time array', JSON.stringify({ ...valid, event_time: [valid['event_time']] }), 'event_time: not an'],
  ['event_time boolean', JSON.stringify({ ...valid, event_time: true }), 'event_time: not an ISO-8601'],
  ['invalid UTF-16 escape', '{"order_id":"\\ud800","quantity":1}', 'record'],
];

describe('malformed records', () => {
  it(`never crash the consumer: ${CORPUS.length} kinds each quarantined with its reason, valid records still counted`, async () => {
    // Prepare
    const { deps } = streamDeps();
    const bodies = [
      JSON.stringify(valid),
      ...CORPUS.map(([, body]) => body),
      JSON.stringify({ ...order({ order_id: 'keep-2' }), extra_field: { nested: true }, unknown: 'ignored' }),
    ];
    // Act
    const result = await consumeMicroBatch(
      { messages: bodies.map((body, i) => ({ messageId: `msg-${String(i).padStart(3, '0')}`, body })) },
      deps,
    );
    // Assess
    expect(result.failedMessageIds).toEqual([]);
    expect(result).toMatchObject({
      received: CORPUS.length + 2,
      valid: 2,
      quarantined: CORPUS.length,
      orders: 2,
    });
    const lines = (await deps.store.get(result.quarantineKey!))!.body
      .toString('utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { message_id: string; reasons: string[]; raw: string });
    const byId = new Map(lines.map((l) => [l.message_id, l]));
    for (const [i, [kind, body, reason]] of CORPUS.entries()) {
      const line = byId.get(`msg-${String(i + 1).padStart(3, '0')}`);
      expect(line, kind).toBeDefined();
      expect(line!.reasons.join('; '), kind).toContain(reason);
      expect(line!.raw, kind).toBe(body);
    }
    expect(await realtimeOrders(deps.store, '2026-11-20')).toBe(2);
  });
});

async function quarantineLines(deps: CoreDeps, key: string | null) {
  const object = key === null ? undefined : await deps.store.get(key);
  expect(object, 'quarantine file').toBeDefined();
  return (object?.body.toString('utf8') ?? '')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { reasons: string[]; raw: string });
}

describe('JSON types', () => {
  it('whole-number ids are still accepted, as their digits', async () => {
    // Prepare: producers with integer keys send them as JSON numbers; nothing in them is ambiguous.
    const { deps } = streamDeps();
    const body = JSON.stringify(order({ order_id: 42, event_id: 7, product_id: 5 })).replace(
      '"u1"',
      '9007199254740993',
    );
    // Act
    const result = await consumeMicroBatch({ messages: [{ messageId: 'msg-42', body }] }, deps);
    // Assess
    expect(result).toMatchObject({ received: 1, valid: 1, orders: 1 });
  });
});

describe('duplicate keys', () => {
  it('a body of 14,000 copies of one key is judged in linear time, not quadratic', async () => {
    // Prepare: the largest SQS body of one key repeated; comparing every key with every other took seconds.
    const { deps } = streamDeps();
    const body = `{${Array.from({ length: 14000 }, (_, i) => `"order_id":"${i}"`).join(',')}}`;
    // Act
    const t0 = performance.now();
    const result = await consumeMicroBatch({ messages: [{ messageId: 'msg-keys', body }] }, deps);
    const elapsedMs = performance.now() - t0;
    // Assess: the quadratic version took 8 to 12 s on a 2-core machine; linear takes well under 0.1 s.
    expect(result).toMatchObject({ received: 1, quarantined: 1 });
    expect(elapsedMs).toBeLessThan(2000);
  });
});

describe('record encoding', () => {
  it('a body starting with a UTF-8 BOM is read like a file that starts with one', async () => {
    // Prepare
    const { deps } = streamDeps();
    const body = `\uFEFF${JSON.stringify(order({ order_id: 'bom' }))}`;
    // Act
    const result = await consumeMicroBatch({ messages: [{ messageId: 'msg-bom', body }] }, deps);
    // Assess
    expect(result).toMatchObject({ received: 1, valid: 1, quarantined: 0, orders: 1 });
  });

  it('a body holding a lone UTF-16 surrogate is quarantined as not UTF-8, never stored repaired', async () => {
    // Real SQS refuses such bodies; a fixture through `twinflow invoke` (JSON.parse of "\ud800") can carry one.
    const { deps } = streamDeps();
    // JSON.stringify would escape it, so it goes in by hand, as JSON.parse of an event fixture leaves it.
    const body = JSON.stringify(order({ order_id: 'surrogate', user_id: 'u#' })).replace('#', '\ud800');

    const result = await consumeMicroBatch({ messages: [{ messageId: 'msg-lone', body }] }, deps);

    expect(result).toMatchObject({ received: 1, valid: 0, quarantined: 1, orders: 0 });
    const [line] = await quarantineLines(deps, result.quarantineKey);
    expect(line?.reasons).toEqual(['record: not valid UTF-8']);
    expect(line?.raw).toContain('"user_id":"u\\ud800"');
  });

  it('a replayed .jsonl line with bytes that are not UTF-8 gets the reason a batch export gets', async () => {
    // Prepare
    const { dir, deps } = streamDeps();
    const file = path.join(dir, 'events.jsonl');
    const broken = Buffer.from(JSON.stringify(order({ order_id: 'latin1', user_id: 'ren#' })));
    broken[broken.indexOf('#')] = 0xe9;
    writeFileSync(file, Buffer.concat([Buffer.from(`${JSON.stringify(order())}\n`), broken]));
    const replayed = [];
    for await (const message of fileMessages(file)) replayed.push(message);
    // Act
    const result = await consumeMicroBatch({ messages: replayed }, deps);
    // Assess
    expect(result).toMatchObject({ received: 2, valid: 1, quarantined: 1 });
    const [line] = await quarantineLines(deps, result.quarantineKey);
    expect(line?.reasons).toEqual(['record: not valid UTF-8']);
    expect(line?.raw).toContain('ren\\xE9');
  });
});
