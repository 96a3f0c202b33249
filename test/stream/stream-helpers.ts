import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildDatasetViews } from '../../functions/pipeline/dataset-views.ts';
import { withConnection } from '../../functions/pipeline/duckdb-session.ts';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import type { ObjectStore } from '../../functions/pipeline/object-store.ts';
import { type CoreDeps, silentLog } from '../../functions/pipeline/ports.ts';
import { realtimeDaySnapshot, snapshotFiles } from '../../functions/pipeline/realtime-view.ts';
import { appendJsonRecords, createRawTable } from '../../functions/pipeline/record-sources.ts';
import type { StreamMessage } from '../../functions/stream/micro-batch.ts';

export type MinuteRow = {
  window_start: string;
  product_id: string;
  currency: string;
  orders: string;
  units: string;
  revenue: string;
};

/** A fresh local lake with a movable clock. */
export function streamDeps(now = new Date('2026-11-21T10:10:00Z')) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-stream-'));
  const clock = { now };
  const deps: CoreDeps = { store: new LocalDirectoryStore(dir), clock: () => clock.now, log: silentLog };
  return { dir, deps, clock };
}

/** Messages with ids `prefix-i` from event objects or raw bodies. */
export function messages(bodies: readonly unknown[], prefix = 'm'): StreamMessage[] {
  return bodies.map((b, i) => ({
    messageId: `${prefix}-${i}`,
    body: typeof b === 'string' ? b : JSON.stringify(b),
  }));
}

/**
 * What the batch layer computes for these bodies: the shared models over each UTC day's events (one export per
 * day, as the batch layer runs), rows of every day in order.
 */
export async function batchLayerMinutes(bodies: readonly string[]): Promise<MinuteRow[]> {
  const byDay = new Map<string, string[]>();
  for (const body of bodies) {
    const day = String((JSON.parse(body) as { event_time: string }).event_time).slice(0, 10);
    byDay.set(day, [...(byDay.get(day) ?? []), body]);
  }
  const rows: MinuteRow[] = [];
  for (const day of [...byDay.keys()].sort()) rows.push(...(await dayMinutes(byDay.get(day) ?? [])));
  return rows;
}

async function dayMinutes(bodies: readonly string[]): Promise<MinuteRow[]> {
  return withConnection(async (connection) => {
    await createRawTable(connection);
    await appendJsonRecords(
      connection,
      bodies.map((line, i) => ({ ref: `r${i}`, line })),
      { source: 'batch', isEventIdRequired: true },
    );
    await buildDatasetViews(connection);
    return (
      await connection.runAndReadAll(
        `select window_start::varchar as window_start, product_id, currency, orders::varchar as orders,
                units::varchar as units, revenue::varchar as revenue
         from sales_minute order by window_start, product_id, currency`,
      )
    ).getRowObjectsJson() as MinuteRow[];
  });
}

/** What a reader sees for a day: the consistent snapshot's files summed per minute and product (as serving does). */
export async function realtimeMinutes(store: ObjectStore, day: string): Promise<MinuteRow[]> {
  const snapshot = await realtimeDaySnapshot(store, day);
  const files = await Promise.all(snapshotFiles(snapshot).map((info) => store.localPath(info)));
  if (files.length === 0) return [];
  return withConnection(async (connection) => {
    const list = files.map((f) => `'${f.replaceAll("'", "''")}'`).join(', ');
    return (
      await connection.runAndReadAll(
        `select window_start::varchar as window_start, product_id, currency, sum(orders)::varchar as orders,
                sum(units)::varchar as units, sum(revenue)::decimal(38, 2)::varchar as revenue
         from read_parquet([${list}]) group by all order by window_start, product_id, currency`,
      )
    ).getRowObjectsJson() as MinuteRow[];
  });
}

/** Sum of orders a reader sees for a day. */
export async function realtimeOrders(store: ObjectStore, day: string): Promise<number> {
  return (await realtimeMinutes(store, day)).reduce((sum, row) => sum + Number(row.orders), 0);
}

/** SQS never hands the same message twice in one batch; a redelivery lands in a later batch. */
export function microBatches(deliveries: readonly StreamMessage[], size: number): StreamMessage[][] {
  const batches: StreamMessage[][] = [];
  for (const message of deliveries) {
    const last = batches.at(-1);
    if (last && last.length < size && !last.some((m) => m.messageId === message.messageId))
      last.push(message);
    else batches.push([message]);
  }
  return batches;
}
