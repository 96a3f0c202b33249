/**
 * Batch vs realtime consistency on a replayed day (DESIGN invariant 1, measured): the same orders go
 *  (a) into a landing JSONL export → runBatchDay → views/batch/sales_minute, and
 *  (b) shuffled, with SQS redeliveries, producer retries (same order_id, new event_id) and events hours late →
 *      the stream consumer core in micro-batches → compaction → views/realtime/sales_minute;
 * then every (minute, product) row of the two views is compared exactly. Expected deviation: 0.00 %.
 *
 *   npx tsx bench/consistency.ts [--orders 100000] [--batch-size 500] [--out bench/results/consistency.json]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runBatchDay } from '../functions/batch/run-batch-day.ts';
import { publishedFile, readPublished } from '../functions/pipeline/batch-published.ts';
import { addDays } from '../functions/pipeline/dates.ts';
import { sqlPath, sqlPathList, withConnection } from '../functions/pipeline/duckdb-session.ts';
import { lake } from '../functions/pipeline/lake-layout.ts';
import { LocalDirectoryStore } from '../functions/pipeline/local-directory-store.ts';
import { silentLog } from '../functions/pipeline/ports.ts';
import { realtimeDaySnapshot, snapshotFiles } from '../functions/pipeline/realtime-view.ts';
import { compactRealtime } from '../functions/stream/compaction.ts';
import { consumeMicroBatch, type StreamMessage } from '../functions/stream/micro-batch.ts';
import { ordersForDay, seededRandom } from '../local/order-generator.ts';

/** A day long past, so the batch freshness gate holds on any machine clock. */
const DAY = '2025-06-15';
const REDELIVERED_SHARE = 0.05;
const RETRIED_SHARE = 0.03;
const LATE_SHARE = 0.02;

export interface ConsistencyFigure {
  orders: number;
  messages: number;
  redeliveries: number;
  producerRetries: number;
  lateArrivals: number;
  microBatches: number;
  batchSize: number;
  streamLate: number;
  streamDuplicatesWithinBatches: number;
  rowsCompared: number;
  rowsDiffering: number;
  batchRevenue: string;
  realtimeRevenue: string;
  /** Σ|realtime − batch| / Σ batch over (minute, product) rows, in percent. */
  revenueDeviationPct: number;
  ordersDeviationPct: number;
  /** The same comparison on the partials before compaction (cross-batch duplicates not yet removed). */
  beforeCompaction: { rowsDiffering: number; revenueDeviationPct: number; ordersDeviationPct: number };
  batchMs: number;
  streamMs: number;
  compactionMs: number;
  command: string;
}

/**
 * The stream as a producer and SQS would deliver it: near-time order with local shuffling, some messages
 * delivered twice (same message, later batch), some records sent twice by the producer (`retryOf`: a new message;
 * none when it is omitted, e.g. when the records already hold their producer retries), and a few events arriving
 * hours after their time. Messages move up to `shuffle / 2` places either way (default 400: a few seconds at a
 * busy stream's rate). Message ids are `<prefix>-i` (`retry-<prefix>-i` for a producer retry).
 */
export function streamOf(
  records: readonly Record<string, unknown>[],
  options: {
    batchSize: number;
    seed: number;
    prefix?: string;
    shuffle?: number;
    retryOf?: (record: Record<string, unknown>) => Record<string, unknown>;
  },
) {
  const { batchSize, retryOf, prefix = 'msg', shuffle = 400 } = options;
  const random = seededRandom(options.seed);
  const n = records.length;
  const placed: { at: number; message: StreamMessage }[] = [];
  let redeliveries = 0;
  let producerRetries = 0;
  let lateArrivals = 0;
  records.forEach((record, i) => {
    const messageId = `${prefix}-${i}`;
    const body = JSON.stringify(record);
    const isLate = random() < LATE_SHARE;
    lateArrivals += isLate ? 1 : 0;
    placed.push({
      at: isLate ? n + random() * n * 0.1 : i + (random() - 0.5) * shuffle,
      message: { messageId, body },
    });
    if (random() < REDELIVERED_SHARE) {
      redeliveries += 1;
      placed.push({
        at: i + batchSize + shuffle + random() * 5_000,
        message: { messageId, body, receiveCount: 2 },
      });
    }
    if (retryOf && random() < RETRIED_SHARE) {
      producerRetries += 1;
      placed.push({
        at: i + random() * 2_000,
        message: { messageId: `retry-${prefix}-${i}`, body: JSON.stringify(retryOf(record)) },
      });
    }
  });
  placed.sort((a, b) => a.at - b.at);
  return { messages: placed.map((p) => p.message), redeliveries, producerRetries, lateArrivals };
}

/** Every (minute, product) row of the batch view against the realtime files summed, exactly. */
async function compareViews(batchFile: string, realtimeFiles: string[]) {
  return withConnection(async (connection) => {
    const reader = await connection.runAndReadAll(
      `with
         batch as (select window_start, product_id, orders, units, revenue from read_parquet(${sqlPath(batchFile)})),
         realtime as (
             select window_start, product_id, sum(orders) as orders, sum(units) as units, sum(revenue) as revenue,
             from read_parquet(${sqlPathList(realtimeFiles)})
             group by all
         ),
         joined as (
             select
                 coalesce(b.orders, 0) as b_orders, coalesce(r.orders, 0) as r_orders,
                 coalesce(b.units, 0) as b_units, coalesce(r.units, 0) as r_units,
                 coalesce(b.revenue, 0)::decimal(18, 2) as b_revenue, coalesce(r.revenue, 0)::decimal(18, 2) as r_revenue,
             from batch as b
             full outer join realtime as r using (window_start, product_id)
         )
         select
             count(*)::integer as rows,
             count(*) filter (where b_orders <> r_orders or b_units <> r_units or b_revenue <> r_revenue)::integer as differing,
             sum(b_revenue)::varchar as batch_revenue,
             sum(r_revenue)::varchar as realtime_revenue,
             sum(abs(r_revenue - b_revenue))::double as revenue_diff,
             sum(b_revenue)::double as revenue_base,
             sum(abs(r_orders - b_orders))::double as orders_diff,
             sum(b_orders)::double as orders_base,
         from joined`,
    );
    return reader.getRowObjectsJson()[0] as Record<string, string | number>;
  });
}

const pct = (diff: number, base: number) => (base === 0 ? 0 : Number(((100 * diff) / base).toFixed(4)));

export async function benchConsistency(options: { orders: number; batchSize?: number; seed?: number }) {
  const batchSize = options.batchSize ?? 500;
  const seed = options.seed ?? 11;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bench-consistency-'));
  try {
    const store = new LocalDirectoryStore(dir);
    const after = new Date(`${addDays(DAY, 1)}T02:00:00Z`);
    const deps = { store, clock: () => after, log: silentLog };
    const orders = [...ordersForDay(DAY, options.orders, seed)] as unknown as Record<string, unknown>[];

    // (a) batch: the export as the OLTP system writes it, one line per order.
    const exportDir = path.join(dir, ...lake.landingPrefix(DAY).split('/'));
    mkdirSync(exportDir, { recursive: true });
    writeFileSync(
      path.join(exportDir, 'orders.jsonl'),
      `${orders.map((o) => JSON.stringify(o)).join('\n')}\n`,
    );
    const tBatch = performance.now();
    await runBatchDay({ day: DAY }, deps);
    const batchMs = performance.now() - tBatch;

    // (b) stream: the messy delivery through the consumer core, then compaction.
    const stream = streamOf(orders, {
      batchSize,
      seed,
      // A producer retry of an order: the same order_id under a new event id (the business key dedups it).
      retryOf: (order) => ({ ...order, event_id: `${order['event_id']}-retry` }),
    });
    const tStream = performance.now();
    let streamLate = 0;
    let streamDuplicates = 0;
    let microBatches = 0;
    for (let i = 0; i < stream.messages.length; i += batchSize) {
      const result = await consumeMicroBatch({ messages: stream.messages.slice(i, i + batchSize) }, deps);
      if (result.error) throw new Error(`micro-batch failed: ${result.error}`);
      streamLate += result.late;
      streamDuplicates += result.duplicates;
      microBatches += 1;
    }
    const streamMs = performance.now() - tStream;
    const realtimeFiles = async () =>
      Promise.all(snapshotFiles(await realtimeDaySnapshot(store, DAY)).map((info) => store.localPath(info)));
    const published = (await readPublished(store)).index.days[DAY];
    if (!published) throw new Error(`batch did not publish ${DAY}`);
    const batchFile = path.join(dir, publishedFile(published, 'sales_minute'));
    const beforeCompaction = await compareViews(batchFile, await realtimeFiles());
    const tCompact = performance.now();
    await compactRealtime(deps, { now: after, days: [DAY] });
    const compactionMs = performance.now() - tCompact;

    // Compare every (minute, product) row exactly.
    const diff = await compareViews(batchFile, await realtimeFiles());
    const figure: ConsistencyFigure = {
      orders: orders.length,
      messages: stream.messages.length,
      redeliveries: stream.redeliveries,
      producerRetries: stream.producerRetries,
      lateArrivals: stream.lateArrivals,
      microBatches,
      batchSize,
      streamLate,
      streamDuplicatesWithinBatches: streamDuplicates,
      rowsCompared: Number(diff['rows']),
      rowsDiffering: Number(diff['differing']),
      batchRevenue: String(diff['batch_revenue']),
      realtimeRevenue: String(diff['realtime_revenue']),
      revenueDeviationPct: pct(Number(diff['revenue_diff']), Number(diff['revenue_base'])),
      ordersDeviationPct: pct(Number(diff['orders_diff']), Number(diff['orders_base'])),
      beforeCompaction: {
        rowsDiffering: Number(beforeCompaction['differing']),
        revenueDeviationPct: pct(
          Number(beforeCompaction['revenue_diff']),
          Number(beforeCompaction['revenue_base']),
        ),
        ordersDeviationPct: pct(
          Number(beforeCompaction['orders_diff']),
          Number(beforeCompaction['orders_base']),
        ),
      },
      batchMs: Math.round(batchMs),
      streamMs: Math.round(streamMs),
      compactionMs: Math.round(compactionMs),
      command: `npx tsx bench/consistency.ts --orders ${options.orders} --batch-size ${batchSize}`,
    };
    return figure;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      orders: { type: 'string', default: '100000' },
      'batch-size': { type: 'string', default: '500' },
      out: { type: 'string', default: 'bench/results/consistency.json' },
    },
  });
  const figure = await benchConsistency({
    orders: Number(values.orders),
    batchSize: Number(values['batch-size']),
  });
  console.log(JSON.stringify(figure, null, 2));
  const out = values.out ?? 'bench/results/consistency.json';
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify({ measuredAt: new Date().toISOString(), machine: { cpus: os.cpus().length, node: process.version }, figure }, null, 2)}\n`,
  );
}
