/**
 * Realistic click sessions for demos, tests and benchmarks, deterministic per seed. A session is one visitor's
 * visit on one device: it enters on a page or straight on a product (from a search engine, social, a newsletter or
 * directly), browses pages and products with think times shorter than the dataset's session gap, and drops out of
 * the funnel with decreasing odds — add to cart, checkout, purchase (a checkout and a purchase per cart line).
 * About a third of the sessions bounce (one event). Products follow the orders' popularity, so what trends in
 * clicks is what sells in orders. Some visitors come back later the same day and, over several days, on a later
 * day; never within the gap (so the sessions generated are the sessions the models compute), and some of them on
 * a second device. The client's session_id is a random UUID per session; a few clients send none, and a few no
 * device.
 *
 * Several consecutive days are one generation (`clicksForDays`): a session that starts late on a day goes on past
 * midnight into the next one, as the batch layer's `neighbour_days` expects, and is the day's it starts on. Only
 * the generation's last day squeezes a session still open before its end, so every event lies in the generated
 * days; a single day (`clicksForDay`) is a generation of one day.
 */

import { type Dataset, dataset } from '../functions/pipeline/datasets.ts';
import { addDays, dayRange, parseDay, UTC } from '../functions/pipeline/dates.ts';
import { InvalidInputError } from '../functions/pipeline/errors.ts';
import {
  brokenValue,
  type DatasetEvent,
  type DatasetEventsInput,
  type GeneratedKind,
  type GeneratedRecord,
  type PlannedCounts,
  plannedCounts,
} from './dataset-events.ts';
import { dayShapedInstants, hotProduct, productId, seededRandom } from './order-generator.ts';

export const CLICK_TYPES = ['page_view', 'product_view', 'add_to_cart', 'checkout', 'purchase'] as const;
export type ClickType = (typeof CLICK_TYPES)[number];
export const DEVICES = ['mobile', 'desktop', 'tablet'] as const;
export type Device = (typeof DEVICES)[number];

/** A click event as the clicks declaration defines it; an absent optional field is left out, as a client would. */
export interface ClickEvent {
  event_id: string;
  session_id?: string;
  user_id: string;
  event_type: ClickType;
  product_id?: string;
  page?: string;
  referrer?: string;
  device?: Device;
  event_time: string;
}

/**
 * The odds of a session, tuned to an online shop's usual shape: about 35 % of sessions bounce, 3–4 % buy, a
 * tenth of product views lead to a cart.
 */
export const FUNNEL = {
  /** The first event is a page view (home, a category, search), else a product view (an ad, a search result). */
  entersOnPage: 0.55,
  /** The session ends after its first event. */
  bounce: 0.35,
  /** A browsing step views a product, else a page. */
  viewsProduct: 0.75,
  /** After a browsing step, another one (at most `maxBrowsing`). */
  browsesOn: 0.65,
  maxBrowsing: 15,
  /** A browsing session puts the product it looks at into the cart… */
  addsToCart: 0.22,
  /** …and then another product (up to three lines). */
  addsAnotherLine: 0.2,
  /** A session with a cart checks out… */
  checksOut: 0.5,
  /** …and a checkout is paid. */
  purchases: 0.6,
  /** Sessions by a visitor seen earlier in the day (when they are not in a session then)… */
  returning: 0.2,
  /** …and by a visitor of an earlier day of the generation (a live stream: of an earlier UTC day). */
  returnsAnotherDay: 0.15,
  /** Visitors who also use a second device, and how often they pick it for a session. */
  twoDevices: 0.25,
  secondDevice: 0.4,
  /** Sessions whose client sends no session_id, and no device. */
  noSessionId: 0.03,
  noDevice: 0.02,
} as const;

/** Visitors `u-1` … `u-200000`; the first 50,000 are the orders' customers. */
const VISITORS = 200_000;
/** The samples of visitors who may come back: today's, and the earlier days'. */
const SEEN_TODAY = 10_000;
const SEEN_BEFORE = 20_000;
const PAGES = [
  '/deals',
  '/search',
  '/category/electronics',
  '/category/home',
  '/category/fashion',
  '/category/sports',
  '/category/toys',
];
const REFERRERS: readonly [number, string | undefined][] = [
  [0.4, undefined],
  [0.3, 'https://www.google.com/'],
  [0.08, 'https://www.bing.com/'],
  [0.12, 'https://www.instagram.com/'],
  [0.1, 'https://newsletter.example.com/'],
];
const SHOP = 'https://shop.example.com';

/** The funnel steps of a session, one letter each: Page, product View, Add to cart, Checkout, Buy. */
type Shape = string;

function drawShape(random: () => number): Shape {
  let shape = random() < FUNNEL.entersOnPage ? 'P' : 'V';
  if (random() < FUNNEL.bounce) return shape;
  let steps = 0;
  do {
    shape += random() < FUNNEL.viewsProduct ? 'V' : 'P';
    steps += 1;
  } while (steps < FUNNEL.maxBrowsing && random() < FUNNEL.browsesOn);
  if (!shape.includes('V') || random() >= FUNNEL.addsToCart) return shape;
  // What goes into the cart is the product being looked at.
  if (!shape.endsWith('V')) shape += 'V';
  shape += 'A';
  let lines = 1;
  while (lines < 3 && random() < FUNNEL.addsAnotherLine) {
    shape += 'VA';
    lines += 1;
  }
  if (random() >= FUNNEL.checksOut) return shape;
  shape += 'C'.repeat(lines);
  if (random() >= FUNNEL.purchases) return shape;
  return shape + 'B'.repeat(lines);
}

const TYPE_OF: Record<string, ClickType> = {
  P: 'page_view',
  V: 'product_view',
  A: 'add_to_cart',
  C: 'checkout',
  B: 'purchase',
};

let meanEvents: number | undefined;

/** The mean number of events of a session (by sampling the funnel once): turns an event rate into sessions. */
export function eventsPerSession(): number {
  if (meanEvents === undefined) {
    const random = seededRandom(7);
    let total = 0;
    for (let i = 0; i < 20_000; i++) total += drawShape(random).length;
    meanEvents = total / 20_000;
  }
  return meanEvents;
}

/** A user number's hash: a visitor's devices are the same every day and whatever the seed. */
function userHash(user: number): number {
  let h = Math.imul(user ^ 0x9e3779b9, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function devicesOf(user: number): { primary: Device; second?: Device } {
  const h = userHash(user);
  const share = (h % 1000) / 1000;
  const primary: Device = share < 0.55 ? 'mobile' : share < 0.9 ? 'desktop' : 'tablet';
  if ((h >>> 10) % 1000 >= FUNNEL.twoDevices * 1000) return { primary };
  return { primary, second: primary === 'desktop' ? 'mobile' : 'desktop' };
}

/** A v4 UUID, as a browser's `crypto.randomUUID()` would send it. */
function clientSessionId(random: () => number): string {
  const hex = () =>
    Math.floor(random() * 2 ** 32)
      .toString(16)
      .padStart(8, '0');
  const [a, b, c, d] = [hex(), hex(), hex(), hex()];
  const variant = '89ab'[Math.floor(random() * 4)];
  return `${a}-${b.slice(0, 4)}-4${b.slice(5)}-${variant}${c.slice(1, 4)}-${c.slice(4)}${d}`;
}

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

/** Keeps `item` in a sample of at most `size`: appended while there is room, else in a random one's place. */
function keep<T>(random: () => number, sample: T[], item: T, size: number): void {
  if (sample.length < size) sample.push(item);
  else sample[Math.floor(random() * sample.length)] = item;
}

function referrerOf(random: () => number): string | undefined {
  let roll = random();
  for (const [share, referrer] of REFERRERS) {
    roll -= share;
    if (roll < 0) return referrer;
  }
  return undefined;
}

/**
 * The think time before the next step, ms: seconds to a couple of minutes mostly, now and then a long pause (the
 * tab left open) — always shorter than the session gap.
 */
function thinkTimeMs(random: () => number, next: string, gapMs: number): number {
  if (next === 'B') return Math.min(0.5 * gapMs, 15_000 + random() * 120_000);
  if (random() < 0.06) return (0.2 + random() * 0.7) * gapMs;
  return Math.min(0.5 * gapMs, 2_000 + -Math.log(1 - random()) * 40_000);
}

/** An event not yet sent: its instant and, for ties, the order it was made in. */
interface Pending {
  at: number;
  order: number;
  event: Omit<ClickEvent, 'event_id' | 'event_time'>;
}

/** A binary min-heap of pending events by (instant, order). */
class PendingEvents {
  private readonly items: Pending[] = [];

  get size(): number {
    return this.items.length;
  }

  private less(a: Pending, b: Pending): boolean {
    return a.at < b.at || (a.at === b.at && a.order < b.order);
  }

  push(item: Pending): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(items[i] as Pending, items[parent] as Pending)) break;
      [items[i], items[parent]] = [items[parent] as Pending, items[i] as Pending];
      i = parent;
    }
  }

  /** The earliest pending event if it is before `beforeMs`. */
  popBefore(beforeMs: number): Pending | undefined {
    const items = this.items;
    const top = items[0];
    if (top === undefined || top.at >= beforeMs) return undefined;
    const last = items.pop() as Pending;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let least = i;
        if (left < items.length && this.less(items[left] as Pending, items[least] as Pending)) least = left;
        if (right < items.length && this.less(items[right] as Pending, items[least] as Pending))
          least = right;
        if (least === i) break;
        [items[i], items[least]] = [items[least] as Pending, items[i] as Pending];
        i = least;
      }
    }
    return top;
  }
}

/** A session as the generator planned it: what `sessions_minute` must count for it, on the day it starts. */
export interface PlannedSession {
  user_id: string;
  /** The device its events carry (none when the client sends none). */
  device?: Device;
  session_id?: string;
  /** Its first and last event's instants, ISO-8601. */
  start: string;
  end: string;
  events: number;
  isConverted: boolean;
}

/** What every click generator takes. */
export interface ClickOptions {
  /** The clicks declaration (default: `dataset('clicks')`); its `session_gap_minutes` spaces the sessions. */
  dataset?: Dataset;
  seed?: number;
  /** Makes event ids unique per generator (default `s<seed>`). */
  idPrefix?: string;
  /** Told each session as it is planned, in start order (tests hold the models to it). */
  onSession?: (session: PlannedSession) => void;
}

/** The session gap of a clicks declaration, ms (its `session_gap_minutes`, 30 when it declares none). */
export function sessionGapMs(ds: Dataset): number {
  const minutes = ds.parameters['session_gap_minutes'] ?? 30;
  if (!(minutes > 0)) {
    throw new InvalidInputError(`session_gap_minutes must be > 0, got ${minutes}`, 'session_gap_minutes');
  }
  return minutes * 60_000;
}

/**
 * True when `ds` declares the fields this generator writes with the values it writes (the shipped clicks
 * dataset does): a project that declares its own `clicks` differently gets events from its declaration instead.
 */
export function fitsClickDeclaration(ds: Dataset): boolean {
  const f = ds.fields;
  const ids = ['event_id', 'session_id', 'user_id', 'product_id', 'page', 'referrer'];
  const enumHas = (name: string, values: readonly string[]) => {
    const field = f[name];
    return field?.type === 'enum' && values.every((v) => field.values.includes(v));
  };
  return (
    ids.every((name) => f[name]?.type === 'id') &&
    enumHas('event_type', CLICK_TYPES) &&
    enumHas('device', DEVICES) &&
    f['event_time']?.type === 'timestamp' &&
    ds.eventTime === 'event_time' &&
    Object.keys(f).length === ids.length + 3
  );
}

/** Makes sessions and hands their events out in time order; ids are given in that order. */
class SessionMaker {
  private readonly pending = new PendingEvents();
  private readonly choices: () => number;
  private readonly times: () => number;
  private readonly gapMs: number;
  private readonly prefix: string;
  private readonly onSession: ((session: PlannedSession) => void) | undefined;
  /**
   * Each visitor's last event so far, whatever the day: a new session of theirs starts at least a gap later, so a
   * visitor back after midnight is not in the session they began the evening before.
   */
  private readonly lastEvent = new Map<number, number>();
  private pruneAt = 20_000;
  /** Visitors seen so far today (a sample, once many), who may come back later today… */
  private seenToday: number[] = [];
  /** …and those of earlier days (a sample), who may come back on a later one. */
  private readonly seenBefore: number[] = [];
  private sequence = 0;
  private made = 0;

  /** Events made and not handed out yet. */
  get pendingCount(): number {
    return this.pending.size;
  }

  constructor(ds: Dataset, seed: number, prefix: string, onSession?: (session: PlannedSession) => void) {
    this.gapMs = sessionGapMs(ds);
    this.choices = seededRandom(seed ^ 0x3c6ef372);
    this.times = seededRandom(seed ^ 0x7f4a7c15);
    this.prefix = prefix;
    this.onSession = onSession;
  }

  /** A new day begins: today's visitors become earlier days' ones, who may come back on this day. */
  newDay(): void {
    for (const user of this.seenToday) keep(this.choices, this.seenBefore, user, SEEN_BEFORE);
    this.seenToday = [];
  }

  private isFree(user: number, startMs: number): boolean {
    const last = this.lastEvent.get(user);
    return last === undefined || startMs - last >= this.gapMs;
  }

  private visitor(startMs: number): number {
    const random = this.choices;
    const roll = random();
    const back =
      roll < FUNNEL.returning
        ? this.seenToday
        : roll < FUNNEL.returning + FUNNEL.returnsAnotherDay
          ? this.seenBefore
          : undefined;
    for (let tries = 0; back !== undefined && back.length > 0 && tries < 3; tries++) {
      const user = pick(random, back);
      if (!this.isFree(user, startMs)) continue;
      if (back === this.seenBefore) keep(random, this.seenToday, user, SEEN_TODAY);
      return user;
    }
    if (this.lastEvent.size > this.pruneAt) {
      // Starts only move forward: a visitor free now stays free.
      for (const [user, last] of this.lastEvent)
        if (startMs - last >= this.gapMs) this.lastEvent.delete(user);
      this.pruneAt = Math.max(20_000, 2 * this.lastEvent.size);
    }
    // At a high rate the pool grows, so a new session rarely meets a visitor who is still in one.
    const pool = Math.max(VISITORS, 4 * this.lastEvent.size);
    for (;;) {
      const user = 1 + Math.floor(random() * pool);
      if (!this.isFree(user, startMs)) continue;
      keep(random, this.seenToday, user, SEEN_TODAY);
      return user;
    }
  }

  /**
   * A session of `shape` starting at `startMs`. With `endMs`, a session that would run past it is squeezed in
   * before it (a generation holds its own days only).
   */
  start(startMs: number, shape: Shape, endMs?: number): void {
    if (shape.length === 0) return;
    const random = this.choices;
    const user = this.visitor(startMs);
    const devices = devicesOf(user);
    const device =
      devices.second !== undefined && random() < FUNNEL.secondDevice ? devices.second : devices.primary;
    const sends = {
      device: random() >= FUNNEL.noDevice,
      sessionId: random() >= FUNNEL.noSessionId,
    };
    const sessionId = clientSessionId(random);
    const at = [startMs];
    for (let i = 1; i < shape.length; i++) {
      at.push((at[i - 1] as number) + Math.floor(thinkTimeMs(this.times, shape[i] as string, this.gapMs)));
    }
    const lastAt = at[at.length - 1] as number;
    if (endMs !== undefined && lastAt >= endMs) {
      const scale = (endMs - 1 - startMs) / (lastAt - startMs);
      for (let i = 1; i < at.length; i++) at[i] = startMs + Math.floor(((at[i] as number) - startMs) * scale);
    }
    const endAt = at[at.length - 1] as number;
    this.lastEvent.set(user, endAt);
    this.onSession?.({
      user_id: `u-${user}`,
      ...(sends.device ? { device } : {}),
      ...(sends.sessionId ? { session_id: sessionId } : {}),
      start: new Date(startMs).toISOString(),
      end: new Date(endAt).toISOString(),
      events: shape.length,
      isConverted: shape.includes('B'),
    });

    let referrer = referrerOf(random);
    let product: string | undefined;
    const cart: string[] = [];
    let checkedOut = 0;
    let bought = 0;
    for (let i = 0; i < shape.length; i++) {
      const step = shape[i] as string;
      let page: string;
      let productOf: string | undefined;
      if (step === 'P') {
        page = i === 0 && random() < 0.5 ? '/' : pick(random, PAGES);
      } else if (step === 'V') {
        product = productId(hotProduct(random));
        productOf = product;
        page = `/products/${product}`;
      } else if (step === 'A') {
        productOf = product ?? productId(hotProduct(random));
        cart.push(productOf);
        page = `/products/${productOf}`;
      } else if (step === 'C') {
        productOf = cart[checkedOut++] ?? cart[0];
        page = '/checkout';
      } else {
        productOf = cart[bought++] ?? cart[0];
        page = '/checkout/complete';
      }
      const event: Pending['event'] = { user_id: `u-${user}`, event_type: TYPE_OF[step] as ClickType };
      if (sends.sessionId) event.session_id = sessionId;
      if (productOf !== undefined) event.product_id = productOf;
      event.page = page;
      if (referrer !== undefined) event.referrer = referrer;
      if (sends.device) event.device = device;
      this.pending.push({ at: at[i] as number, order: this.made++, event });
      referrer = `${SHOP}${page}`;
    }
  }

  /** Every event before `beforeMs` not handed out yet, in time order. */
  *due(beforeMs: number): Generator<ClickEvent> {
    for (let next = this.pending.popBefore(beforeMs); next; next = this.pending.popBefore(beforeMs)) {
      this.sequence += 1;
      yield {
        event_id: `ck-${this.prefix}-${this.sequence}`,
        ...next.event,
        event_time: new Date(next.at).toISOString(),
      };
    }
  }
}

const MS_PER_DAY = 86_400_000;

/** A live stream of clicks: sessions start as time goes on and their events come out when their time has come. */
export interface ClickStream {
  /**
   * Starts `sessions` sessions at random instants between the previous call's `to` (or the start) and `to`, and
   * returns every event before `to` not returned yet, in time order: sessions started earlier go on.
   */
  advance(to: Date, sessions: number): ClickEvent[];
  /** Events of started sessions still to come. */
  readonly pending: number;
}

/** Clicks from `start` on, for the live feed (local/order-feed.ts). */
export function createClickStream(options: ClickOptions & { start: Date }): ClickStream {
  const seed = options.seed ?? 42;
  const maker = new SessionMaker(
    options.dataset ?? dataset('clicks'),
    seed,
    options.idPrefix ?? `s${seed}`,
    options.onSession,
  );
  const shapes = seededRandom(seed ^ 0x1b873593);
  const instants = seededRandom(seed ^ 0x68e31da4);
  let cursor = options.start.getTime();
  let utcDay = Math.floor(cursor / MS_PER_DAY);
  const stream: ClickStream = {
    advance(to, sessions) {
      const toMs = to.getTime();
      if (toMs > cursor) {
        const starts = Array.from(
          { length: sessions },
          () => cursor + Math.floor(instants() * (toMs - cursor)),
        );
        for (const startMs of starts.sort((a, b) => a - b)) {
          if (Math.floor(startMs / MS_PER_DAY) !== utcDay) {
            utcDay = Math.floor(startMs / MS_PER_DAY);
            maker.newDay();
          }
          maker.start(startMs, drawShape(shapes));
        }
        cursor = toMs;
      }
      return [...maker.due(toMs)];
    },
    get pending() {
      return maker.pendingCount;
    },
  };
  return stream;
}

/**
 * The clicks of `sessions` sessions starting at random over [start, end), the events before `end` in time order
 * (a session still going at `end` is cut there).
 */
export function clicksBetween(
  input: ClickOptions & { start: Date; end: Date; sessions: number },
): ClickEvent[] {
  return createClickStream(input).advance(input.end, input.sessions);
}

export interface ClicksForDayInput extends ClickOptions {
  /** The reporting day, a day of `timeZone`. */
  day: string;
  /** Events in all: exactly this many. */
  count: number;
  /** The reporting time zone (default UTC; a DST day has 23 or 25 hours). */
  timeZone?: string;
}

/** A day of a generation and the events of the sessions that start on it. */
export interface DayCount {
  day: string;
  count: number;
}

export interface ClicksForDaysInput extends ClickOptions {
  /** Consecutive reporting days (of `timeZone`), the earliest first, each with its sessions' events: exactly. */
  days: readonly DayCount[];
  /** The reporting time zone (default UTC). */
  timeZone?: string;
}

/** The generation's seed: the first day mixed in, so the same seed gives each day (and each range) its own clicks. */
function generationSeed(seed: number, firstDay: string): number {
  return (seed ^ Math.imul(Date.parse(`${firstDay}T00:00:00Z`) / MS_PER_DAY, 0x9e3779b1)) >>> 0;
}

function checkedDays(days: readonly DayCount[]): readonly DayCount[] {
  if (days.length === 0) throw new InvalidInputError('give at least one day', 'days');
  days.forEach(({ day, count }, i) => {
    parseDay(day);
    if (!Number.isInteger(count) || count < 0) {
      throw new InvalidInputError(`count must be a whole number >= 0, got ${count}`, 'count');
    }
    const previous = days[i - 1]?.day;
    if (previous !== undefined && addDays(previous, 1) !== day) {
      throw new InvalidInputError(`days must be consecutive: ${day} does not follow ${previous}`, 'days');
    }
  });
  return days;
}

/**
 * The clicks of consecutive days as one generation, in time order: each day's sessions start by the shop's day
 * curve (quiet nights, an evening peak) and hold exactly its count of events, the day's last session cut short to
 * make it. A session that starts late on a day goes on past midnight into the next day (its events there are
 * that day's by their event_time, the session is the day's it starts on), and visitors of a day come back on
 * later ones. The last day's sessions are squeezed in before its end: every event lies in the generated days.
 */
export function* clicksForDays(input: ClicksForDaysInput): Generator<ClickEvent> {
  const days = checkedDays(input.days);
  const first = (days[0] as DayCount).day;
  const last = (days.at(-1) as DayCount).day;
  const seed = input.seed ?? 42;
  const timeZone = input.timeZone ?? UTC;
  const mixed = generationSeed(seed, first);
  const compact = (day: string) => day.replaceAll('-', '');
  const prefix =
    input.idPrefix ??
    (days.length === 1 ? `${compact(first)}s${seed}` : `${compact(first)}-${compact(last)}s${seed}`);
  const endMs = dayRange(last, timeZone).end.getTime();
  const shapesSeed = mixed ^ 0x1b873593;
  // Two passes over the same shapes: how many sessions hold each day's events, then the sessions themselves.
  const counting = seededRandom(shapesSeed);
  const sessionsOf = days.map(({ count }) => {
    let sessions = 0;
    for (let events = 0; events < count; sessions++) events += drawShape(counting).length;
    return sessions;
  });
  const shapes = seededRandom(shapesSeed);
  const instants = seededRandom(mixed ^ 0x68e31da4);
  const maker = new SessionMaker(input.dataset ?? dataset('clicks'), mixed, prefix, input.onSession);
  for (const [i, { day, count }] of days.entries()) {
    if (i > 0) maker.newDay();
    const sessions = sessionsOf[i] as number;
    let left = count;
    let started = 0;
    for (const instant of dayShapedInstants(day, sessions, instants, timeZone)) {
      // The day curve rounds per hour and may offer a few instants more than asked for.
      if (started === sessions) break;
      yield* maker.due(instant.getTime());
      const shape = drawShape(shapes).slice(0, left);
      left -= shape.length;
      started += 1;
      maker.start(instant.getTime(), shape, endMs);
    }
  }
  yield* maker.due(Number.POSITIVE_INFINITY);
}

/**
 * Exactly `count` click events of `day` (a day of `timeZone`), in time order: a generation of one day, so every
 * event lies within the day (a late session is squeezed in before midnight).
 */
export function* clicksForDay(input: ClicksForDayInput): Generator<ClickEvent> {
  const { day, count, ...options } = input;
  yield* clicksForDays({ ...options, days: [{ day, count }] });
}

/** A click as a record of the declaration: every declared field, null where the client sent none. */
function asRecord(ds: Dataset, event: ClickEvent): DatasetEvent {
  const values = event as unknown as Record<string, string | undefined>;
  return Object.fromEntries(Object.keys(ds.fields).map((name) => [name, values[name] ?? null]));
}

/**
 * A day's export of clicks as `datasetEventsForDay` (local/dataset-events.ts) gives any dataset's, but realistic:
 * `plannedCounts(input)` events from `clicksForDay`, with the asked share of duplicates (a producer retry: a
 * recent event's id again, sent later) and of invalid records (a click with one field broken, so validation gives
 * one reason), spread at random among them.
 */
export function* clickRecordsForDay(ds: Dataset, input: DatasetEventsInput): Generator<GeneratedRecord> {
  const planned = plannedCounts(input);
  const seed = input.seed ?? 42;
  const timeZone = input.timeZone ?? UTC;
  const valid = clicksForDay({ day: input.day, timeZone, dataset: ds, count: planned.events, seed });
  yield* withRetriesAndInvalid(ds, { day: input.day, timeZone, seed }, valid[Symbol.iterator](), planned);
}

export interface DatasetDaysInput extends Omit<DatasetEventsInput, 'day' | 'count'> {
  /** Consecutive days, the earliest first, each with its records in all (events, duplicates and invalid ones). */
  days: readonly DayCount[];
  /** Told each session of the valid events as it is planned (see `ClickOptions`). */
  onSession?: (session: PlannedSession) => void;
}

/** One day's export of a generation of several days. */
export interface DayRecords {
  day: string;
  records: GeneratedRecord[];
}

/**
 * The exports of consecutive days from one generation (`clicksForDays`), a day at a time: each day's count of
 * records splits as `plannedCounts` says, its events being the events of the sessions that start on it; a day's
 * export holds the events whose event_time is in the day, so a session begun late the day before has its later
 * events in this one, and the day's own late sessions some of theirs in the next (the rows of an export differ a
 * little from its count; all the days' rows add up to the counts). Duplicates repeat an event of the same export.
 */
export function* clickRecordsForDays(ds: Dataset, input: DatasetDaysInput): Generator<DayRecords> {
  const planned = input.days.map(({ count }) => plannedCounts({ ...input, count }));
  const seed = input.seed ?? 42;
  const timeZone = input.timeZone ?? UTC;
  const events = clicksForDays({
    dataset: ds,
    seed,
    timeZone,
    ...(input.onSession ? { onSession: input.onSession } : {}),
    days: input.days.map(({ day }, i) => ({ day, count: (planned[i] as PlannedCounts).events })),
  });
  let index = 0;
  let today: ClickEvent[] = [];
  const dayRecords = (): DayRecords => {
    const { day } = input.days[index] as DayCount;
    const counts = { ...(planned[index] as PlannedCounts), events: today.length };
    const records = [...withRetriesAndInvalid(ds, { day, timeZone, seed }, today.values(), counts)];
    today = [];
    index += 1;
    return { day, records };
  };
  let endMs = dayRange((input.days[0] as DayCount).day, timeZone).end.getTime();
  for (const event of events) {
    while (Date.parse(event.event_time) >= endMs) {
      yield dayRecords();
      endMs = dayRange((input.days[index] as DayCount).day, timeZone).end.getTime();
    }
    today.push(event);
  }
  while (index < input.days.length) yield dayRecords();
}

/**
 * `counts.events` valid clicks from `valid` with `counts.duplicates` retries of recent ones and `counts.invalid`
 * broken clicks of the day spread at random among them (selection sampling: every kind's exact count).
 */
function* withRetriesAndInvalid(
  ds: Dataset,
  day: { day: string; timeZone: string; seed: number },
  valid: Iterator<ClickEvent>,
  counts: PlannedCounts,
): Generator<GeneratedRecord> {
  const { seed } = day;
  const compact = day.day.replaceAll('-', '');
  // Invalid records are clicks of their own (ids apart), so the valid ones are the same whatever the share.
  const invalid = clicksForDay({
    day: day.day,
    timeZone: day.timeZone,
    dataset: ds,
    count: counts.invalid,
    seed: seed ^ 0x0badc0de,
    idPrefix: `${compact}s${seed}x`,
  })[Symbol.iterator]();
  const fields = Object.entries(ds.fields);
  const kinds = seededRandom(generationSeed(seed, day.day) ^ 0x2545f491);
  const left = { ...counts };
  const recent: DatasetEvent[] = [];
  let latest: string | undefined;
  let broken = 0;
  while (left.events + left.duplicates + left.invalid > 0) {
    const roll = kinds() * (left.events + left.duplicates + left.invalid);
    let kind: GeneratedKind =
      roll < left.invalid ? 'invalid' : roll < left.invalid + left.duplicates ? 'duplicate' : 'event';
    if (kind === 'duplicate' && recent.length === 0) kind = 'event';
    if (kind === 'event') {
      left.events -= 1;
      const event = asRecord(ds, valid.next().value as ClickEvent);
      latest = String(event['event_time']);
      recent.push(event);
      if (recent.length > 64) recent.shift();
      yield { event, kind };
    } else if (kind === 'duplicate') {
      left.duplicates -= 1;
      // The same event id sent again, later; the earliest copy is the one every layer keeps.
      const original = pick(kinds, recent);
      yield { event: { ...original, event_time: latest ?? original['event_time'] ?? null }, kind };
    } else {
      left.invalid -= 1;
      const event = asRecord(ds, invalid.next().value as ClickEvent);
      const [name, field] = fields[broken++ % fields.length] as [string, Dataset['fields'][string]];
      event[name] = brokenValue(field);
      // A broken event type would also make a page view's missing product a second reason.
      if (name === 'event_type' && event['product_id'] === null) event['product_id'] = productId(1);
      yield { event, kind };
    }
  }
}
