import { describe, expect, it } from 'vitest';
import { dataset } from '../../functions/pipeline/datasets.ts';
import { dayRange } from '../../functions/pipeline/dates.ts';
import {
  type Discrepancy,
  fitsInventoryDeclaration,
  fitsStockCountsDeclaration,
  InventoryBook,
  type InventoryGeneration,
  inventoryForDays,
  inventoryForOrders,
  inventoryRecordsForDays,
  type StockMovement,
  WAREHOUSES,
} from '../../local/inventory-generator.ts';
import { ordersForDay } from '../../local/order-generator.ts';

/**
 * The inventory generator's promises, checked by independent computations: a sale per order (its product,
 * quantity, id and time), levels computed from the movements never below zero (receipts restock), returns that
 * reference an earlier sale, small adjustments, and counts that equal the book except the discrepancies it reports.
 */

const DAYS = [
  '2026-11-14',
  '2026-11-15',
  '2026-11-16',
  '2026-11-17',
  '2026-11-18',
  '2026-11-19',
  '2026-11-20',
];
const ordersOf = (days: readonly string[], perDay: number) =>
  days.flatMap((day, i) => [...ordersForDay(day, perDay, 1000 + i)]);

const signed = (m: StockMovement) => (m.movement_type === 'sale' ? -m.quantity : m.quantity);
const pairOf = (r: { product_id: string; warehouse_id: string }) => `${r.product_id}/${r.warehouse_id}`;
const byTime = (a: { at: number; seq: number }, b: { at: number; seq: number }) =>
  a.at - b.at || a.seq - b.seq;

/** The lowest level any product reaches in any warehouse, from the opening stock and the movements alone. */
function lowestLevel(generation: InventoryGeneration): number {
  const levels = new Map(generation.opening.map((o) => [pairOf(o), o.on_hand]));
  let lowest = Math.min(...levels.values());
  const ordered = generation.movements
    .map((m, seq) => ({ m, at: Date.parse(m.event_time), seq }))
    .sort(byTime);
  for (const { m } of ordered) {
    const level = (levels.get(pairOf(m)) ?? 0) + signed(m);
    levels.set(pairOf(m), level);
    lowest = Math.min(lowest, level);
  }
  return lowest;
}

/**
 * Each count against the book: the last count (or the opening stock) plus the movements with event_time before
 * counted_at since. Returns the counts that differ, as discrepancies.
 */
function countsAgainstBook(generation: InventoryGeneration): Discrepancy[] {
  const balance = new Map(generation.opening.map((o) => [pairOf(o), o.on_hand]));
  type Entry = { at: number; seq: number; apply: () => void };
  const entries: Entry[] = [];
  const found: Discrepancy[] = [];
  generation.movements.forEach((m, i) => {
    // A movement at a count's instant comes after it: counts sort first at equal times.
    entries.push({
      at: Date.parse(m.event_time),
      seq: 1e9 + i,
      apply: () => balance.set(pairOf(m), (balance.get(pairOf(m)) ?? 0) + signed(m)),
    });
  });
  generation.counts.forEach((c, i) => {
    entries.push({
      at: Date.parse(c.counted_at),
      seq: i,
      apply: () => {
        const book = balance.get(pairOf(c)) ?? 0;
        if (book !== c.on_hand) found.push({ ...c, book });
        balance.set(pairOf(c), c.on_hand);
      },
    });
  });
  for (const entry of entries.sort(byTime)) entry.apply();
  return found;
}

describe('inventoryForOrders (the seed: one generation over days, driven by their orders)', () => {
  const orders = ordersOf(DAYS, 2000);
  const generation = inventoryForOrders({ days: DAYS, orders, seed: 7 });

  it('has one sale per order: its product, quantity, order id and event time', () => {
    const sales = generation.movements.filter((m) => m.movement_type === 'sale');
    expect(sales.length).toBe(orders.length);
    const key = (x: { product_id: string; quantity: number; event_time: string }, id: string | undefined) =>
      `${id}|${x.product_id}|${x.quantity}|${x.event_time}`;
    expect(new Set(sales.map((s) => key(s, s.reference)))).toEqual(
      new Set(orders.map((o) => key(o, o.order_id))),
    );
    expect(new Set(sales.map((s) => s.warehouse_id))).toEqual(new Set(WAREHOUSES));
  });

  it('never lets a level computed from the movements fall below zero: receipts restock', () => {
    const receipts = generation.movements.filter((m) => m.movement_type === 'receipt');
    expect(receipts.length).toBeGreaterThan(100);
    expect(receipts.every((r) => r.quantity >= 1 && r.reference?.startsWith('po-'))).toBe(true);
    expect(lowestLevel(generation)).toBeGreaterThanOrEqual(0);
    // Without them, the hot products run out within the week.
    const unrestocked = inventoryForOrders({ days: DAYS, orders, seed: 7, restock: false });
    expect(unrestocked.movements.some((m) => m.movement_type === 'receipt')).toBe(false);
    expect(lowestLevel(unrestocked)).toBeLessThan(0);
  });

  it('returns reference an earlier sale of the same product and warehouse, at most its units', () => {
    const sales = new Map(
      generation.movements.filter((m) => m.movement_type === 'sale').map((s) => [s.reference, s]),
    );
    const returns = generation.movements.filter((m) => m.movement_type === 'return');
    expect(returns.length).toBeGreaterThan(orders.length * 0.01);
    for (const r of returns) {
      const sale = sales.get(r.reference);
      expect(sale, r.movement_id).toBeDefined();
      expect(pairOf(r)).toBe(pairOf(sale as StockMovement));
      expect(Date.parse(r.event_time)).toBeGreaterThan(Date.parse((sale as StockMovement).event_time));
      expect(r.quantity).toBeGreaterThanOrEqual(1);
      expect(r.quantity).toBeLessThanOrEqual((sale as StockMovement).quantity);
    }
  });

  it('adjusts now and then by a small signed amount; ids are unique; everything lies in the days', () => {
    const adjustments = generation.movements.filter((m) => m.movement_type === 'adjustment');
    expect(adjustments.length).toBeGreaterThan(0);
    expect(adjustments.every((a) => a.quantity !== 0 && Math.abs(a.quantity) <= 2)).toBe(true);
    expect(adjustments.some((a) => a.quantity < 0)).toBe(true);
    const ids = generation.movements.map((m) => m.movement_id);
    expect(new Set(ids).size).toBe(ids.length);
    const start = dayRange(DAYS[0] as string).start.getTime();
    const end = dayRange(DAYS.at(-1) as string).end.getTime();
    const times = generation.movements.map((m) => Date.parse(m.event_time));
    expect(Math.min(...times)).toBeGreaterThanOrEqual(start);
    expect(Math.max(...times)).toBeLessThan(end);
  });

  it('counts every product in every warehouse each day: the book, except the discrepancies it reports', () => {
    expect(generation.counts.length).toBe(DAYS.length * 200 * WAREHOUSES.length);
    expect(generation.discrepancies.length).toBeGreaterThan(0);
    // Shrinkage: a unit or two short, a few percent of the counts.
    expect(generation.discrepancies.length).toBeLessThan(generation.counts.length * 0.06);
    expect(generation.discrepancies.every((d) => d.book - d.on_hand >= 1 && d.book - d.on_hand <= 2)).toBe(
      true,
    );
    expect(countsAgainstBook(generation)).toEqual(generation.discrepancies);
  });

  it('is deterministic per seed', () => {
    const again = inventoryForOrders({ days: DAYS, orders, seed: 7 });
    expect(again).toEqual(generation);
    const other = inventoryForOrders({ days: DAYS, orders, seed: 8 });
    expect(other.movements).not.toEqual(generation.movements);
  });
});

describe('inventoryForDays (generate-landing: exactly N movements a day)', () => {
  const days = DAYS.slice(0, 3);
  const generation = inventoryForDays({ days: days.map((day) => ({ day, movements: 1500 })), seed: 3 });

  it('makes exactly the movements asked for each day, sales mostly, never below zero, counts as the book', () => {
    for (const day of days) {
      const { start, end } = dayRange(day);
      const ofDay = generation.movements.filter((m) => {
        const at = Date.parse(m.event_time);
        return at >= start.getTime() && at < end.getTime();
      });
      expect(ofDay.length).toBe(1500);
    }
    const sales = generation.movements.filter((m) => m.movement_type === 'sale').length;
    expect(sales / generation.movements.length).toBeGreaterThan(0.9);
    expect(lowestLevel(generation)).toBeGreaterThanOrEqual(0);
    expect(countsAgainstBook(generation)).toEqual(generation.discrepancies);
  });

  it('records for the shipped declarations: the exact split, stock_counts taken against 2,000 movements a day', () => {
    const inventory = dataset('inventory');
    const counts = dataset('stock_counts');
    expect(fitsInventoryDeclaration(inventory)).toBe(true);
    expect(fitsStockCountsDeclaration(counts)).toBe(true);
    expect(fitsInventoryDeclaration(counts)).toBe(false);
    const shares = { seed: 5, duplicateShare: 0.02 };
    const movementDays = [
      ...inventoryRecordsForDays(inventory, {
        ...shares,
        invalidShare: 0.03,
        days: days.map((day) => ({ day, count: 1000 })),
      }),
    ];
    const countDays = [
      ...inventoryRecordsForDays(counts, { ...shares, days: days.map((day) => ({ day, count: 500 })) }),
    ];
    for (const { records } of movementDays) {
      expect(records.length).toBe(1000);
      expect(records.filter((r) => r.kind === 'duplicate').length).toBe(20);
      expect(records.filter((r) => r.kind === 'invalid').length).toBe(30);
    }
    for (const { records } of countDays) {
      expect(records.length).toBe(500);
      expect(records.filter((r) => r.kind === 'duplicate').length).toBe(10);
    }
    // The counts are taken against the movements generate-landing writes with --events 2000 and the same seed.
    const reference = inventoryForDays({ days: days.map((day) => ({ day, movements: 2000 })), seed: 5 });
    const [firstDay] = [
      ...inventoryRecordsForDays(inventory, { seed: 5, days: [{ day: days[0] as string, count: 2000 }] }),
    ];
    expect(firstDay?.records.map((r) => r.event['movement_id'])).toEqual(
      reference.movements.slice(0, 2000).map((m) => m.movement_id),
    );
    for (const [i, { records }] of countDays.entries()) {
      const counted = records.filter((r) => r.kind === 'event').map((r) => r.event);
      expect(counted).toEqual(reference.counts.slice(i * 600, i * 600 + 490));
    }
  });
});

describe('the live feed opening from the lake (npm start)', () => {
  it('adjusts the lake levels to the book, writes its reorder points, and opens some products just above them', async () => {
    // Arrange
    const book = new InventoryBook({ seed: 7, ordersPerDay: 50_000, opening: 'spread' });
    const own = new Map(book.levelsNow().map((l) => [`${l.product_id}/${l.warehouse_id}`, l.on_hand]));
    const lake = book.levelsNow().map((l, i) => ({ ...l, on_hand: i % 3 === 0 ? l.on_hand : i }));

    // Act
    const adjustments = book.openingAdjustments(lake, Date.parse('2026-11-21T10:00:00Z'));
    const csv = book.reorderPointsCsv();

    // Assess: the lake's level plus its adjustment is the book's, for every product and warehouse.
    const after = new Map(lake.map((l) => [`${l.product_id}/${l.warehouse_id}`, l.on_hand]));
    for (const m of adjustments) {
      expect(m.movement_type).toBe('adjustment');
      const key = `${m.product_id}/${m.warehouse_id}`;
      after.set(key, (after.get(key) ?? 0) + m.quantity);
    }
    expect(after).toEqual(own);
    expect(adjustments.length).toBeGreaterThan(0);
    expect(adjustments.every((m) => m.quantity !== 0)).toBe(true);
    const [header, ...rows] = csv.trim().split('\n');
    expect(header).toBe('product_id,warehouse_id,reorder_point');
    expect(rows).toHaveLength(own.size);
    const points = new Map(
      rows.map((r) => {
        const [p, w, point] = r.split(',');
        return [`${p}/${w}`, Number(point)];
      }),
    );
    // Every product opens above its point; a good share within 1 % of a day's demand above it.
    const margins = [...own].map(([key, level]) => level - (points.get(key) ?? 0));
    expect(margins.every((m) => m > 0)).toBe(true);
    const near = [...own].filter(
      ([key, level]) => level - (points.get(key) ?? 0) <= (points.get(key) ?? 0) * 0.02,
    );
    expect(near.length).toBeGreaterThan(own.size * 0.1);
  });
});
