/**
 * Realistic stock movements and daily counts for the inventory and stock_counts datasets, deterministic per seed
 * and consistent with the orders generator (local/order-generator.ts):
 *
 * - a `sale` per order: the order's product and quantity, `reference` = its order_id, its event_time, from one of
 *   a few warehouses (the usual one for the product, else another that has the units);
 * - `receipt`s that restock a product in a warehouse when its level falls to its reorder point (a delivery some
 *   hours later, up to a level sized by the product's demand), and an expedited one just before a sale no
 *   warehouse could serve, so a level computed from the movements never goes below zero;
 * - a `return` now and then, some hours after a sale, referencing its order_id;
 * - occasional small signed `adjustment`s (damaged, found), never below zero;
 * - a daily physical count per product and warehouse: `on_hand` = the book level at `counted_at` (the last count,
 *   or the opening stock, plus the movements with event_time before it), now and then a unit or two short
 *   (shrinkage). The generator reports those discrepancies, and the level goes on from the count.
 *
 * The book (`InventoryBook`) is driven by orders (`sale`) and time (`due`); `inventoryForOrders` drives it by a
 * list of orders (the first-start seed: one sale per order), `inventoryForDays` by a number of movements per day
 * (generate-landing: exactly that many rows, the orders made at the movements' instants).
 */

import type { Dataset } from '../functions/pipeline/datasets.ts';
import { dayRange, UTC } from '../functions/pipeline/dates.ts';
import {
  brokenValue,
  type DatasetEvent,
  type DatasetEventsInput,
  type GeneratedKind,
  type GeneratedRecord,
  type PlannedCounts,
  plannedCounts,
} from './dataset-events.ts';
import {
  createOrderGenerator,
  dayShapedInstants,
  type OrderEvent,
  productId,
  seededRandom,
} from './order-generator.ts';

export const WAREHOUSES = ['wh-1', 'wh-2', 'wh-3'] as const;
/** The share of the orders each warehouse serves first. */
const WAREHOUSE_SHARE = [0.5, 0.3, 0.2];
const PRODUCTS = 200;
/** Products × warehouses: the counts of a day. */
const PAIRS = PRODUCTS * WAREHOUSES.length;
/** Mean units of an order (local/order-generator.ts: 75 % one, 18 % two, else 1–5). */
const UNITS_PER_ORDER = 1.32;

export const INVENTORY_ODDS = {
  /** A sale is returned (some hours later). */
  returned: 0.03,
  /** An adjustment beside an order. */
  adjustment: 0.012,
  /** A count finds a unit or two fewer than the book (shrinkage). */
  shrinkage: 0.03,
} as const;

export type MovementType = 'receipt' | 'sale' | 'return' | 'adjustment';

/** A movement as the inventory declaration defines it; a movement without a reference leaves it out. */
export interface StockMovement {
  movement_id: string;
  product_id: string;
  warehouse_id: string;
  movement_type: MovementType;
  quantity: number;
  reference?: string;
  event_time: string;
}

/** A count as the stock_counts declaration defines it. */
export interface StockCount {
  product_id: string;
  warehouse_id: string;
  on_hand: number;
  counted_at: string;
}

/** A count that found other than the book: what the generator planned (shrinkage). */
export interface Discrepancy {
  product_id: string;
  warehouse_id: string;
  counted_at: string;
  /** The book level at counted_at (the last count or opening stock plus the movements since). */
  book: number;
  on_hand: number;
}

export interface StockLevel {
  product_id: string;
  warehouse_id: string;
  on_hand: number;
}

export interface InventoryOptions {
  seed?: number;
  /** Makes movement ids unique per generator (default `s<seed>`). */
  idPrefix?: string;
  /** The orders of a day the stock is sized for (default 2,000): opening stock, reorder points, deliveries. */
  ordersPerDay?: number;
  /** Restock when low (default true); off, levels may fall below zero (tests show receipts are what prevent it). */
  restock?: boolean;
  /**
   * `spread` (the live feed): opening levels between the reorder point and the order-up-to level, many just above
   * the point, so some products cross it within minutes of a start (and alerts fire). Default: 60–100 % of order-up-to.
   */
  opening?: 'full' | 'spread';
}

/** The share of a day's units product n (1..200) sells: the orders' popularity (`hotProduct`) inverted. */
function productShare(n: number): number {
  return (n / PRODUCTS) ** (1 / 2.2) - ((n - 1) / PRODUCTS) ** (1 / 2.2);
}

interface Pair {
  product: number;
  warehouse: number;
  key: string;
  /** Units a day, by the options' orders a day. */
  demand: number;
  reorderPoint: number;
  orderUpTo: number;
}

type Pending =
  | { at: number; order: number; kind: 'receipt'; pair: Pair; quantity: number; reference: string }
  | { at: number; order: number; kind: 'return'; pair: Pair; quantity: number; reference: string }
  | { at: number; order: number; kind: 'count'; pair: Pair };

/** What `due` hands out: a movement (already booked) or a count taken. */
export type BookEntry = { movement: StockMovement } | { count: StockCount };

/**
 * The stock of every product in every warehouse, moved by sales, receipts, returns and adjustments and checked by
 * counts. Entries come out in time order as long as orders come in time order.
 */
export class InventoryBook {
  private readonly pairs: Pair[] = [];
  private readonly levels = new Map<string, number>();
  private readonly opening: StockLevel[] = [];
  private readonly restocking = new Set<string>();
  private pending: Pending[] = [];
  private readonly random: () => number;
  private readonly prefix: string;
  private readonly restock: boolean;
  private sequence = 0;
  private made = 0;
  private receipts = 0;
  /** The counts that found other than the book, in time order. */
  readonly discrepancies: Discrepancy[] = [];

  constructor(options: InventoryOptions = {}) {
    const seed = options.seed ?? 42;
    this.random = seededRandom(seed ^ 0x51ed270b);
    this.prefix = options.idPrefix ?? `s${seed}`;
    this.restock = options.restock ?? true;
    const units = (options.ordersPerDay ?? 2000) * UNITS_PER_ORDER;
    for (let product = 1; product <= PRODUCTS; product++) {
      for (let warehouse = 0; warehouse < WAREHOUSES.length; warehouse++) {
        // Each warehouse serves its share first and the others' overflow: sized for a little more.
        const demand = units * productShare(product) * ((WAREHOUSE_SHARE[warehouse] ?? 0) + 0.05);
        const pair: Pair = {
          product,
          warehouse,
          key: `${product}/${warehouse}`,
          demand,
          // Deliveries take 4–16 hours: the point covers a day's demand.
          reorderPoint: Math.ceil(demand) + 2,
          orderUpTo: Math.ceil(demand * 3) + 6,
        };
        this.pairs.push(pair);
        const level =
          options.opening === 'spread'
            ? pair.reorderPoint + 1 + Math.floor(this.random() ** 3 * (pair.orderUpTo - pair.reorderPoint))
            : Math.round(pair.orderUpTo * (0.6 + 0.4 * this.random()));
        this.levels.set(pair.key, level);
        this.opening.push({ ...this.idsOf(pair), on_hand: level });
      }
    }
  }

  /** Every product and warehouse's stock when the book opened. */
  openingStock(): readonly StockLevel[] {
    return this.opening;
  }

  /**
   * Adjustments that bring `levels` (the lake's stock when the book opens) to the book's own levels, at `at`: so a
   * live feed that sells from this book moves the lake's levels exactly as it moves its own.
   */
  openingAdjustments(levels: readonly StockLevel[], at: number): StockMovement[] {
    const lake = new Map(levels.map((l) => [`${l.product_id}/${l.warehouse_id}`, l.on_hand]));
    return this.pairs.flatMap((pair) => {
      const ids = this.idsOf(pair);
      const delta = this.levelOf(pair) - (lake.get(`${ids.product_id}/${ids.warehouse_id}`) ?? 0);
      if (delta === 0) return [];
      this.sequence += 1;
      return [
        {
          movement_id: `mv-${this.prefix}-${this.sequence}`,
          ...ids,
          movement_type: 'adjustment' as const,
          quantity: delta,
          reference: `open-${this.prefix}`,
          event_time: new Date(at).toISOString(),
        },
      ];
    });
  }

  /** The reorder points the book restocks at, as the lake's `tables/reorder_points.csv`. */
  reorderPointsCsv(): string {
    const rows = this.pairs.map((pair) => {
      const ids = this.idsOf(pair);
      return `${ids.product_id},${ids.warehouse_id},${pair.reorderPoint}`;
    });
    return `product_id,warehouse_id,reorder_point\n${rows.join('\n')}\n`;
  }

  /** Every product and warehouse's level now (the movements booked so far, from the last count). */
  levelsNow(): StockLevel[] {
    return this.pairs.map((pair) => ({ ...this.idsOf(pair), on_hand: this.levelOf(pair) }));
  }

  private idsOf(pair: Pair) {
    return { product_id: productId(pair.product), warehouse_id: WAREHOUSES[pair.warehouse] as string };
  }

  private levelOf(pair: Pair): number {
    return this.levels.get(pair.key) ?? 0;
  }

  private pairOf(product: number, warehouse: number): Pair {
    return this.pairs[(product - 1) * WAREHOUSES.length + warehouse] as Pair;
  }

  private push(item: Pending): void {
    // Few pending at a time (deliveries, returns, a day's counts): a sorted insert is enough.
    const items = this.pending;
    let i = items.length;
    while (i > 0 && this.after(items[i - 1] as Pending, item)) i--;
    items.splice(i, 0, item);
  }

  private after(a: Pending, b: Pending): boolean {
    return a.at > b.at || (a.at === b.at && a.order > b.order);
  }

  private movement(
    pair: Pair,
    type: MovementType,
    quantity: number,
    at: number,
    reference?: string,
  ): StockMovement {
    this.sequence += 1;
    const delta = type === 'sale' ? -quantity : quantity;
    this.levels.set(pair.key, this.levelOf(pair) + delta);
    return {
      movement_id: `mv-${this.prefix}-${this.sequence}`,
      ...this.idsOf(pair),
      movement_type: type,
      quantity,
      ...(reference !== undefined ? { reference } : {}),
      event_time: new Date(at).toISOString(),
    };
  }

  /** A delivery for `pair` if it is at its reorder point and none is on the way. */
  private maybeRestock(pair: Pair, at: number): void {
    if (!this.restock || this.restocking.has(pair.key)) return;
    const level = this.levelOf(pair);
    if (level > pair.reorderPoint) return;
    this.restocking.add(pair.key);
    this.receipts += 1;
    const leadMs = (4 + this.random() * 12) * 3_600_000;
    this.push({
      at: at + Math.floor(leadMs),
      order: this.made++,
      kind: 'receipt',
      pair,
      quantity: Math.max(1, pair.orderUpTo - level),
      reference: `po-${this.prefix}-${this.receipts}`,
    });
  }

  /** Schedules a count of every product in every warehouse from `startMs` on, `stepMs` apart (`limit`: the first). */
  scheduleCounts(startMs: number, stepMs: number, limit = this.pairs.length): void {
    for (let i = 0; i < limit; i++) {
      const pair = this.pairs[i % this.pairs.length] as Pair;
      this.push({ at: startMs + i * stepMs, order: this.made++, kind: 'count', pair });
    }
  }

  /** Books and hands out the earliest pending entry before `beforeMs`, stamped with its own time. */
  private takeDue(beforeMs: number): BookEntry | undefined {
    const next = this.pending[0];
    if (next === undefined || next.at >= beforeMs) return undefined;
    this.pending.shift();
    return this.book(next, next.at);
  }

  private book(next: Pending, at: number): BookEntry {
    if (next.kind === 'count') return { count: this.count(next.pair, at) };
    if (next.kind === 'receipt') {
      this.restocking.delete(next.pair.key);
      return { movement: this.movement(next.pair, 'receipt', next.quantity, at, next.reference) };
    }
    return { movement: this.movement(next.pair, 'return', next.quantity, at, next.reference) };
  }

  /** Every pending delivery, return and count before `beforeMs`, booked in time order at its own time. */
  *due(beforeMs: number): Generator<BookEntry> {
    for (let entry = this.takeDue(beforeMs); entry; entry = this.takeDue(beforeMs)) yield entry;
  }

  /** The pending counts at or before `atMs` (deliveries and returns stay pending), in time order. */
  countsUpTo(atMs: number): StockCount[] {
    const taken: StockCount[] = [];
    this.pending = this.pending.filter((item) => {
      if (item.kind !== 'count' || item.at > atMs) return true;
      taken.push(this.count(item.pair, item.at));
      return false;
    });
    return taken;
  }

  /** The earliest pending delivery or return due by `atMs`, booked at `atMs` (a movement arriving then). */
  movementDueBy(atMs: number): StockMovement | undefined {
    const i = this.pending.findIndex((item) => item.kind !== 'count');
    const item = this.pending[i];
    if (item === undefined || item.at > atMs) return undefined;
    this.pending.splice(i, 1);
    return (this.book(item, atMs) as { movement: StockMovement }).movement;
  }

  private count(pair: Pair, at: number): StockCount {
    const book = this.levelOf(pair);
    let onHand = book;
    if (book > 0 && this.random() < INVENTORY_ODDS.shrinkage) {
      onHand = Math.max(0, book - 1 - Math.floor(this.random() * 2));
      const counted_at = new Date(at).toISOString();
      this.discrepancies.push({ ...this.idsOf(pair), counted_at, book, on_hand: onHand });
      // The count is the stock from now on.
      this.levels.set(pair.key, onHand);
    }
    return { ...this.idsOf(pair), on_hand: onHand, counted_at: new Date(at).toISOString() };
  }

  /**
   * Where `order` is served from: its usual warehouse if it has the units, else another that has; `short` when
   * none has (then `expedite` first, with restocking on).
   */
  serve(order: OrderEvent): Served {
    const product = Number(order.product_id.slice(2));
    let roll = this.random();
    let usual = 0;
    for (const [w, share] of WAREHOUSE_SHARE.entries()) {
      roll -= share;
      usual = w;
      if (roll < 0) break;
    }
    for (let i = 0; i < WAREHOUSES.length; i++) {
      const pair = this.pairOf(product, (usual + i) % WAREHOUSES.length);
      if (this.levelOf(pair) >= order.quantity) return { pair, short: false };
    }
    return { pair: this.pairOf(product, usual), short: this.restock };
  }

  /** An expedited delivery at `atMs` of what `order` needs (and the pair's usual stock) where it is served. */
  expedite(order: OrderEvent, served: Served, atMs: number): StockMovement {
    this.receipts += 1;
    const quantity = Math.max(
      order.quantity,
      served.pair.orderUpTo - this.levelOf(served.pair) + order.quantity,
    );
    served.short = false;
    return this.movement(served.pair, 'receipt', quantity, atMs, `po-${this.prefix}-${this.receipts}`);
  }

  /** The sale of `order` at its event_time where `served` says; now and then a return is scheduled. */
  sell(order: OrderEvent, served: Served): StockMovement {
    const at = Date.parse(order.event_time);
    const { pair } = served;
    const sale = this.movement(pair, 'sale', order.quantity, at, order.order_id);
    this.maybeRestock(pair, at);
    if (this.random() < INVENTORY_ODDS.returned) {
      const quantity = order.quantity > 1 && this.random() < 0.3 ? 1 : order.quantity;
      const delayMs = (1 + this.random() * 47) * 3_600_000;
      this.push({
        at: at + Math.floor(delayMs),
        order: this.made++,
        kind: 'return',
        pair,
        quantity,
        reference: order.order_id,
      });
    }
    return sale;
  }

  /** Whether an adjustment comes beside an order (the odds of `INVENTORY_ODDS.adjustment`). */
  adjustsNow(): boolean {
    return this.random() < INVENTORY_ODDS.adjustment;
  }

  /** A small signed correction (−2 … +1, never 0) of a product in a warehouse, never below zero. */
  adjustment(at: number): StockMovement {
    const product = 1 + Math.floor(this.random() ** 2 * PRODUCTS);
    const pair = this.pairOf(product, Math.floor(this.random() * WAREHOUSES.length));
    const drawn = [-2, -1, -1, 1][Math.floor(this.random() * 4)] as number;
    const level = this.levelOf(pair);
    const quantity = level <= 0 ? 1 : Math.max(drawn, -level);
    const movement = this.movement(pair, 'adjustment', quantity, at);
    this.maybeRestock(pair, at);
    return movement;
  }

  /**
   * The movements of one order at its event_time, the pending ones before it first (with the counts, through
   * `onCount`): an expedited delivery just before the sale when no warehouse has the units, the sale, now and then
   * an adjustment.
   */
  *order(order: OrderEvent, onCount: (count: StockCount) => void): Generator<StockMovement> {
    const at = Date.parse(order.event_time);
    const take = function* (entries: Iterable<BookEntry>) {
      for (const entry of entries) {
        if ('count' in entry) onCount(entry.count);
        else yield entry.movement;
      }
    };
    yield* take(this.due(at));
    const served = this.serve(order);
    if (served.short) yield this.expedite(order, served, at - 1);
    // A count at the sale's instant does not include it.
    yield* take(this.due(at + 1));
    yield this.sell(order, served);
    if (this.adjustsNow()) yield this.adjustment(at);
  }
}

export interface Served {
  pair: Pair;
  short: boolean;
}

/** What a generation of movements and counts holds. */
export interface InventoryGeneration {
  movements: StockMovement[];
  counts: StockCount[];
  discrepancies: Discrepancy[];
  opening: readonly StockLevel[];
}

/** Counts start at 04:00 of the day (before the shop's busy hours), one every 5 s. */
const COUNT_OFFSET_MS = 4 * 3_600_000;
const COUNT_STEP_MS = 5_000;

function scheduleDayCounts(book: InventoryBook, day: string, timeZone: string, counts?: number): void {
  const { start } = dayRange(day, timeZone);
  book.scheduleCounts(start.getTime() + COUNT_OFFSET_MS, COUNT_STEP_MS, counts);
}

export interface ForOrdersInput extends InventoryOptions {
  /** Consecutive days (of `timeZone`), the earliest first: each gets a count of every product and warehouse. */
  days: readonly string[];
  /** The days' orders, in event_time order. */
  orders: Iterable<OrderEvent>;
  timeZone?: string;
}

/**
 * One generation over consecutive days driven by their orders (the first-start seed): a sale per order, receipts,
 * returns and adjustments around them, and each day's counts; only what lies before the last day's end.
 */
export function inventoryForOrders(input: ForOrdersInput): InventoryGeneration {
  const timeZone = input.timeZone ?? UTC;
  const book = new InventoryBook(input);
  for (const day of input.days) scheduleDayCounts(book, day, timeZone);
  const last = input.days.at(-1);
  const endMs = last === undefined ? 0 : dayRange(last, timeZone).end.getTime();
  const movements: StockMovement[] = [];
  const counts: StockCount[] = [];
  const onCount = (count: StockCount) => counts.push(count);
  for (const order of input.orders) movements.push(...book.order(order, onCount));
  for (const entry of book.due(endMs)) {
    if ('count' in entry) counts.push(entry.count);
    else movements.push(entry.movement);
  }
  return { movements, counts, discrepancies: book.discrepancies, opening: book.openingStock() };
}

export interface ForDaysInput extends InventoryOptions {
  /** Consecutive days (of `timeZone`), the earliest first, each with its movements: exactly that many. */
  days: readonly { day: string; movements: number; counts?: number }[];
  timeZone?: string;
}

/** The movements a stock_counts export's book is made of, per day, when none are given (generate-landing). */
export const DEFAULT_MOVEMENTS_PER_DAY = 2000;

/**
 * One generation over consecutive days with exactly `movements` movements a day, at the shop's day curve: each
 * instant is a delivery or return due by then, now and then an adjustment, else the sale of an order made at
 * that instant. A day's counts (`counts` of them, default every product and warehouse) from 04:00 on.
 */
export function inventoryForDays(input: ForDaysInput): InventoryGeneration {
  const timeZone = input.timeZone ?? UTC;
  const seed = input.seed ?? 42;
  const movements: StockMovement[] = [];
  const counts: StockCount[] = [];
  const first = input.days[0]?.day ?? '';
  const prefix = input.idPrefix ?? `${first.replaceAll('-', '')}s${seed}`;
  const perDay = input.days.map((d) => d.movements);
  const meanMovements = perDay.reduce((a, b) => a + b, 0) / Math.max(1, perDay.length);
  const book = new InventoryBook({
    ...input,
    idPrefix: prefix,
    ordersPerDay: input.ordersPerDay ?? Math.max(1, Math.round(meanMovements * 0.93)),
  });
  const orders = createOrderGenerator({ seed, idPrefix: `${prefix}i` });
  const kinds = seededRandom(seed ^ 0x2f6b3c1d);
  const instants = seededRandom(seed ^ 0x5bd1e995);
  // An order no warehouse could serve waits for the next instant, its expedited delivery taking this one.
  let waiting: { order: OrderEvent; served: Served } | undefined;
  for (const { day, movements: wanted, counts: countsOfDay } of input.days) {
    scheduleDayCounts(book, day, timeZone, countsOfDay);
    let made = 0;
    for (const instant of dayShapedInstants(day, wanted, instants, timeZone)) {
      // The day curve rounds per hour and may offer a few instants more than asked for.
      if (made === wanted) break;
      made += 1;
      const at = instant.getTime();
      // A count at this instant does not include the movement made at it.
      counts.push(...book.countsUpTo(at));
      const arriving = book.movementDueBy(at);
      if (arriving) {
        movements.push(arriving);
      } else if (waiting) {
        movements.push(book.sell({ ...waiting.order, event_time: instant.toISOString() }, waiting.served));
        waiting = undefined;
      } else if (kinds() < INVENTORY_ODDS.adjustment) {
        movements.push(book.adjustment(at));
      } else {
        const order = orders.next(instant);
        const served = book.serve(order);
        if (served.short) {
          movements.push(book.expedite(order, served, at));
          waiting = { order, served };
        } else {
          movements.push(book.sell(order, served));
        }
      }
    }
    const { end } = dayRange(day, timeZone);
    counts.push(...book.countsUpTo(end.getTime() - 1));
  }
  return { movements, counts, discrepancies: book.discrepancies, opening: book.openingStock() };
}

const MOVEMENT_TYPES: readonly MovementType[] = ['receipt', 'sale', 'return', 'adjustment'];

/**
 * True when `ds` declares the fields the movements carry with the values they take (the shipped inventory dataset
 * does): a project that declares its own `inventory` differently gets events from its declaration instead.
 */
export function fitsInventoryDeclaration(ds: Dataset): boolean {
  const f = ds.fields;
  const type = f['movement_type'];
  return (
    ['movement_id', 'product_id', 'warehouse_id', 'reference'].every((name) => f[name]?.type === 'id') &&
    type?.type === 'enum' &&
    MOVEMENT_TYPES.every((v) => type.values.includes(v)) &&
    f['quantity']?.type === 'integer' &&
    f['event_time']?.type === 'timestamp' &&
    ds.eventTime === 'event_time' &&
    Object.keys(f).length === 7
  );
}

/** True when `ds` declares the counts' fields (the shipped stock_counts dataset does). */
export function fitsStockCountsDeclaration(ds: Dataset): boolean {
  const f = ds.fields;
  return (
    f['product_id']?.type === 'id' &&
    f['warehouse_id']?.type === 'id' &&
    f['on_hand']?.type === 'integer' &&
    f['counted_at']?.type === 'timestamp' &&
    ds.eventTime === 'counted_at' &&
    Object.keys(f).length === 4
  );
}

/** One day's export of a generation of several days. */
export interface InventoryDayRecords {
  day: string;
  records: GeneratedRecord[];
}

export interface InventoryDaysInput extends Omit<DatasetEventsInput, 'day' | 'count' | 'currencies'> {
  /** Consecutive days, the earliest first, each with its records in all (events, duplicates and invalid ones). */
  days: readonly { day: string; count: number }[];
}

function asRecord(ds: Dataset, value: object): DatasetEvent {
  const values = value as Record<string, string | number | undefined>;
  return Object.fromEntries(Object.keys(ds.fields).map((name) => [name, values[name] ?? null]));
}

/** `rows` split by the day (of `timeZone`) their `time` lies in, one list per day of `days`. */
function byDay<T>(rows: readonly T[], days: readonly string[], timeZone: string, time: (row: T) => string) {
  const ends = days.map((day) => dayRange(day, timeZone).end.getTime());
  const lists: T[][] = days.map(() => []);
  let i = 0;
  for (const row of rows) {
    const at = Date.parse(time(row));
    while (i < ends.length - 1 && at >= (ends[i] as number)) i++;
    lists[i]?.push(row);
  }
  return lists;
}

/**
 * Realistic exports of the inventory dataset (`inventoryForDays`) or of stock_counts (the first counts of each day
 * of the generation with `DEFAULT_MOVEMENTS_PER_DAY` movements a day, so they are taken against the movements that
 * `generate-landing --dataset inventory --events 2000` writes for the same days and seed), one generation over the
 * days, each day split as `plannedCounts` says: duplicates repeat a recent record of the day (a producer retry,
 * sent later) and invalid records are a record of the day with one field broken (one reason each; a quantity
 * breaks the positive rule where it binds).
 */
export function* inventoryRecordsForDays(
  ds: Dataset,
  input: InventoryDaysInput,
): Generator<InventoryDayRecords> {
  const planned = input.days.map(({ count }) => plannedCounts({ ...input, count }));
  const seed = input.seed ?? 42;
  const timeZone = input.timeZone ?? UTC;
  const isCounts = ds.eventTime === 'counted_at';
  const generation = inventoryForDays({
    seed,
    timeZone,
    days: input.days.map(({ day }, i) => {
      const events = (planned[i] as PlannedCounts).events;
      // Every product and warehouse is counted each day (more rounds when more counts are asked for), so the
      // movements are the same whether the export is of the movements or of the counts.
      return isCounts
        ? { day, movements: DEFAULT_MOVEMENTS_PER_DAY, counts: Math.max(PAIRS, events) }
        : { day, movements: events };
    }),
  });
  const dayNames = input.days.map(({ day }) => day);
  const valid: DatasetEvent[][] = isCounts
    ? byDay(generation.counts, dayNames, timeZone, (c) => c.counted_at).map((l, i) =>
        l.slice(0, (planned[i] as PlannedCounts).events).map((c) => asRecord(ds, c)),
      )
    : byDay(generation.movements, dayNames, timeZone, (m) => m.event_time).map((l) =>
        l.map((m) => asRecord(ds, m)),
      );
  for (const [i, day] of dayNames.entries()) {
    const counts = { ...(planned[i] as PlannedCounts), events: valid[i]?.length ?? 0 };
    yield { day, records: [...mixed(ds, valid[i] ?? [], counts, seed ^ i)] };
  }
}

/**
 * `valid` with `counts.duplicates` retries and `counts.invalid` broken records spread at random among them
 * (selection sampling: every kind's exact count).
 */
function* mixed(
  ds: Dataset,
  valid: readonly DatasetEvent[],
  counts: PlannedCounts,
  seed: number,
): Generator<GeneratedRecord> {
  const kinds = seededRandom(seed ^ 0x2545f491);
  const fields = Object.entries(ds.fields);
  const keyIsTime = ds.key.includes(ds.eventTime);
  const left = { ...counts };
  const recent: DatasetEvent[] = [];
  let next = 0;
  let latest: EventValueText;
  let broken = 0;
  while (left.events + left.duplicates + left.invalid > 0) {
    const roll = kinds() * (left.events + left.duplicates + left.invalid);
    let kind: GeneratedKind =
      roll < left.invalid ? 'invalid' : roll < left.invalid + left.duplicates ? 'duplicate' : 'event';
    const base = valid[next] ?? recent.at(-1) ?? valid[0];
    if (kind !== 'event' && base === undefined) kind = 'event';
    if (kind === 'duplicate' && recent.length === 0) kind = 'event';
    if (kind === 'event') {
      left.events -= 1;
      const event = valid[next++] as DatasetEvent;
      latest = event[ds.eventTime] as EventValueText;
      recent.push(event);
      if (recent.length > 64) recent.shift();
      yield { event, kind };
    } else if (kind === 'duplicate') {
      left.duplicates -= 1;
      const original = recent[Math.floor(kinds() * recent.length)] as DatasetEvent;
      // The same key sent again later; the earliest copy is the one every layer keeps.
      yield { event: keyIsTime ? { ...original } : { ...original, [ds.eventTime]: latest ?? null }, kind };
    } else {
      left.invalid -= 1;
      yield { event: brokenCopy(ds, base as DatasetEvent, fields[broken++ % fields.length]), kind };
    }
  }
}

type EventValueText = string | null | undefined;

/** A record like `base` under a key of its own, with one field broken so validation gives one reason. */
function brokenCopy(
  ds: Dataset,
  base: DatasetEvent,
  entry: [string, Dataset['fields'][string]] | undefined,
): DatasetEvent {
  const event = { ...base };
  if (ds.key.includes('movement_id')) event['movement_id'] = `${String(base['movement_id'])}-x`;
  else if (typeof base[ds.eventTime] === 'string')
    event[ds.eventTime] = new Date(Date.parse(String(base[ds.eventTime])) + 2_500).toISOString();
  if (entry === undefined) return event;
  const [name, field] = entry;
  const exempt = event['movement_type'] === 'adjustment';
  if (name === 'quantity' && 'movement_type' in event && !exempt) {
    // The positive rule: a receipt, sale or return of 0 or fewer units.
    event[name] = -Math.abs(Number(base[name] ?? 1)) + 1;
  } else {
    event[name] = brokenValue(field);
    // A broken type ends an adjustment's exemption: its quantity then follows the rule, one reason only.
    if (name === 'movement_type' && Number(event['quantity']) < 1) event['quantity'] = 1;
  }
  return event;
}
