import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listQuarantine } from '../../functions/ops/quarantine.ts';
import { addDays, dayOf } from '../../functions/pipeline/dates.ts';
import { lake } from '../../functions/pipeline/lake-layout.ts';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { putJson } from '../../functions/pipeline/object-store.ts';
import { silentLog } from '../../functions/pipeline/ports.ts';
import type { DayComparison } from '../../functions/reconcile/deviation.ts';
import type { DayExplanation, ReconciliationRun } from '../../functions/reconcile/run-record.ts';
import { consumeMicroBatch } from '../../functions/stream/micro-batch.ts';
import { expectedTotals, publishBatchDay, type Sale } from '../serving/lake-fixtures.ts';

/**
 * A lake for the dashboard, relative to the real clock (the page and the handler both use it): 31 published batch
 * days, today's orders through the real speed layer (partials, quarantine, a late event), a batch quarantine file
 * and three reconciliation run records, the newest above the threshold with an alert.
 */

export const BATCH_DAYS = 31;
export const PRODUCTS = ['p-alpha', 'p-beta', 'p-gamma', 'p-delta'] as const;
export const THRESHOLD = '0.100000';
export const LATEST_DEVIATION = { before: '0.150000', after: '0.125000' };
export const DLQ_MESSAGES = 2;
/** The orders consumer group's lag on each of 4 partitions. */
export const KAFKA_LAG = [0, 3, 0, 12];

export interface SeededLake {
  dir: string;
  store: LocalDirectoryStore;
  now: Date;
  /** Every order the serving layer counts (batch days + today's valid stream orders), with its product. */
  served: Required<Pick<Sale, 'order_id' | 'event_time' | 'product_id' | 'quantity' | 'unit_price'>>[];
  /** Quarantined records as stored, and the most frequent reason over them. */
  quarantined: number;
  topReason: { reason: string; count: number };
  lateHour: string;
  alertMessage: string;
}

type ServedSale = SeededLake['served'][number];

function batchDaySales(day: string, index: number): ServedSale[] {
  return [2, 9, 14, 21].map((hour, i) => ({
    order_id: `b-${day}-${i}`,
    event_time: `${day}T${String(hour).padStart(2, '0')}:${String((index * 7 + i * 11) % 60).padStart(2, '0')}:00Z`,
    product_id: PRODUCTS[(index + i) % 3] ?? 'p-alpha',
    quantity: 1 + ((index + i) % 3),
    unit_price: `${10 + ((index * 3 + i) % 17)}.${String((index * 13 + i * 29) % 100).padStart(2, '0')}`,
  }));
}

function comparison(maxAbs: string, batchOrders: number, realtimeOrders: number): DayComparison {
  const row = {
    batch: {
      orders: batchOrders,
      units: batchOrders,
      revenue: `${batchOrders * 10}.00`,
      revenue_by_currency: { USD: `${batchOrders * 10}.00` },
    },
    realtime: {
      orders: realtimeOrders,
      units: realtimeOrders,
      revenue: `${realtimeOrders * 10}.00`,
      revenue_by_currency: { USD: `${realtimeOrders * 10}.00` },
    },
    deviation: {
      orders: `-${maxAbs}`,
      units: `-${maxAbs}`,
      revenue: `-${maxAbs}`,
      revenue_by_currency: { USD: `-${maxAbs}` },
    },
    max_abs_deviation: maxAbs,
  };
  return {
    totals: row,
    hours: [],
    products: [],
    cells: [],
    products_compared: PRODUCTS.length,
    products_deviating: maxAbs === '0.000000' ? 0 : 1,
    cells_deviating: maxAbs === '0.000000' ? 0 : 1,
    max_abs_deviation: maxAbs,
  };
}

function explanation(summary: string): DayExplanation {
  const none = { count: 0, sample_ids: [], by_hour: {} };
  return {
    summary,
    quarantined: { records: 3, by_reason: {}, by_hour: {} },
    batch_quarantined: 1,
    cross_day_duplicates: {},
    dlq_messages: DLQ_MESSAGES,
    late: 1,
    duplicates: 0,
    missing_from_stream: { ...none, count: 1, sample_ids: ['b-missing'] },
    missing_from_batch: none,
    realtime_gaps: [],
    by_hour: {},
  };
}

function run(at: Date, day: string, before: string, after: string, alerted: boolean): ReconciliationRun {
  const runId = `rec-${at.toISOString().replace(/[-:]/g, '').slice(0, 13)}`;
  const summary = alerted ? '1 order missing from the stream (DLQ holds 2 messages)' : 'layers agree';
  const message = `batch and realtime deviate by ${after} (threshold ${THRESHOLD}) at ${day}, product p-beta: ${summary}`;
  return {
    run_id: runId,
    now: at.toISOString(),
    started_at: at.toISOString(),
    finished_at: new Date(at.getTime() + 4_000).toISOString(),
    threshold: THRESHOLD,
    lookback_days: 3,
    status: alerted ? 'deviation' : 'ok',
    max_abs_deviation: { before, after },
    days: [
      {
        day,
        batch: { version: `v-${day}`, run_id: `run-v-${day}`, published_at: `${day}T23:59:00.000Z` },
        realtime_hours: ['02', '09', '14', '21'],
        archive_files: 4,
        before: comparison(before, 8, 7),
        after: comparison(after, 8, 7),
        explanation: explanation(summary),
      },
    ],
    skipped_days: [],
    dlq_messages: DLQ_MESSAGES,
    corrections: [],
    alerts: alerted
      ? [
          {
            alert_id: `${runId}-${day}`,
            day,
            where: { day, hour: null, product_id: 'p-beta' },
            max_abs_deviation: after,
            message,
          },
        ]
      : [],
  };
}

/** Seeds a fresh lake directory; `now` is the real clock unless a test pins it. */
export async function seedDashboardLake(now = new Date()): Promise<SeededLake> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-dashboard-'));
  const store = new LocalDirectoryStore(dir);
  const deps = { store, clock: () => now, log: silentLog };
  const today = dayOf(now);
  const ago = (ms: number) => new Date(now.getTime() - ms).toISOString();

  // Today's stream: the newest order is `now` itself, so the last-minute window and freshness have data.
  const recent: ServedSale[] = [
    { order_id: 'r-1', event_time: ago(0), product_id: 'p-gamma', quantity: 1, unit_price: '250.00' },
    { order_id: 'r-2', event_time: ago(3 * 60_000), product_id: 'p-alpha', quantity: 2, unit_price: '19.99' },
    { order_id: 'r-3', event_time: ago(10 * 60_000), product_id: 'p-beta', quantity: 1, unit_price: '7.45' },
    { order_id: 'r-4', event_time: ago(40 * 60_000), product_id: 'p-alpha', quantity: 3, unit_price: '0.10' },
  ];
  const late: ServedSale = {
    order_id: 'r-late',
    event_time: ago(95 * 60_000),
    product_id: 'p-delta',
    quantity: 1,
    unit_price: '5.00',
  };
  // Just after midnight some "recent" orders belong to yesterday, which batch has published: batch holds them.
  const streamed = recent.filter((sale) => sale.event_time.slice(0, 10) === today);
  const intoBatch = recent.filter((sale) => sale.event_time.slice(0, 10) !== today);

  const served: ServedSale[] = [];
  for (let i = BATCH_DAYS; i >= 1; i--) {
    const day = addDays(today, -i);
    const sales = [...batchDaySales(day, i), ...intoBatch.filter((s) => s.event_time.startsWith(day))];
    await publishBatchDay(store, day, sales, `v-${day}`);
    served.push(...sales);
  }

  const event = (sale: ServedSale) =>
    JSON.stringify({ event_id: `e-${sale.order_id}`, user_id: 'u-1', currency: 'USD', ...sale });
  const first = await consumeMicroBatch(
    {
      allowedLatenessSeconds: 300,
      messages: [
        ...streamed.map((sale) => ({ messageId: `m-${sale.order_id}`, body: event(sale), sentAt: now })),
        {
          messageId: 'm-bad-1',
          body: JSON.stringify({
            event_id: 'e-bad-1',
            order_id: 'bad-1',
            user_id: 'u-1',
            product_id: 'p-alpha',
            quantity: 0,
            unit_price: '1.00',
            currency: 'USD',
            event_time: ago(60_000),
          }),
          sentAt: now,
        },
        {
          messageId: 'm-bad-2',
          body: JSON.stringify({
            event_id: 'e-bad-2',
            order_id: 'bad-2',
            user_id: 'u-1',
            product_id: 'p-beta',
            quantity: -1,
            unit_price: '1.00',
            currency: 'usd',
            event_time: ago(60_000),
          }),
          sentAt: now,
        },
        { messageId: 'm-bad-3', body: 'not json at all', sentAt: now },
      ],
    },
    deps,
  );
  if (first.error) throw new Error(first.error);
  // Behind the watermark the first batch advanced: counted in its own minute, and counted as late.
  const second = await consumeMicroBatch(
    {
      allowedLatenessSeconds: 300,
      messages: [{ messageId: 'm-r-late', body: event(late), sentAt: now }],
    },
    deps,
  );
  if (second.error || second.late !== 1)
    throw new Error(`late event not seen as late: ${JSON.stringify(second)}`);
  served.push(...streamed);
  if (late.event_time.slice(0, 10) === today) served.push(late);

  // A batch-layer rejection yesterday, in the batch quarantine format.
  const yesterday = addDays(today, -1);
  await store.put(
    lake.quarantine(yesterday, 'run-v-batch'),
    `${JSON.stringify({
      record_ref: 'landing/orders/export.jsonl:7',
      source: 'batch',
      reasons: ['quantity: must be a whole number > 0'],
      raw: '{"order_id":"x-7","quantity":0}',
      quarantined_at: `${yesterday}T23:59:30.000Z`,
    })}\n`,
  );

  const runs = [
    run(new Date(now.getTime() - 3 * 3_600_000), yesterday, '0.000000', '0.000000', false),
    run(new Date(now.getTime() - 2 * 3_600_000), yesterday, '0.020000', '0.000000', false),
    run(
      new Date(now.getTime() - 3_600_000),
      yesterday,
      LATEST_DEVIATION.before,
      LATEST_DEVIATION.after,
      true,
    ),
  ];
  for (const record of runs)
    await putJson(store, lake.reconciliationRun(dayOf(new Date(record.now)), record.run_id), record);

  // Orders ingested from Kafka: the local runtime's measure of the consumer group's lag.
  await putJson(store, lake.kafkaLag('orders'), {
    dataset: 'orders',
    topic: 'twinflow.orders',
    group: 'twinflow-orders',
    total: KAFKA_LAG.reduce((n, lag) => n + lag, 0),
    partitions: KAFKA_LAG.map((lag, partition) => ({ partition, committed: 100, high: 100 + lag, lag })),
    measured_at: now.toISOString(),
  });

  const records = await listQuarantine(store);
  const reasons = new Map<string, number>();
  for (const record of records)
    for (const reason of new Set(record.reasons)) reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  const [reason = '', count = 0] =
    [...reasons].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0] ?? [];
  return {
    dir,
    store,
    now,
    served,
    quarantined: records.length,
    topReason: { reason, count },
    lateHour: `${late.event_time.slice(0, 13)}:00:00Z`,
    alertMessage: runs[2]?.alerts[0]?.message ?? '',
  };
}

/** Totals of the served orders whose event time is in [start, end). */
export function totalsIn(
  seed: SeededLake,
  start: Date,
  end: Date,
): { orders: number; units: number; revenue: string } {
  return expectedTotals(
    seed.served.filter((sale) => {
      const t = Date.parse(sale.event_time);
      return t >= start.getTime() && t < end.getTime();
    }),
  );
}

/** The product with the most revenue in [start, end) (cents, exact; ties by id, like the page). */
export function topProductIn(
  seed: SeededLake,
  start: Date,
  end: Date,
): { productId: string; revenue: string } {
  // The dashboard ranks by orders: revenue in different currencies has no common order.
  const byProduct = new Map<string, { orders: number; cents: bigint }>();
  for (const sale of seed.served) {
    const t = Date.parse(sale.event_time);
    if (t < start.getTime() || t >= end.getTime()) continue;
    const [whole = '0', fraction = '0'] = sale.unit_price.split('.');
    const amount = BigInt(sale.quantity) * (BigInt(whole) * 100n + BigInt(fraction.padEnd(2, '0')));
    const entry = byProduct.get(sale.product_id) ?? { orders: 0, cents: 0n };
    byProduct.set(sale.product_id, { orders: entry.orders + 1, cents: entry.cents + amount });
  }
  const [productId = '', top = { orders: 0, cents: 0n }] =
    [...byProduct].sort(([a, x], [b, y]) => y.orders - x.orders || a.localeCompare(b))[0] ?? [];
  const value = top.cents;
  return { productId, revenue: `${value / 100n}.${(value % 100n).toString().padStart(2, '0')}` };
}
