import { afterAll, describe, expect, it } from 'vitest';
import { dataset } from '../../functions/pipeline/datasets.ts';
import { dayOf } from '../../functions/pipeline/dates.ts';
import { synthTemplate } from '../../lib/synth.ts';
import type { ClickEvent } from '../../local/click-generator.ts';
import type { EventSink } from '../../local/event-sinks.ts';
import type { StockMovement } from '../../local/inventory-generator.ts';
import { CLICKS_PER_ORDER, startOrderGenerator } from '../../local/order-feed.ts';
import { type Runtime, startRuntime } from '../../local/runtime.ts';
import { createScaledClock } from '../../local/scaled-clock.ts';
import type { CfnTemplate } from '../../local/template-plan.ts';
import { eventually } from '../e2e/twinflow-process.ts';
import { useTempDirs } from '../support/temp-dir.ts';
import { sessionsOf } from './click-sessions.ts';

/** Streams that accept every event and keep the bodies by name: the feed's wiring, no network. */
function recordingSinks() {
  const bodies = new Map<string, string[]>();
  const sink = (name: string): EventSink => ({
    target: name,
    async send(sent) {
      bodies.set(name, [...(bodies.get(name) ?? []), ...sent]);
      return sent.length;
    },
    drained: async () => undefined,
  });
  return { sink, bodies };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the live feed of twinflow start', () => {
  it(`sends ${CLICKS_PER_ORDER} clicks per order to the clicks queue once sessions have run their course`, async () => {
    // Prepare: ten minutes of shop time per real second, so sessions (minutes long) come and go within the test.
    const { sink, bodies } = recordingSinks();
    const clock = createScaledClock(600);
    const errors: Error[] = [];

    // Act
    const feed = startOrderGenerator({
      orders: sink('orders-queue'),
      clicks: sink('clicks-queue'),
      rate: 40,
      clock,
      seed: 3,
      onError: (error) => errors.push(error),
    });
    await sleep(6000);
    await feed.stop();

    // Assess
    const orders = bodies.get('orders-queue') ?? [];
    const clicks = (bodies.get('clicks-queue') ?? []).map((body) => JSON.parse(body) as ClickEvent);
    expect(errors).toEqual([]);
    expect(feed.sent).toBe(orders.length);
    expect(feed.clicks?.sent).toBe(clicks.length);
    expect(orders.length).toBeGreaterThan(150);
    // The first sessions are still going at the end: a little under the rate, never over it.
    expect(clicks.length / orders.length).toBeGreaterThan(CLICKS_PER_ORDER * 0.75);
    expect(clicks.length / orders.length).toBeLessThan(CLICKS_PER_ORDER * 1.15);
    expect(new Set(clicks.map((c) => c.event_id)).size).toBe(clicks.length);
    // Stamped with the local clock, in order, as sessions of the declared gap.
    const times = clicks.map((c) => Date.parse(c.event_time));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(Math.max(...times)).toBeLessThanOrEqual(clock.now().getTime());
    const gap = dataset('clicks').parameters['session_gap_minutes'] as number;
    const sessions = sessionsOf(clicks, gap);
    expect(sessions.filter((s) => s.events.length > 1).length).toBeGreaterThan(sessions.length * 0.4);
  }, 20_000);

  it('sends a sale movement per order to the inventory queue, and receipts that keep stock from going negative', async () => {
    // Prepare: eleven hours of shop time per real second, so stock runs low and deliveries (hours away) arrive.
    const { sink, bodies } = recordingSinks();
    const clock = createScaledClock(40_000);
    const errors: Error[] = [];

    // Act
    const feed = startOrderGenerator({
      orders: sink('orders-queue'),
      inventory: sink('inventory-queue'),
      rate: 40,
      clock,
      seed: 5,
      onError: (error) => errors.push(error),
    });
    await sleep(5000);
    await feed.stop();

    // Assess
    const orders = (bodies.get('orders-queue') ?? []).map(
      (body) =>
        JSON.parse(body) as { order_id: string; product_id: string; quantity: number; event_time: string },
    );
    const movements = (bodies.get('inventory-queue') ?? []).map((body) => JSON.parse(body) as StockMovement);
    expect(errors).toEqual([]);
    expect(feed.movements?.sent).toBe(movements.length);
    expect(orders.length).toBeGreaterThan(100);
    const sales = movements.filter((m) => m.movement_type === 'sale');
    expect(sales.map((s) => `${s.reference} ${s.product_id} ${s.quantity} ${s.event_time}`)).toEqual(
      orders.map((o) => `${o.order_id} ${o.product_id} ${o.quantity} ${o.event_time}`),
    );
    expect(movements.some((m) => m.movement_type === 'receipt')).toBe(true);
    expect(new Set(movements.map((m) => m.movement_id)).size).toBe(movements.length);
  }, 20_000);

  it('sends no clicks without a clicks queue', async () => {
    const { sink, bodies } = recordingSinks();
    const feed = startOrderGenerator({
      orders: sink('orders-queue'),
      rate: 40,
      clock: createScaledClock(60),
    });
    await sleep(1000);
    await feed.stop();
    expect(feed.clicks).toBeUndefined();
    expect([...bodies.keys()]).toEqual(['orders-queue']);
  });
});

interface MetricsBody {
  rows: Record<string, string | number>[];
  totals: Record<string, string | number>;
  segments: { source: string }[];
}

describe('a first start of the local runtime, with clicks', () => {
  const tempDir = useTempDirs();
  let runtime: Runtime | undefined;
  afterAll(async () => {
    await runtime?.stop();
  }, 60_000);

  it('seeds a week of clicks through run-batch, then streams live clicks beside the orders', async () => {
    // Prepare: the shipped template, as `npm start` reads it (a short batching window keeps the test fast).
    const template = synthTemplate('dev', { stream: { maxBatchingWindowSeconds: 1 } }) as CfnTemplate;

    // Act
    runtime = await startRuntime({ template, dataDir: tempDir(), port: 0, rate: 10, print: () => undefined });
    const report = await runtime.seeded;
    const metrics = async (model: string, query: string) =>
      (await (await fetch(`${runtime?.httpUrl}/metrics/${model}?${query}`)).json()) as MetricsBody;
    const today = dayOf(new Date());
    const days = report?.days ?? [];
    const history = await metrics(
      'sessions_minute',
      `start=${days[0]}T00:00:00Z&end=${today}T00:00:00Z&granularity=day`,
    );
    const live = await eventually(
      () => metrics('funnel_minute', `start=${today}T00:00:00Z&granularity=day`),
      (body) => Number(body.totals['product_views']) > 0,
      60_000,
    );

    // Assess
    expect(runtime.streams['clicks']).toBeDefined();
    expect(days).toHaveLength(7);
    expect(report?.exportedClicks).toBe(report && report.exportedOrders * CLICKS_PER_ORDER);
    expect(history.segments.map((s) => s.source)).toEqual(['batch']);
    expect(history.rows.map((row) => String(row['window_start']).slice(0, 10))).toEqual(days);
    for (const row of history.rows) expect(Number(row['sessions'])).toBeGreaterThan(1000);
    expect(live.segments.map((s) => s.source)).toEqual(['realtime']);
  }, 300_000);
});
