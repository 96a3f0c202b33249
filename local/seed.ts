import { type Dataset, dataset, listDatasets } from '../functions/pipeline/datasets.ts';
import { addDays, dayOf, dayRange, UTC } from '../functions/pipeline/dates.ts';
import type { ObjectStore } from '../functions/pipeline/object-store.ts';
import { fitsClickDeclaration } from './click-generator.ts';
import type { EventSink } from './event-sinks.ts';
import type { InvocationOutcome } from './function-host.ts';
import {
  fitsInventoryDeclaration,
  fitsStockCountsDeclaration,
  inventoryForOrders,
} from './inventory-generator.ts';
import {
  writeDatasetLandingExports,
  writeDatasetRecordsExport,
  writeLandingExport,
} from './landing-export.ts';
import { CLICKS_PER_ORDER } from './order-feed.ts';
import { ordersForDay } from './order-generator.ts';
import type { ScaledClock } from './scaled-clock.ts';

/**
 * First start on an empty data directory: a realistic recent history made by the real functions, so the merge,
 * the batch boundary, the deviation trend and its alerts are visible at once instead of after the next 02:00 UTC.
 * The days before today are generated exports run through run-batch (a backfill); yesterday's orders also come
 * through the orders queue (the stream overlapping batch); then compaction and one reconciliation run. Today
 * stays realtime: only days before today are exported. With a clicks queue, clicks get the same days:
 * `CLICKS_PER_ORDER` realistic clicks per order (local/click-generator.ts), one generation over the days (so
 * sessions cross midnight into the next day's export and visitors come back on later days), exported and
 * batched; their realtime is today's live feed (streaming yesterday's too would more than double the seed's time).
 * With the inventory and stock_counts datasets declared, the same days get stock movements that follow the
 * exported orders (a sale per order, receipts, returns, adjustments: local/inventory-generator.ts) and a daily
 * count of every product in every warehouse, one generation over the days, exported and batched; their realtime
 * too is the live feed's.
 */
export interface SeedOptions {
  store: ObjectStore;
  /** The orders stream (its queue or topic): yesterday's orders go through it. */
  orders: EventSink;
  /** Whether the template streams clicks: then clicks are seeded too. */
  streamsClicks?: boolean;
  clock: ScaledClock;
  invoke(name: string, event: unknown): Promise<InvocationOutcome>;
  print(line: string): void;
  /** Days before today with an export (default 7). */
  days?: number;
  /** Orders in an average day's export (default 2,000; days vary around it). */
  ordersPerDay?: number;
  /** How long to wait for the stream to drain, ms (default 120 s). */
  drainTimeoutMs?: number;
  /** The stage's reporting time zone: seeded days are its days (default UTC). */
  timeZone?: string;
}

export interface SeedReport {
  days: string[];
  exportedOrders: number;
  streamedOrders: number;
  /** 0 without a clicks queue. */
  exportedClicks: number;
  /** 0 without the inventory dataset. */
  exportedMovements: number;
  /** 0 without the stock_counts dataset (or without inventory, whose movements the counts follow). */
  exportedCounts: number;
  durationMs: number;
}

/** Each day's orders come from a seed of its own, so the stream of a day's orders overlaps its export exactly. */
const seedOf = (day: string) => Number(day.replaceAll('-', '')) % 1_000_003;
const MALFORMED = ['{"order_id": "seed-broken"', JSON.stringify({ order_id: 'seed-neg', quantity: -1 })];

function scheduledEvent(time: Date) {
  return {
    version: '0',
    id: `seed-${time.getTime()}`,
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '000000000000',
    time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: 'us-east-1',
    resources: [],
    detail: {},
  };
}

async function must(outcome: Promise<InvocationOutcome>, what: string): Promise<unknown> {
  const result = await outcome;
  if (!result.ok) throw new Error(`${what} failed: ${result.error?.name}: ${result.error?.message}`);
  return result.result;
}

/** The clicks declaration to seed with a clicks queue, unless a project declares `clicks` with other fields. */
function clicksToSeed(streamsClicks: boolean): Dataset | undefined {
  if (!streamsClicks) return undefined;
  const clicks = dataset('clicks');
  return fitsClickDeclaration(clicks) ? clicks : undefined;
}

/**
 * `CLICKS_PER_ORDER` clicks per order of each day (the events of the sessions that start on it), one generation
 * over the days, exported and run through run-batch: the count exported.
 */
async function seedClicks(
  options: SeedOptions,
  clicks: Dataset,
  days: readonly string[],
  ordersOf: (day: string) => number,
): Promise<number> {
  const [first, last] = [days[0], days.at(-1)];
  if (first === undefined) return 0;
  const written = await writeDatasetLandingExports(
    {
      dataset: clicks,
      days: days.map((day) => ({ day, rows: ordersOf(day) * CLICKS_PER_ORDER })),
      seed: seedOf(first),
      ...(options.timeZone ? { timeZone: options.timeZone } : {}),
    },
    options.store,
  );
  const exported = written.reduce((sum, { rows }) => sum + rows, 0);
  await must(
    options.invoke('run-batch', { startDate: first, endDate: last, dataset: clicks.name }),
    'run-batch backfill of clicks',
  );
  options.print(`seed: wrote and batched ${days.length} daily exports of clicks (${exported} clicks)`);
  return exported;
}

/** The shipped inventory and stock_counts declarations (or ones like them) a project declares, if any. */
function inventoryToSeed(): { inventory: Dataset; counts: Dataset | undefined } | undefined {
  const declared = new Map(listDatasets().map((ds) => [ds.name, ds]));
  const inventory = declared.get('inventory');
  if (inventory === undefined || !fitsInventoryDeclaration(inventory)) return undefined;
  const counts = declared.get('stock_counts');
  return { inventory, counts: counts && fitsStockCountsDeclaration(counts) ? counts : undefined };
}

/**
 * The days' stock movements, driven by the orders the days' exports hold (a sale per order), and a count of every
 * product in every warehouse each day: one generation, exported per day and run through run-batch.
 */
async function seedInventory(
  options: SeedOptions,
  datasets: { inventory: Dataset; counts: Dataset | undefined },
  days: readonly string[],
  ordersOf: (day: string) => number,
): Promise<{ movements: number; counts: number }> {
  const [first, last] = [days[0], days.at(-1)];
  if (first === undefined || last === undefined) return { movements: 0, counts: 0 };
  const timeZone = options.timeZone ?? UTC;
  const orders = days.flatMap((day) => [...ordersForDay(day, ordersOf(day), seedOf(day), timeZone)]);
  const generation = inventoryForOrders({
    days,
    orders,
    seed: seedOf(first),
    timeZone,
    ordersPerDay: options.ordersPerDay ?? 2000,
  });
  const ofDay = <T>(rows: readonly T[], time: (row: T) => string, day: string) => {
    const { start, end } = dayRange(day, timeZone);
    return rows.filter((row) => {
      const at = Date.parse(time(row));
      return at >= start.getTime() && at < end.getTime();
    });
  };
  const write = async (ds: Dataset, rows: readonly object[], time: (row: never) => string) => {
    for (const day of days) {
      const records = ofDay(rows as never[], time, day);
      await writeDatasetRecordsExport({ dataset: ds, day, records, name: `${ds.name}-seed` }, options.store);
    }
    await must(
      options.invoke('run-batch', { startDate: first, endDate: last, dataset: ds.name }),
      `run-batch backfill of ${ds.name}`,
    );
  };
  await write(datasets.inventory, generation.movements, (m: { event_time: string }) => m.event_time);
  const counts = datasets.counts ? generation.counts.length : 0;
  if (datasets.counts) {
    await write(datasets.counts, generation.counts, (c: { counted_at: string }) => c.counted_at);
  }
  options.print(
    `seed: wrote and batched ${days.length} daily exports of inventory (${generation.movements.length} movements` +
      `${datasets.counts ? `) and stock_counts (${counts} counts, ${generation.discrepancies.length} short` : ''})`,
  );
  return { movements: generation.movements.length, counts };
}

/** Seeds the history; throws with the step that failed. */
export async function seedHistory(options: SeedOptions): Promise<SeedReport> {
  const t0 = performance.now();
  const now = options.clock.now();
  const today = dayOf(now, options.timeZone);
  const count = options.days ?? 7;
  const perDay = options.ordersPerDay ?? 2000;
  const days = Array.from({ length: count }, (_, i) => addDays(today, i - count));
  const first = days[0] ?? addDays(today, -1);
  const yesterday = days.at(-1) ?? first;
  // Weekends a little busier, as shops see; never a 3× jump (the spike gate would stop the day).
  const ordersOf = (day: string) => {
    const weekday = new Date(`${day}T00:00:00Z`).getUTCDay();
    return Math.round(perDay * (weekday === 0 || weekday === 6 ? 1.2 : 1));
  };
  let exportedOrders = 0;
  for (const day of days) {
    const { rows } = await writeLandingExport(
      {
        day,
        orders: ordersOf(day),
        seed: seedOf(day),
        ...(options.timeZone ? { timeZone: options.timeZone } : {}),
      },
      options.store,
    );
    exportedOrders += rows;
  }
  options.print(
    `seed: wrote ${days.length} daily exports (${exportedOrders} orders, ${first} … ${yesterday})`,
  );
  const backfill = (await must(
    options.invoke('run-batch', { startDate: first, endDate: yesterday }),
    'run-batch backfill',
  )) as { handedOver?: number } | undefined;
  // A day past batch.fanOutThresholdBytes goes to the fan-out state machine, which publishes it in a while.
  const handedOver = backfill?.handedOver ?? 0;
  options.print(
    handedOver > 0
      ? `seed: run-batch ran ${first} … ${yesterday}: ${handedOver} day(s) handed over to the fan-out state machine`
      : `seed: run-batch published ${first} … ${yesterday}`,
  );

  const streamOrders = async () => {
    const bodies = [...ordersForDay(yesterday, ordersOf(yesterday), seedOf(yesterday), options.timeZone)].map(
      (order) => JSON.stringify(order),
    );
    await options.orders.send([...bodies, ...MALFORMED]);
    await options.orders.drained(options.drainTimeoutMs ?? 120_000);
    options.print(
      `seed: streamed ${bodies.length} of ${yesterday}'s orders (and ${MALFORMED.length} malformed) through ${options.orders.target}`,
    );
    return bodies.length;
  };
  // Clicks are exported and batched while the orders stream drains (that waits on the consumer, mostly).
  const clicks = clicksToSeed(options.streamsClicks === true);
  const inventory = inventoryToSeed();
  // Inventory after clicks: the batch runs share the machine with the orders stream's consumer.
  const batchDatasets = async () => {
    const exportedClicks = clicks ? await seedClicks(options, clicks, days, ordersOf) : 0;
    const stock = inventory
      ? await seedInventory(options, inventory, days, ordersOf)
      : { movements: 0, counts: 0 };
    return { exportedClicks, stock };
  };
  const [streamedOrders, { exportedClicks, stock }] = await Promise.all([streamOrders(), batchDatasets()]);

  const at = options.clock.now();
  await must(options.invoke('compact-realtime', scheduledEvent(at)), 'compact-realtime');
  await must(options.invoke('reconcile-views', scheduledEvent(at)), 'reconcile-views');
  const durationMs = Math.round(performance.now() - t0);
  options.print(`seed: compacted and reconciled (${(durationMs / 1000).toFixed(1)} s); see /dashboard`);
  return {
    days,
    exportedOrders,
    streamedOrders,
    exportedClicks,
    exportedMovements: stock.movements,
    exportedCounts: stock.counts,
    durationMs,
  };
}
