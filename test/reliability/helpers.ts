import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { lake } from '../../functions/pipeline/lake-layout.ts';
import { revenueJson } from '../../functions/pipeline/money.ts';
import type { ObjectStore } from '../../functions/pipeline/object-store.ts';
import { toCents } from '../../functions/reconcile/exact.ts';
import type { StreamQuarantineRecord } from '../../functions/stream/micro-batch.ts';
import { createOrderGenerator, type OrderEvent } from '../../local/order-generator.ts';
import { expectedTotals } from '../e2e/twinflow-process.ts';
import { realtimeMinutes } from '../stream/stream-helpers.ts';

/** Totals as GET /sales reports them: orders, units and revenue as an exact decimal string. */
export interface Totals {
  orders: number;
  units: number;
  revenue?: string;
  revenue_by_currency: Record<string, string>;
}

export { expectedTotals };

/** `count` valid orders with unique ids, `stepMs` apart from `start`. */
export function validOrders(count: number, seed: number, start: Date, stepMs = 1000): OrderEvent[] {
  const generator = createOrderGenerator({ seed, idPrefix: `rel${seed}` });
  return Array.from({ length: count }, (_, i) => generator.next(new Date(start.getTime() + i * stepMs)));
}

/** An SQS event as Lambda's event source mapping builds it. */
export function sqsEvent(bodies: readonly { id: string; body: string }[]): SQSEvent {
  const now = String(Date.now());
  return {
    Records: bodies.map(
      ({ id, body }): SQSRecord => ({
        messageId: id,
        receiptHandle: `rh-${id}`,
        body,
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: now,
          SenderId: 'reliability',
          ApproximateFirstReceiveTimestamp: now,
        },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:orders',
        awsRegion: 'us-east-1',
      }),
    ),
  };
}

/** Every stream quarantine record in the lake. */
export async function quarantineRecords(store: ObjectStore): Promise<StreamQuarantineRecord[]> {
  const records: StreamQuarantineRecord[] = [];
  for (const info of await store.list(lake.quarantinePrefix())) {
    const object = await store.get(info.key);
    for (const line of (object?.body.toString('utf8') ?? '').split('\n')) {
      if (line.trim()) records.push(JSON.parse(line) as StreamQuarantineRecord);
    }
  }
  return records;
}

/** What a reader of the realtime view sees for a day, summed (orders, units, revenue), exact. */
export async function realtimeTotals(store: ObjectStore, day: string): Promise<Totals> {
  const cents = new Map<string, bigint>();
  let orders = 0;
  let units = 0;
  for (const row of await realtimeMinutes(store, day)) {
    orders += Number(row.orders);
    units += Number(row.units);
    cents.set(row.currency, (cents.get(row.currency) ?? 0n) + toCents(row.revenue));
  }
  return { orders, units, ...revenueJson(cents) };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
