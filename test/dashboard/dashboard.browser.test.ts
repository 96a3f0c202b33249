import { rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatCount, formatMoney, formatUtc } from '../../dashboard/format.ts';
import { launchChromium } from '../support/chromium.ts';
import { startQueryApi } from '../support/query-api.ts';
import {
  DLQ_MESSAGES,
  KAFKA_LAG,
  type SeededLake,
  seedDashboardLake,
  topProductIn,
  totalsIn,
} from './seed-lake.ts';

/**
 * The dashboard in real Chromium, against the real query handler behind a loopback HTTP server (the local
 * runtime's API Gateway adapter), on a lake seeded through the batch fixtures, the speed layer and run records.
 */

const ARTIFACTS = path.resolve('test-artifacts');

let seed: SeededLake;
let browser: Browser;
let api: { url: string; close(): Promise<void> };

async function openDashboard(width = 1360, height = 1500): Promise<{ page: Page; consoleErrors: string[] }> {
  const page = await browser.newPage({ viewport: { width, height }, deviceScaleFactor: 1 });
  const consoleErrors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(`pageerror: ${error.message}`));
  return { page, consoleErrors };
}

/** Waits until every panel has left its loading state. */
async function settled(page: Page): Promise<void> {
  await page.waitForFunction(
    () =>
      !document.body.classList.contains('loading') &&
      document.querySelector('[data-testid="windows"]')?.getAttribute('data-at') !== null &&
      document.getElementById('freshness-card')?.getAttribute('data-state') != null,
    undefined,
    { timeout: 15_000 },
  );
}

const text = async (page: Page, testid: string) =>
  ((await page.getByTestId(testid).first().textContent()) ?? '').trim();

async function rangeOf(page: Page): Promise<{ start: Date; end: Date; granularity: string }> {
  const label = page.getByTestId('range-label');
  return {
    start: new Date((await label.getAttribute('data-start')) ?? ''),
    end: new Date((await label.getAttribute('data-end')) ?? ''),
    granularity: (await label.getAttribute('data-granularity')) ?? '',
  };
}

async function expectTotals(page: Page, start: Date, end: Date): Promise<void> {
  const expected = totalsIn(seed, start, end);
  expect(expected.orders).toBeGreaterThan(0);
  expect(await text(page, 'total-orders')).toBe(formatCount(expected.orders));
  expect(await text(page, 'total-units')).toBe(formatCount(expected.units));
  expect(await text(page, 'total-revenue')).toBe(`${formatMoney(expected.revenue)} USD`);
  const top = topProductIn(seed, start, end);
  expect(await text(page, 'top-product-0-id')).toBe(top.productId);
  expect(await text(page, 'top-product-0-revenue')).toBe(`${formatMoney(top.revenue)} USD`);
}

beforeAll(async () => {
  seed = await seedDashboardLake();
  process.env['LAKE_DIR'] = seed.dir;
  process.env['POWERTOOLS_LOG_LEVEL'] = 'ERROR';
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  api = await startQueryApi();
  browser = await launchChromium();
  await mkdir(ARTIFACTS, { recursive: true });
}, 40_000);

afterAll(async () => {
  await browser?.close();
  await api?.close();
  if (seed) rmSync(seed.dir, { recursive: true, force: true });
});

describe('operations dashboard in Chromium', () => {
  it('renders every panel with the seeded values, without console errors', async () => {
    const { page, consoleErrors } = await openDashboard();
    const response = await page.goto(`${api.url}/dashboard`);
    expect(response?.headers()['content-security-policy']).toContain("default-src 'none'");
    await settled(page);

    // Sales over the default range (last 24 h by hour): totals and top product, exactly.
    const range = await rangeOf(page);
    expect(range.granularity).toBe('hour');
    expect(range.end.getTime() - range.start.getTime()).toBe(86_400_000);
    await expectTotals(page, range.start, range.end);
    expect(await page.locator('#sales-chart canvas').count()).toBeGreaterThan(0);
    expect(await page.getByTestId('sales-chart').getAttribute('data-buckets')).toBe('24');
    expect(await text(page, 'segments')).toMatch(/batch .* realtime/);
    expect(await text(page, 'boundary')).toContain(
      formatUtc(`${seed.now.toISOString().slice(0, 10)}T00:00:00Z`),
    );

    // The last 1/5/15 minutes, as the server computed them at `at`.
    const at = new Date((await page.getByTestId('windows').getAttribute('data-at')) ?? '');
    const end = Math.floor(at.getTime() / 60_000) * 60_000 + 60_000;
    for (const minutes of [1, 5, 15]) {
      const expected = totalsIn(seed, new Date(end - minutes * 60_000), new Date(end));
      expect(await text(page, `window-${minutes}-orders`)).toBe(formatCount(expected.orders));
      // A window with no orders (the clock just crossed a minute) has no currency to name.
      expect(await text(page, `window-${minutes}-revenue`)).toBe(
        expected.orders === 0 ? '0.00' : `${formatMoney(expected.revenue)} USD`,
      );
    }
    expect(await text(page, 'window-15-orders')).not.toBe('0');

    // Freshness: the newest event is seconds old.
    expect(await page.locator('#freshness-card').getAttribute('data-state')).toBe('ok');
    expect(await text(page, 'freshness')).toMatch(/^\d+ s$/);

    // Quarantine, DLQ, late events.
    expect(await text(page, 'quarantine-count')).toBe(String(seed.quarantined));
    expect(await text(page, 'quarantine-sources')).toContain('stream 3');
    expect(await text(page, 'reason-0')).toContain(seed.topReason.reason);
    expect(await page.getByTestId('reason-0').locator('.count').textContent()).toBe(
      String(seed.topReason.count),
    );
    expect(await text(page, 'dlq-count')).toBe(String(DLQ_MESSAGES));
    expect(await text(page, 'late-count')).toBe('1');
    expect(await text(page, 'late-hour')).toContain(formatUtc(seed.lateHour));
    expect(await page.getByTestId('kafka-lag-section').isVisible()).toBe(true);
    const kafkaLag = await text(page, 'kafka-lag-orders');
    expect(kafkaLag).toContain(`${formatCount(KAFKA_LAG.reduce((n, lag) => n + lag, 0))} behind`);
    expect(kafkaLag).toContain(KAFKA_LAG.map((lag, p) => `p${p} ${formatCount(lag)}`).join(' · '));

    // Reconciliation: latest deviation, threshold, alert.
    expect(await text(page, 'deviation-latest')).toBe('12.50 %');
    expect(await text(page, 'deviation-threshold')).toBe('10.00 %');
    expect(await text(page, 'alert')).toContain(seed.alertMessage);
    expect(await page.locator('#deviation-chart canvas').count()).toBeGreaterThan(0);

    // User behaviour: clicks are declared but the seeded lake has none: zeros, no ratio, nothing trending.
    await page.waitForFunction(
      () => document.querySelector('[data-testid="trending"]')?.getAttribute('data-start') !== null,
    );
    expect(await text(page, 'funnel-product_views-count')).toBe('0');
    expect(await text(page, 'sessions')).toBe('0');
    expect(await text(page, 'bounce-rate')).toBe('n/a');
    expect(await page.getByTestId('ratio-view_to_cart').getAttribute('data-value')).toBe('null');
    expect(await text(page, 'trending')).toContain('Nothing added to cart in the last 15 minutes');

    // Models: every declared minute model listed with its range totals; the chosen one charted by bucket.
    await page.waitForFunction(
      () => document.getElementById('model-chart')?.getAttribute('data-buckets') !== null,
    );
    const expected = totalsIn(seed, range.start, range.end);
    const models = page.locator('[data-testid="models"] tr[data-model]');
    expect(await models.evaluateAll((rows) => rows.map((row) => row.getAttribute('data-model')))).toEqual([
      'funnel_minute',
      'sessions_minute',
      'stock_movements_minute',
      'sales_minute',
      'stock_counts_minute',
    ]);
    const modelRow = (model: string) => page.locator(`[data-testid="models"] tr[data-model="${model}"] td`);
    expect(await modelRow('sales_minute').allTextContents()).toEqual([
      'orders',
      'sales_minute',
      'product_id, currency',
      'orders, units, revenue',
      `orders ${formatCount(expected.orders)} · units ${formatCount(expected.units)} · revenue ${formatMoney(expected.revenue)} USD`,
    ]);
    // The seeded lake has no clicks: their models are listed with zero counts and no ratio (denominators are 0).
    expect(await modelRow('funnel_minute').allTextContents()).toEqual([
      'clicks',
      'funnel_minute',
      'product_id',
      'product_views, add_to_carts, checkouts, purchases',
      'product_views 0 · add_to_carts 0 · checkouts 0 · purchases 0 · view_to_cart n/a · cart_to_purchase n/a · view_to_purchase n/a',
    ]);
    expect(await modelRow('sessions_minute').allTextContents()).toEqual([
      'clicks',
      'sessions_minute',
      'device',
      'sessions, bounced_sessions, converted_sessions, unique_users',
      'sessions 0 · bounced_sessions 0 · converted_sessions 0 · unique_users 0 · bounce_rate n/a · session_conversion n/a',
    ]);
    // Nor stock movements or counts: inventory's and stock_counts' models are listed with zero sums.
    expect(await modelRow('stock_movements_minute').allTextContents()).toEqual([
      'inventory',
      'stock_movements_minute',
      'product_id, warehouse_id',
      'received, sold, returned, adjusted, net_change',
      'received 0 · sold 0 · returned 0 · adjusted 0 · net_change 0',
    ]);
    expect(await modelRow('stock_counts_minute').allTextContents()).toEqual([
      'stock_counts',
      'stock_counts_minute',
      'product_id, warehouse_id',
      'counts, counted_units',
      'counts 0 · counted_units 0',
    ]);
    // The chart starts on the first listed model; choosing sales_minute charts its orders.
    const modelChart = page.getByTestId('model-chart');
    expect(await modelChart.getAttribute('data-model')).toBe('funnel_minute');
    expect(await modelChart.getAttribute('data-total')).toBe('0');
    await page.getByTestId('model-select').selectOption('sales_minute');
    await page.waitForFunction(
      () => document.getElementById('model-chart')?.getAttribute('data-model') === 'sales_minute',
    );
    expect(await modelChart.getAttribute('data-buckets')).toBe('24');
    expect(await modelChart.getAttribute('data-total')).toBe(String(expected.orders));
    await page.getByTestId('measure-select').selectOption('revenue');
    await page.waitForFunction(
      () => document.getElementById('model-chart')?.getAttribute('data-measure') === 'revenue',
    );
    expect(Number(await modelChart.getAttribute('data-total'))).toBeCloseTo(Number(expected.revenue), 2);
    expect(await page.locator('#model-chart canvas').count()).toBeGreaterThan(0);

    expect(await page.locator('#errors').isHidden()).toBe(true);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    if (process.env['TWINFLOW_DOCS_SCREENSHOT'] === '1') {
      await page.screenshot({ path: path.resolve('docs/dashboard.png'), fullPage: true });
    }
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it('changing the range updates the chart, the totals and the top products', async () => {
    const { page, consoleErrors } = await openDashboard();
    await page.goto(`${api.url}/dashboard`);
    await settled(page);

    await page.getByRole('button', { name: '30 days' }).click();
    await page.waitForFunction(
      () => document.querySelector('[data-testid="range-label"]')?.getAttribute('data-granularity') === 'day',
    );
    await settled(page);
    const month = await rangeOf(page);
    expect(month.end.getTime() - month.start.getTime()).toBe(30 * 86_400_000);
    expect(await page.getByTestId('sales-chart').getAttribute('data-buckets')).toBe('30');
    expect(await page.getByTestId('sales-chart').getAttribute('data-revenue')).toBe(
      JSON.stringify({ USD: totalsIn(seed, month.start, month.end).revenue }),
    );
    await expectTotals(page, month.start, month.end);

    // A custom range of two whole batch days, by hour.
    const day = (offset: number) =>
      new Date(Date.UTC(seed.now.getUTCFullYear(), seed.now.getUTCMonth(), seed.now.getUTCDate() + offset));
    await page.getByRole('button', { name: 'Custom' }).click();
    await page.locator('#custom-start').fill(day(-10).toISOString().slice(0, 16));
    await page.locator('#custom-end').fill(day(-8).toISOString().slice(0, 16));
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.waitForFunction(
      (start) => document.querySelector('[data-testid="range-label"]')?.getAttribute('data-start') === start,
      day(-10).toISOString(),
    );
    await settled(page);
    expect((await rangeOf(page)).granularity).toBe('day');
    await expectTotals(page, day(-10), day(-8));
    expect(await page.getByTestId('sales-chart').getAttribute('data-buckets')).toBe('2');

    await page.locator('#granularity').selectOption('hour');
    await page.waitForFunction(
      () =>
        document.querySelector('[data-testid="range-label"]')?.getAttribute('data-granularity') === 'hour',
    );
    expect(await page.getByTestId('sales-chart').getAttribute('data-buckets')).toBe('48');
    expect(await text(page, 'total-revenue')).toBe(
      `${formatMoney(totalsIn(seed, day(-10), day(-8)).revenue)} USD`,
    );
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  it('shows API errors in a banner and warns about stale realtime data', async () => {
    const { page } = await openDashboard();
    await page.route('**/sales/windows*', (route) =>
      route.fulfill({
        status: 500,
        contentType: 'application/json',
        body: JSON.stringify({ error: 'internal', detail: 'the query failed; see the function logs' }),
      }),
    );
    await page.route('**/health', (route) =>
      route.fulfill({
        contentType: 'application/json',
        body: JSON.stringify({
          status: 'ok',
          realtime_freshness: '2026-11-21T10:00:00Z',
          generated_at: '2026-11-21T10:07:30.000Z',
        }),
      }),
    );
    await page.goto(`${api.url}/dashboard`);
    const banner = page.locator('#errors');
    await banner.waitFor({ state: 'visible' });
    expect(await banner.textContent()).toContain(
      'GET /sales/windows failed (HTTP 500): internal: the query failed; see the function logs',
    );
    await page.waitForFunction(() => document.getElementById('freshness-card')?.dataset['state'] === 'warn');
    expect(await text(page, 'freshness')).toBe('7 min');
    await page.waitForFunction(() => !document.body.classList.contains('loading'));
    expect(await page.getByTestId('windows').textContent()).toContain('Unavailable: see the error above');
    await page.close();
  });

  it('fits a phone screen without horizontal scrolling', async () => {
    const { page, consoleErrors } = await openDashboard(390, 844);
    await page.goto(`${api.url}/dashboard`);
    await settled(page);
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    expect(overflow).toBeLessThanOrEqual(0);
    expect(await page.locator('#errors').isHidden()).toBe(true);
    const range = await rangeOf(page);
    await expectTotals(page, range.start, range.end);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true });
    expect(consoleErrors).toEqual([]);
    await page.close();
  });
});
