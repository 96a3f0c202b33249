import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { type CoreDeps, silentLog } from '../../functions/pipeline/ports.ts';
import { compactRealtime } from '../../functions/stream/compaction.ts';
import { consumeMicroBatch } from '../../functions/stream/micro-batch.ts';
import { messages } from '../stream/stream-helpers.ts';
import { launchChromium } from '../support/chromium.ts';
import { startQueryApi } from '../support/query-api.ts';

/**
 * The dashboard's User behaviour panel in Chromium, against the real query handler, on a lake where the clicks of
 * two days ago are published by batch and the last 40 minutes' clicks went through the speed layer (micro-batches,
 * then compaction for the sessions). The clicks are few and hand-made, so every figure is known by construction.
 */

const DAY_MS = 86_400_000;
let browser: Browser;
let api: { url: string; close(): Promise<void> };
let lake: string;
let batchDay: string;

type Click = { user_id: string; event_type: string; product_id?: string; device?: string; at: Date };

/**
 * Batch day: bu1 views, carts, checks out and buys p-hot (one converted session); bu2 bounces on a page; bu3 views
 * two products, then comes back two hours later and bounces. Realtime: ru1 carts p-hot (38 min ago, outside the
 * 15-minute trending window) and p-warm; ru2 carts p-warm and p-hot, looks at p-cold and buys; ru3 bounces; bu1 returns (a visitor
 * of both layers, counted once).
 */
function clicks(batchDay: string, now: number): { batch: Click[]; realtime: Click[] } {
  const on = (time: string) => new Date(`${batchDay}T${time}:00Z`);
  const ago = (minutes: number) => new Date(now - minutes * 60_000);
  return {
    batch: [
      { user_id: 'bu1', event_type: 'product_view', product_id: 'p-hot', device: 'desktop', at: on('10:00') },
      { user_id: 'bu1', event_type: 'add_to_cart', product_id: 'p-hot', device: 'desktop', at: on('10:05') },
      { user_id: 'bu1', event_type: 'checkout', product_id: 'p-hot', device: 'desktop', at: on('10:06') },
      { user_id: 'bu1', event_type: 'purchase', product_id: 'p-hot', device: 'desktop', at: on('10:07') },
      { user_id: 'bu2', event_type: 'page_view', device: 'mobile', at: on('11:00') },
      {
        user_id: 'bu3',
        event_type: 'product_view',
        product_id: 'p-cold',
        device: 'desktop',
        at: on('12:00'),
      },
      { user_id: 'bu3', event_type: 'product_view', product_id: 'p-hot', device: 'desktop', at: on('12:10') },
      { user_id: 'bu3', event_type: 'page_view', device: 'desktop', at: on('14:00') },
    ],
    realtime: [
      { user_id: 'ru1', event_type: 'product_view', product_id: 'p-hot', device: 'mobile', at: ago(40) },
      { user_id: 'ru1', event_type: 'add_to_cart', product_id: 'p-hot', device: 'mobile', at: ago(38) },
      { user_id: 'ru1', event_type: 'add_to_cart', product_id: 'p-warm', device: 'mobile', at: ago(10) },
      { user_id: 'ru2', event_type: 'product_view', product_id: 'p-warm', device: 'tablet', at: ago(12) },
      { user_id: 'ru2', event_type: 'add_to_cart', product_id: 'p-warm', device: 'tablet', at: ago(11) },
      { user_id: 'ru2', event_type: 'add_to_cart', product_id: 'p-hot', device: 'tablet', at: ago(9) },
      { user_id: 'ru2', event_type: 'product_view', product_id: 'p-cold', device: 'tablet', at: ago(8) },
      { user_id: 'ru2', event_type: 'purchase', product_id: 'p-warm', device: 'tablet', at: ago(5) },
      { user_id: 'ru3', event_type: 'page_view', device: 'mobile', at: ago(3) },
      { user_id: 'bu1', event_type: 'product_view', product_id: 'p-hot', device: 'desktop', at: ago(2) },
    ],
  };
}

const asEvents = (list: Click[], prefix: string) =>
  list.map(({ at, ...click }, i) => ({ event_id: `${prefix}-${i}`, ...click, event_time: at.toISOString() }));

beforeAll(async () => {
  lake = mkdtempSync(path.join(os.tmpdir(), 'twinflow-behaviour-lake-'));
  process.env['LAKE_DIR'] = lake;
  process.env['POWERTOOLS_LOG_LEVEL'] = 'ERROR';
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  const now = Date.now();
  batchDay = new Date(now - 2 * DAY_MS).toISOString().slice(0, 10);
  const { batch, realtime } = clicks(batchDay, now);
  const deps: CoreDeps = { store: new LocalDirectoryStore(lake), clock: () => new Date(), log: silentLog };
  const lines = asEvents(batch, 'b').map((event) => JSON.stringify(event));
  await deps.store.put(`landing/clicks/dt=${batchDay}/clicks.jsonl`, `${lines.join('\n')}\n`);
  const report = await runBatchDay({ day: batchDay, dataset: 'clicks', thresholds: { force: true } }, deps);
  expect(report.status, report.error).toBe('published');
  const events = asEvents(realtime, 'r');
  for (const [i, part] of [events.slice(0, 4), events.slice(4)].entries()) {
    const result = await consumeMicroBatch(
      { messages: messages(part, `batch${i}`), dataset: 'clicks' },
      deps,
    );
    expect(result.failedMessageIds).toEqual([]);
  }
  const days = [...new Set(realtime.map((c) => c.at.toISOString().slice(0, 10)))];
  await compactRealtime(deps, { now: new Date(), days, datasets: ['clicks'], graceMs: 0 });
  api = await startQueryApi();
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await api?.close();
  if (lake) rmSync(lake, { recursive: true, force: true });
});

const text = async (page: Page, testid: string) =>
  ((await page.getByTestId(testid).first().textContent()) ?? '').trim();

describe('dashboard User behaviour panel', () => {
  it('shows the funnel with its ratios, sessions, visitors and bounce rate across batch and realtime, and what trends now', async () => {
    // Prepare
    const page = await browser.newPage({ viewport: { width: 1360, height: 2400 } });
    const consoleErrors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(`pageerror: ${error.message}`));
    await page.goto(`${api.url}/dashboard`);

    // Act: the last 7 days hold the batch day and the realtime minutes.
    await page.locator('[data-preset="7d"]').click();
    await page.waitForFunction(
      () =>
        !document.body.classList.contains('loading') &&
        document.querySelector('[data-testid="range-label"]')?.textContent?.includes('by hour') === true &&
        document.getElementById('behaviour-chart')?.getAttribute('data-sessions') !== null &&
        document.querySelector('[data-testid="trending"]')?.getAttribute('data-start') !== null,
      undefined,
      { timeout: 20_000 },
    );

    // Assess: the funnel's counts are both layers' sums; its ratios are the ratios of those sums.
    expect(await page.getByTestId('behaviour').isVisible()).toBe(true);
    expect(await text(page, 'funnel-product_views-count')).toBe('7');
    expect(await text(page, 'funnel-add_to_carts-count')).toBe('5');
    expect(await text(page, 'funnel-checkouts-count')).toBe('1');
    expect(await text(page, 'funnel-purchases-count')).toBe('2');
    expect(await page.getByTestId('ratio-view_to_cart').getAttribute('data-value')).toBe('0.714286');
    expect(await text(page, 'ratio-view_to_cart')).toBe('view → cart 71.43 %');
    expect(await page.getByTestId('ratio-cart_to_purchase').getAttribute('data-value')).toBe('0.400000');
    expect(await page.getByTestId('ratio-view_to_purchase').getAttribute('data-value')).toBe('0.285714');
    // Sessions: 4 on the batch day, 4 in realtime; bu1 is a visitor of both and counts once.
    expect(await text(page, 'sessions')).toBe('8');
    expect(await text(page, 'visitors')).toBe('6');
    expect(await text(page, 'bounce-rate')).toBe('50.00 %');
    expect(await text(page, 'bounce-detail')).toBe('4 single-event sessions');
    expect(await text(page, 'session-conversion')).toBe('25.00 %');
    const chart = page.getByTestId('behaviour-chart');
    const perBucket = JSON.parse((await chart.getAttribute('data-sessions')) ?? '[]') as number[];
    expect(perBucket.reduce((a, b) => a + b, 0)).toBe(8);
    expect(perBucket.filter((n) => n > 0).length).toBeGreaterThanOrEqual(4);
    expect(await page.locator('#behaviour-chart canvas').count()).toBeGreaterThan(0);
    const segments = await text(page, 'behaviour-segments');
    // Batch serves its published day; realtime the days around it (nothing published there).
    const nextDay = new Date(Date.parse(batchDay) + DAY_MS).toISOString().slice(0, 10);
    expect(segments.split('  ·  ')).toEqual([
      expect.stringMatching(/^realtime /),
      `batch ${batchDay} 00:00 UTC → ${nextDay} 00:00 UTC`,
      expect.stringMatching(/^realtime .* UTC$/),
    ]);
    // Trending: add to carts in the last 15 minutes only (ru1's p-hot cart 38 minutes ago is outside).
    expect(await text(page, 'trending-0-id')).toBe('p-warm');
    expect(await text(page, 'trending-0-carts')).toBe('2');
    expect(await text(page, 'trending-1-id')).toBe('p-hot');
    expect(await text(page, 'trending-1-carts')).toBe('1');
    // Each product's ratio over the window: p-warm 2 carts / 1 view, p-hot 1 / 1 (bu1's view 2 minutes ago).
    expect(await text(page, 'trending-0-view-to-cart')).toBe('200.00 %');
    expect(await text(page, 'trending-1-view-to-cart')).toBe('100.00 %');
    // p-cold was viewed in the window but never added to cart: not trending.
    expect(await page.locator('[data-testid="trending"] tbody tr').count()).toBe(2);
    await mkdir('test-artifacts', { recursive: true });
    await page
      .getByTestId('behaviour')
      .screenshot({ path: path.join('test-artifacts', 'dashboard-behaviour.png') });
    expect(consoleErrors).toEqual([]);
    await page.close();
  });
});
