import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatCount } from '../../dashboard/format.ts';
import { addDays } from '../../functions/pipeline/dates.ts';
import { sendBodies } from '../../local/order-feed.ts';
import { createOrderGenerator, type OrderEvent } from '../../local/order-generator.ts';
import { datasetsWithFixtures } from '../infra/helpers.ts';
import { launchChromium } from '../support/chromium.ts';
import {
  eventually,
  expectedTotals,
  invokeAgainst,
  type RunningTwinflow,
  salesTotals,
  startTwinflow,
} from './twinflow-process.ts';

const running: RunningTwinflow[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop('SIGKILL')));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-e2e-'));
  dirs.push(dir);
  return dir;
}

function orders(count: number, seed: number, at: (i: number) => Date): OrderEvent[] {
  const generator = createOrderGenerator({ seed, idPrefix: `e2e${seed}x${Date.now().toString(36)}` });
  return Array.from({ length: count }, (_, i) => generator.next(at(i)));
}

const dayOf = (date: Date) => date.toISOString().slice(0, 10);

/** The dashboard of a running runtime in Chromium: the numbers it shows once every panel has loaded. */
async function dashboardNumbers(apiUrl: string) {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
    await page.goto(`${apiUrl}/dashboard`);
    await page.waitForFunction(
      () =>
        !document.body.classList.contains('loading') &&
        document.querySelector('[data-testid="windows"]')?.getAttribute('data-at') !== null,
      undefined,
      { timeout: 15_000 },
    );
    const text = async (testid: string) =>
      ((await page.getByTestId(testid).first().textContent()) ?? '').trim();
    return {
      totalOrders: await text('total-orders'),
      window15Orders: await text('window-15-orders'),
      errorBannerHidden: await page.locator('#errors').isHidden(),
      errors,
    };
  } finally {
    await browser.close();
  }
}

describe('twinflow start, driven over HTTP and SQS', () => {
  it('events sent to the orders queue appear in GET /sales, and a replayed file totals exactly', async () => {
    // Prepare: a replay file two days back (valid orders plus two malformed lines) and live orders for today.
    const dir = tempDir();
    const now = Date.now();
    const replayDay = dayOf(new Date(now - 2 * 86_400_000));
    const replayed = orders(150, 7, (i) => new Date(Date.parse(`${replayDay}T00:00:00Z`) + i * 500_000));
    const replayFile = path.join(dir, 'replay.jsonl');
    writeFileSync(
      replayFile,
      [...replayed.map((o) => JSON.stringify(o)), 'not json at all', '{"order_id":"o-missing-fields"}'].join(
        '\n',
      ),
    );
    const live = orders(60, 8, (i) => new Date(now - i * 1000));

    // Act
    // Config changes reach the running runtime through the synthesized template (as they would reach AWS).
    const twinflow = await startTwinflow(path.join(dir, 'data'), [
      '--replay-file',
      replayFile,
      '--set',
      'stream.batchSize=25',
      '--set',
      'stream.maxReceiveCount=4',
      '--set',
      'compaction.schedule=rate(2 minutes)',
    ]);
    running.push(twinflow);
    await sendBodies(
      twinflow.sqs,
      twinflow.ordersQueueUrl,
      live.map((o) => JSON.stringify(o)),
    );
    const today = dayOf(new Date(now));
    const liveTotals = await eventually(
      () => salesTotals(twinflow.apiUrl, today),
      (t) => t.orders >= live.length,
      40_000,
    );
    const replayTotals = await eventually(
      () => salesTotals(twinflow.apiUrl, replayDay),
      (t) => t.orders >= replayed.length,
      20_000,
    );
    const notFound = await fetch(`${twinflow.apiUrl}/no-such-route`);
    // The dashboard as a user of `npm start` opens it: the live orders are the last 24 h and the last 15 min.
    const dashboard = await dashboardNumbers(twinflow.apiUrl);

    // Assess
    expect(liveTotals).toEqual(expectedTotals(live));
    expect(replayTotals).toEqual(expectedTotals(replayed));
    expect(notFound.status).toBe(404);
    expect(await notFound.json()).toEqual({ message: 'Not Found' });
    expect(dashboard).toEqual({
      totalOrders: formatCount(live.length),
      window15Orders: formatCount(live.length),
      errorBannerHidden: true,
      errors: [],
    });
    expect(twinflow.output()).toContain('replay: sent 152 lines');
    expect(twinflow.output()).toMatch(/poll .* → ingest-orders: batch 25, window 1 s/);
    expect(twinflow.output()).toMatch(/→ .* after 4 receives/);
    expect(twinflow.output()).toMatch(/cron {2}rate\(2 minutes\) → compact-realtime/);
    expect(await twinflow.stop('SIGTERM')).toBe(0);
    expect(twinflow.output()).toContain('stopped');
  }, 90_000);

  it('SIGKILL mid-stream loses no accepted event and double counts none after compaction', async () => {
    // Prepare
    const dir = tempDir();
    const dataDir = path.join(dir, 'data');
    const first = await startTwinflow(dataDir);
    running.push(first);
    const accepted: OrderEvent[] = [];
    const generator = createOrderGenerator({ seed: 11, idPrefix: `kill${Date.now().toString(36)}` });

    // Act: stream orders until a few micro-batches ran, then SIGKILL between two sends (more queued, some in flight).
    const streamStarted = Date.now();
    while (Date.now() - streamStarted < 20_000) {
      const batch = Array.from({ length: 20 }, () => generator.next(new Date()));
      await sendBodies(
        first.sqs,
        first.ordersQueueUrl,
        batch.map((o) => JSON.stringify(o)),
      );
      accepted.push(...batch);
      if ((first.output().match(/ingest-orders: batch of/g) ?? []).length >= 2 && accepted.length >= 300)
        break;
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
    await first.stop('SIGKILL');
    const second = await startTwinflow(dataDir);
    running.push(second);
    const today = dayOf(new Date());
    await eventually(
      () => salesTotals(second.apiUrl, today),
      (t) => t.orders >= accepted.length,
      40_000,
    );
    await invokeAgainst(
      second,
      'compact-realtime',
      { 'detail-type': 'Scheduled Event', time: new Date().toISOString() },
      dir,
    );
    const totals = await salesTotals(second.apiUrl, today);

    // Assess
    expect(first.output()).toContain('ingest-orders: batch of');
    expect(totals).toEqual(expectedTotals(accepted));
  }, 120_000);

  it('a first start on an empty data directory seeds a history: batch boundary, realtime freshness and a reconciliation run', async () => {
    // Prepare
    const dataDir = path.join(tempDir(), 'data');
    const started = Date.now();

    // Act: exactly a newcomer's first `npm start`: seed on and the default live feed (10 orders/s), which once kept
    // the seed from ever seeing its queue drained.
    const twinflow = await startTwinflow(dataDir, [], { seed: true });
    running.push(twinflow);
    const today = dayOf(new Date());
    const health = await eventually(
      async () => (await (await fetch(`${twinflow.apiUrl}/health`)).json()) as Record<string, unknown>,
      (h) => h['batch_boundary'] === `${today}T00:00:00.000Z` && h['realtime_freshness'] !== null,
      150_000,
    );
    const trend = await eventually(
      async () =>
        (await (await fetch(`${twinflow.apiUrl}/reconciliation?days=7`)).json()) as { runs: unknown[] },
      (t) => t.runs.length > 0,
      150_000,
    );
    const seconds = (Date.now() - started) / 1000;
    // The seeded days' stock movements and counts, published by batch (the live feed's are test/local/click-feed's).
    const first = addDays(today, -7);
    const totals = async (model: string, range: string) =>
      (
        (await (await fetch(`${twinflow.apiUrl}/metrics/${model}?${range}&granularity=day`)).json()) as {
          totals: Record<string, number>;
        }
      ).totals;
    const seededRange = `start=${first}T00:00:00Z&end=${today}T00:00:00Z`;
    const movements = await totals('stock_movements_minute', seededRange);
    const counts = await totals('stock_counts_minute', seededRange);
    const response = await fetch(`${twinflow.apiUrl}/sales?start=${today}T00:00:00Z&granularity=hour`);
    const sales = (await response.json()) as { segments: { source: string }[] };
    expect(response.status, JSON.stringify(sales)).toBe(200);

    // Assess
    expect(twinflow.output()).toMatch(/seed {2}first start: seeding 7 days of history \(--no-seed to skip\)/);
    expect(twinflow.output()).toContain('seed: run-batch published');
    expect(health['batch_boundary']).toBe(`${today}T00:00:00.000Z`);
    expect(trend.runs.length).toBeGreaterThan(0);
    expect(sales.segments.map((s) => s.source)).toEqual(['realtime']);
    expect(twinflow.output()).toContain('seed: wrote and batched 7 daily exports of inventory');
    // Every seeded order sold (about 2,000 a day, 1.3 units each), and every product counted in 3 warehouses daily.
    expect(movements['sold']).toBeGreaterThan(7 * 2000);
    expect(movements['received']).toBeGreaterThan(0);
    expect(counts['counts']).toBe(7 * 200 * 3);
    expect(seconds).toBeLessThan(180);
    // A second start of the same directory does not seed again.
    expect(await twinflow.stop('SIGTERM')).toBe(0);
    const again = await startTwinflow(dataDir, [], { seed: true });
    running.push(again);
    expect(again.output()).not.toContain('seeding');
  }, 240_000);

  it('--no-seed leaves an empty data directory empty', async () => {
    const twinflow = await startTwinflow(path.join(tempDir(), 'data'));
    running.push(twinflow);
    const health = (await (await fetch(`${twinflow.apiUrl}/health`)).json()) as Record<string, unknown>;
    expect(health['batch_boundary']).toBeNull();
    expect(twinflow.output()).not.toContain('seeding');
  }, 90_000);

  it('the shipped clicks stream: its queue in endpoints.env, its funnel served within seconds, its sessions after compaction', async () => {
    // Prepare: the events/sqs-clicks.json bodies, moved to the last minutes (their offsets kept).
    const fixture = JSON.parse(readFileSync(path.resolve('events/sqs-clicks.json'), 'utf8')) as {
      Records: { body: string }[];
    };
    const clicks = fixture.Records.map((r) => JSON.parse(r.body) as { event_time: string });
    const last = Math.max(...clicks.map((c) => Date.parse(c.event_time)));
    const now = Date.now();
    const bodies = clicks.map((c) =>
      JSON.stringify({
        ...c,
        event_time: new Date(now - 60_000 - (last - Date.parse(c.event_time))).toISOString(),
      }),
    );

    // Act: as a newcomer's `npm start`, no declarations of its own.
    const dir = tempDir();
    const twinflow = await startTwinflow(path.join(dir, 'data'));
    running.push(twinflow);
    const range = `start=${new Date(now - 3_600_000).toISOString()}&end=${new Date(now + 60_000).toISOString()}`;
    const totals = async (model: string) =>
      (
        (await (await fetch(`${twinflow.apiUrl}/metrics/${model}?${range}&granularity=hour`)).json()) as {
          totals: Record<string, unknown>;
        }
      ).totals;
    await sendBodies(twinflow.sqs, twinflow.env['CLICKS_QUEUE_URL'] ?? '', bodies);
    const funnel = await eventually(
      () => totals('funnel_minute'),
      (t) => t['product_views'] === 2,
      30_000,
    );
    await invokeAgainst(
      twinflow,
      'compact-realtime',
      { 'detail-type': 'Scheduled Event', time: new Date().toISOString() },
      dir,
    );
    const sessions = await totals('sessions_minute');

    // Assess: one product view was quarantined (no product) and one retried, so 2 views count.
    expect(twinflow.env['CLICKS_QUEUE_URL']).toMatch(/\/ClicksQueue[0-9A-F]+$/);
    expect(twinflow.env['CLICKS_DLQ_URL']).toMatch(/\/ClicksDeadLetterQueue[0-9A-F]+$/);
    expect(twinflow.output()).toMatch(/poll {2}ClicksQueue\w+ → ingest-clicks: batch 10000, window 1 s/);
    expect(funnel).toMatchObject({
      product_views: 2,
      add_to_carts: 1,
      purchases: 1,
      view_to_purchase: '0.500000',
    });
    expect(sessions).toEqual({
      sessions: 2,
      bounced_sessions: 1,
      converted_sessions: 1,
      unique_users: 2,
      bounce_rate: '0.500000',
      session_conversion: '0.500000',
    });
  }, 90_000);

  it('a declared dataset streams as a user starts it: its queue in endpoints.env, its events consumed by its function', async () => {
    // Prepare: a project that declares a streamed dataset (stock_moves) and a batch-only one, no TypeScript.
    const project = datasetsWithFixtures('stock_moves', 'shelf_audits');
    dirs.push(project.dir);

    // Act
    const twinflow = await startTwinflow(path.join(tempDir(), 'data'), [], {
      env: { TWINFLOW_DATASETS_DIR: project.dir },
    });
    running.push(twinflow);
    const move = { movement_id: 'm1', product_id: 'p1', warehouse_id: 'w1', movement_type: 'receipt' };
    await sendBodies(twinflow.sqs, twinflow.env['STOCK_MOVES_QUEUE_URL'] ?? '', [
      JSON.stringify({ ...move, quantity: 3, event_time: new Date().toISOString() }),
    ]);
    await eventually(
      async () => twinflow.output(),
      (output) => output.includes('ingest-stock_moves: batch of 1 ok'),
      30_000,
    );

    // Assess: the real ingest handler cold-started for its dataset (an undeclared one would fail it).
    expect(twinflow.env['STOCK_MOVES_QUEUE_URL']).toMatch(/\/StockMovesQueue[0-9A-F]+$/);
    expect(twinflow.env['STOCK_MOVES_DLQ_URL']).toMatch(/\/StockMovesDeadLetterQueue[0-9A-F]+$/);
    expect(twinflow.env['ORDERS_QUEUE_URL']).toMatch(/\/OrdersQueue[0-9A-F]+$/);
    expect(Object.keys(twinflow.env).filter((name) => name.startsWith('SHELF_AUDITS'))).toEqual([]);
    expect(twinflow.output()).toMatch(
      /poll {2}StockMovesQueue\w+ → ingest-stock_moves: batch 10000, window 1 s/,
    );
  }, 90_000);
});
