import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SelfManagedKafkaEvent } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { withConnection } from '../../functions/pipeline/duckdb-session.ts';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { NOT_UTF8 } from '../../functions/pipeline/record-sources.ts';
import { kafkaEventOf, kafkaRecordOf } from '../../functions/stream/kafka-records.ts';
import type { StreamQuarantineRecord } from '../../functions/stream/micro-batch.ts';
import { batchLayerMinutes, realtimeMinutes, realtimeOrders } from '../stream/stream-helpers.ts';
import { fixture, lambdaContext } from '../support/lambda-context.ts';

/**
 * events/kafka-orders.json (a SelfManagedKafka event: ten records of `twinflow.orders` on two partitions — eight
 * orders, a producer retry of ord-0003 at a later offset, one record that is not JSON) through the real ingest
 * handler, its real local lake and DuckDB.
 */
const lakeDir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-ingest-kafka-'));
type Response = { batchItemFailures: { itemIdentifier: { partition: string; offset: number } }[] };
let handler: (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<Response>;

beforeAll(async () => {
  process.env['LAKE_DIR'] = lakeDir;
  delete process.env['LAKE_BUCKET'];
  delete process.env['TWINFLOW_DATASET'];
  process.env['POWERTOOLS_LOG_LEVEL'] = 'ERROR';
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  ({ handler } = (await import('../../functions/ingest-orders/handler.ts')) as unknown as {
    handler: typeof handler;
  });
});

const store = () => new LocalDirectoryStore(lakeDir);
const DAY = '2026-11-21';

/** Every record of a Kafka event: its id, decoded value and, where the value is JSON, the object. */
function recordsOf(event: SelfManagedKafkaEvent) {
  return Object.values(event.records)
    .flat()
    .map((r) => {
      const text = Buffer.from(r.value, 'base64').toString();
      let json: { order_id: string; event_id: string } | undefined;
      try {
        json = JSON.parse(text);
      } catch {}
      return { id: `${r.topic}-${r.partition}-${r.offset}`, text, json };
    });
}

/** The quarantine lines of the orders dataset, whatever day file they are in. */
function quarantined(): StreamQuarantineRecord[] {
  const root = path.join(lakeDir, 'quarantine', 'orders');
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.jsonl'))
    .flatMap((file) =>
      readFileSync(path.join(root, file), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as StreamQuarantineRecord),
    );
}

/** Order ids in the day's stream archive, one row per stored record. */
async function archivedOrderIds(day: string): Promise<string[]> {
  const glob = path.join(lakeDir, 'stream', 'orders', `dt=${day}`, '**', '*.parquet');
  return withConnection(async (connection) =>
    (
      (
        await connection.runAndReadAll(`select order_id from read_parquet('${glob}') order by order_id`)
      ).getRowObjectsJson() as { order_id: string }[]
    ).map((r) => r.order_id),
  );
}

describe('ingest-orders handler, Kafka event source', () => {
  it('kafka-orders.json: valid orders counted once, the retry deduplicated, the poison record quarantined', async () => {
    // Prepare
    const event = (await fixture('kafka-orders.json')) as SelfManagedKafkaEvent;
    const records = recordsOf(event);
    const poison = records.filter((r) => r.json === undefined);
    const distinct = [...new Set(records.flatMap((r) => (r.json ? [r.json.order_id] : [])))].sort();
    // The first copy of each order (the retry is the later offset of ord-0003, with its own event id).
    const firstCopies = records.filter(
      (r, i) => r.json && records.findIndex((o) => o.json?.order_id === r.json?.order_id) === i,
    );
    expect(records).toHaveLength(10);
    expect(distinct).toHaveLength(8);
    expect(poison.map((r) => r.id)).toEqual(['twinflow.orders-1-1191']);

    // Act
    const response = await handler(event, lambdaContext('ingest-orders'));

    // Assess: every record acknowledged; the eight orders served and archived once each, as the batch layer
    // would count the same values.
    expect(response).toEqual({ batchItemFailures: [] });
    expect(await realtimeOrders(store(), DAY)).toBe(8);
    expect(firstCopies).toHaveLength(8);
    expect(await realtimeMinutes(store(), DAY)).toEqual(
      await batchLayerMinutes(firstCopies.map((r) => r.text)),
    );
    expect(await archivedOrderIds(DAY)).toEqual(distinct);
    const statsDir = path.join(lakeDir, 'state', 'stream', 'orders', 'batches', `dt=${DAY}`);
    const stats = readdirSync(statsDir).map((file) =>
      JSON.parse(readFileSync(path.join(statsDir, file), 'utf8')),
    );
    expect(stats).toEqual([
      expect.objectContaining({
        hours: { '10': { valid: 9, orders: 8, duplicates: 1, late: 0 } },
        quarantined: { hour: '10', count: 1 },
      }),
    ]);
    const [poisoned, ...others] = quarantined();
    expect(others).toEqual([]);
    expect(poisoned).toMatchObject({
      message_id: 'twinflow.orders-1-1191',
      record_ref: 'twinflow.orders-1-1191',
      source: 'kafka',
      raw: poison[0]?.text,
      receive_count: null,
      sent_at: new Date(event.records['twinflow.orders-1']?.at(-1)?.timestamp ?? 0).toISOString(),
    });
    expect(poisoned?.reasons).toEqual(['record: not valid JSON']);
  });

  it('kafka-orders.json delivered again (offsets not committed): nothing counted twice', async () => {
    const response = await handler(await fixture('kafka-orders.json'), lambdaContext('ingest-orders'));
    expect(response).toEqual({ batchItemFailures: [] });
    expect(await realtimeOrders(store(), DAY)).toBe(8);
    expect(quarantined().map((r) => r.message_id)).toEqual(['twinflow.orders-1-1191']);
  });

  it('quarantines a record whose value is not UTF-8 as such, its bytes shown as \\xNN', async () => {
    // Prepare: a valid order whose user id holds a stray 0xFF byte, next to a valid order (é is valid UTF-8).
    const order = (id: string, user: Buffer) =>
      Buffer.concat([
        Buffer.from(`{"event_id": "evt-${id}", "order_id": "ord-${id}", "user_id": "`),
        user,
        Buffer.from(
          `", "product_id": "p-1", "quantity": 1, "unit_price": "19.99", "currency": "USD", "event_time": "${DAY}T10:05:00Z"}`,
        ),
      ]);
    const sent = String(Date.parse(`${DAY}T10:05:01Z`));
    const event = kafkaEventOf(
      [
        kafkaRecordOf('twinflow.orders', 2, {
          offset: '7',
          timestamp: sent,
          key: null,
          value: order('0101', Buffer.from([0x72, 0xc3, 0xa9, 0xff, 0x6e])),
        }),
        kafkaRecordOf('twinflow.orders', 2, {
          offset: '8',
          timestamp: sent,
          key: Buffer.from('ord-0102'),
          value: order('0102', Buffer.from('rené')),
          headers: { source: 'test' },
        }),
      ],
      'localhost:9092',
    );

    // Act
    const response = await handler(event, lambdaContext('ingest-orders'));

    // Assess: acknowledged, quarantined with the UTF-8 reason and the bytes recoverable; the other order counted.
    expect(response).toEqual({ batchItemFailures: [] });
    const record = quarantined().find((r) => r.message_id === 'twinflow.orders-2-7');
    expect(record?.reasons).toEqual([NOT_UTF8]);
    expect(record?.raw).toContain('"user_id": "ré\\xFFn"');
    expect(await realtimeOrders(store(), DAY)).toBe(9);
    expect(await archivedOrderIds(DAY)).toContain('ord-0102');
    expect(await archivedOrderIds(DAY)).not.toContain('ord-0101');
  });

  it('rejects an event that is neither an SQS batch nor a Kafka one, saying what it expected', async () => {
    const malformed = [
      { hello: 'world' },
      // Kafka-like, but no event source, or a record without topic, partition and offset.
      { records: { 'twinflow.orders-0': [] } },
      { eventSource: 'aws:kafka', records: { 'twinflow.orders-0': [{ value: 'e30=' }] } },
      { eventSource: 'SelfManagedKafka', records: [] },
    ];
    for (const event of malformed) {
      await expect(handler(event, lambdaContext('ingest-orders'))).rejects.toMatchObject({
        name: 'InvalidInputError',
        message: expect.stringMatching(
          /expected an SQS event .*or a Kafka event .*aws:kafka.*SelfManagedKafka/,
        ),
      });
    }
  });
});
