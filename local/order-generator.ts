/**
 * Realistic order events for demos, tests and benchmarks: a few hot products (Zipf-like popularity),
 * fixed catalogue prices, mostly single-unit orders, and a day-shaped arrival curve. Deterministic per seed.
 */

import { dayRange, UTC } from '../functions/pipeline/dates.ts';

/** An order event as the contract defines it (DESIGN.md "Order event"). */
export interface OrderEvent {
  event_id: string;
  order_id: string;
  user_id: string;
  product_id: string;
  quantity: number;
  unit_price: string;
  currency: string;
  event_time: string;
}

const PRODUCTS = 200;
const USERS = 50_000;

/**
 * A product number 1..200 by popularity: squaring a uniform value (Zipf-like) makes low numbers, the hot products,
 * much more likely. Clicks draw from it too, so what is trending in clicks is what sells in orders.
 */
export function hotProduct(random: () => number): number {
  return 1 + Math.floor(random() ** 2.2 * PRODUCTS);
}

/** `p-0007`: a product number as the catalogue names it. */
export function productId(product: number): string {
  return `p-${String(product).padStart(4, '0')}`;
}

/** mulberry32: tiny, fast, seedable. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function priceOf(product: number): string {
  // Deterministic catalogue: prices from 1.99 to ~300, ending in .99/.49/.00.
  const base = 1 + ((product * 7919) % 300);
  const cents = ['99', '49', '00'][product % 3];
  return `${base}.${cents}`;
}

export interface OrderGenerator {
  /** The next order, stamped with `eventTime`. */
  next(eventTime: Date): OrderEvent;
}

/** A stream of orders; ids are unique per (seed, prefix). */
export function createOrderGenerator(options: { seed?: number; idPrefix?: string } = {}): OrderGenerator {
  const random = seededRandom(options.seed ?? 42);
  const prefix = options.idPrefix ?? `s${options.seed ?? 42}`;
  let sequence = 0;
  return {
    next(eventTime) {
      sequence += 1;
      const product = hotProduct(random);
      const roll = random();
      const quantity = roll < 0.75 ? 1 : roll < 0.93 ? 2 : 1 + Math.floor(random() * 5);
      return {
        event_id: `ev-${prefix}-${sequence}-${Math.floor(random() * 1e9).toString(36)}`,
        order_id: `o-${prefix}-${sequence}`,
        user_id: `u-${1 + Math.floor(random() * USERS)}`,
        product_id: productId(product),
        quantity,
        unit_price: priceOf(product),
        currency: 'USD',
        event_time: eventTime.toISOString(),
      };
    },
  };
}

/** Fraction of a day's orders placed by each hour: quiet nights, a lunch bump and an evening peak. */
const HOURLY_WEIGHT = [
  1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 4, 4.5, 5, 6, 5.5, 5, 5, 5.5, 6, 7, 8, 8.5, 7, 4, 2,
];
const WEIGHT_SUM = HOURLY_WEIGHT.reduce((a, b) => a + b, 0);

/**
 * `count` instants spread over `day` of `timeZone` (default UTC; a DST day has 23 or 25 hours) by the shop's
 * day curve, ascending: the arrival times of the generated events of a day, whatever the dataset.
 */
export function* dayShapedInstants(
  day: string,
  count: number,
  random: () => number,
  timeZone: string = UTC,
): Generator<Date> {
  const { start, end } = dayRange(day, timeZone);
  const hours = Math.ceil((end.getTime() - start.getTime()) / 3_600_000);
  const weightOf = (hour: number) => HOURLY_WEIGHT[hour % 24] ?? 1;
  const weightSum =
    hours === 24
      ? WEIGHT_SUM
      : Array.from({ length: hours }, (_, h) => weightOf(h)).reduce((a, b) => a + b, 0);
  let emitted = 0;
  for (let hour = 0; hour < hours; hour++) {
    const hourStart = start.getTime() + hour * 3_600_000;
    const length = Math.min(3_600_000, end.getTime() - hourStart);
    const share = weightOf(hour) / weightSum;
    const inHour = hour === hours - 1 ? count - emitted : Math.round(count * share);
    const offsets = Array.from({ length: Math.max(0, inHour) }, () => Math.floor(random() * length)).sort(
      (a, b) => a - b,
    );
    for (const offset of offsets) yield new Date(hourStart + offset);
    emitted += offsets.length;
  }
}

/**
 * `count` orders spread over `day` of `timeZone` (default UTC; a DST day has 23 or 25 hours), sorted by event
 * time.
 */
export function* ordersForDay(
  day: string,
  count: number,
  seed = 42,
  timeZone: string = UTC,
): Generator<OrderEvent> {
  const generator = createOrderGenerator({ seed, idPrefix: `${day.replaceAll('-', '')}s${seed}` });
  for (const instant of dayShapedInstants(day, count, seededRandom(seed ^ 0x5bd1e995), timeZone)) {
    yield generator.next(instant);
  }
}
