import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { type PublishedDay, publishDay } from '../../functions/pipeline/batch-published.ts';
import { buildDatasetViews, copyToParquet } from '../../functions/pipeline/dataset-views.ts';
import { withConnection } from '../../functions/pipeline/duckdb-session.ts';
import { lake } from '../../functions/pipeline/lake-layout.ts';
import type { ObjectStore } from '../../functions/pipeline/object-store.ts';
import type { CoreDeps } from '../../functions/pipeline/ports.ts';
import { appendJsonRecords, createRawTable } from '../../functions/pipeline/record-sources.ts';

/** A minimal order for serving fixtures: quantity × price gives the expected money exactly. */
export interface Sale {
  order_id: string;
  product_id?: string;
  quantity?: number;
  unit_price?: string;
  event_time: string;
}

function event(sale: Sale): Record<string, unknown> {
  return {
    event_id: `e-${sale.order_id}`,
    user_id: 'u1',
    product_id: 'p1',
    quantity: 1,
    unit_price: '10.00',
    currency: 'USD',
    ...sale,
  };
}

/** Runs the shared models over `sales` and stores their sales_minute rows as a Parquet object under `key`. */
export async function putSalesMinute(
  store: ObjectStore,
  key: string,
  sales: readonly Sale[],
  dailyKey?: string,
): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'twinflow-serving-fixture-'));
  try {
    const file = path.join(dir, 'sales_minute.parquet');
    await withConnection(async (connection) => {
      await createRawTable(connection);
      await appendJsonRecords(
        connection,
        sales.map((sale, i) => ({ ref: `r${i}`, line: JSON.stringify(event(sale)) })),
        { source: 'fixture', isEventIdRequired: true },
      );
      const counts = await buildDatasetViews(connection, { daily: true });
      if (counts.quarantined > 0) throw new Error(`fixture has ${counts.quarantined} invalid sales`);
      await copyToParquet(connection, 'select * from sales_minute order by window_start, product_id', file);
      if (dailyKey) await copyToParquet(connection, 'select * from daily_sales', `${file}.daily`);
    });
    await store.putFile(key, file);
    if (dailyKey) await store.putFile(dailyKey, `${file}.daily`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Publishes `sales` as the batch views (sales_minute, daily_sales) of `day`, as the batch layer would. */
export async function publishBatchDay(
  store: ObjectStore,
  day: string,
  sales: readonly Sale[],
  version: string,
  now = new Date(`${day}T23:59:00Z`),
): Promise<PublishedDay> {
  const key = lake.batchView('sales_minute', day, version);
  await putSalesMinute(store, key, sales, lake.batchView('daily_sales', day, version));
  const entry: PublishedDay = {
    day,
    version,
    runId: `run-${version}`,
    publishedAt: now.toISOString(),
    orders: sales.length,
    revenue_by_currency: {},
    files: {
      sales_minute: key,
      daily_sales: lake.batchView('daily_sales', day, version),
      order_facts: lake.batchView('order_facts', day, version),
    },
  };
  await publishDay(store, entry, now);
  return entry;
}

/** Writes `sales` as one speed-layer partial of `day`/`hh`. */
export async function putRealtimePartial(
  store: ObjectStore,
  day: string,
  hh: string,
  batchId: string,
  sales: readonly Sale[],
): Promise<string> {
  const key = lake.realtimePartial(day, hh, batchId);
  await putSalesMinute(store, key, sales);
  return key;
}

/** Expected totals computed in JS from the sales themselves (cents, exact). */
export function expectedTotals(sales: readonly Sale[]): {
  orders: number;
  units: number;
  revenue: string;
  revenue_by_currency: Record<string, string>;
} {
  let cents = 0n;
  let units = 0;
  for (const sale of sales) {
    const quantity = sale.quantity ?? 1;
    const [whole = '0', fraction = ''] = (sale.unit_price ?? '10.00').split('.');
    cents += BigInt(quantity) * (BigInt(whole) * 100n + BigInt(fraction.padEnd(2, '0')));
    units += quantity;
  }
  const revenue = `${cents / 100n}.${(cents % 100n).toString().padStart(2, '0')}`;
  return { orders: sales.length, units, revenue, revenue_by_currency: { USD: revenue } };
}

/** One sale per listed hour of `day`, at minute `minute`, with distinct ids under `prefix`. */
export function hourlySales(
  day: string,
  hours: readonly number[],
  prefix: string,
  overrides: Partial<Sale> = {},
  minute = 30,
): Sale[] {
  return hours.map((h) => ({
    order_id: `${prefix}-${day}-${h}`,
    event_time: `${day}T${String(h).padStart(2, '0')}:${String(minute).padStart(2, '0')}:00Z`,
    ...overrides,
  }));
}

/** Writes `rows` as a day's JSONL export of a dataset and publishes the day through the batch layer. */
export async function publishExport(
  deps: CoreDeps,
  datasetName: string,
  day: string,
  rows: readonly object[],
) {
  await deps.store.put(
    `landing/${datasetName}/dt=${day}/export.jsonl`,
    `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`,
  );
  const report = await runBatchDay({ day, dataset: datasetName, thresholds: { force: true } }, deps);
  expect(report.status, report.error).toBe('published');
  return report;
}
