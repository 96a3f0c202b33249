import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateRule } from '../../functions/alerts/rules.ts';
import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { listAlertRules } from '../../functions/pipeline/datasets.ts';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { type CoreDeps, silentLog } from '../../functions/pipeline/ports.ts';
import { consumeMicroBatch } from '../../functions/stream/micro-batch.ts';
import { messages } from '../stream/stream-helpers.ts';
import { findChromium, launchChromium } from '../support/chromium.ts';
import { startQueryApi } from '../support/query-api.ts';

/**
 * The dashboard's Stock panel in Chromium, against the real query handler: first on an empty lake (the panel shows,
 * with its empty states), then on a lake built with the engine where every figure is known by construction.
 *
 * Two days ago (D1) p-low (10), p-ok (50) and p-short (20) were counted in w1 at 04:00; D1's batch movements sold
 * 3 p-low and 2 p-short. Yesterday (D2) p-ok was counted 50 (as booked), p-short 15 (booked 18: 3 short) and p-found
 * 2 in w2 (never counted or moved: booked 0). Minutes ago the stream sold 4 p-low and received 5 p-ok. Reorder
 * points: p-low 5, p-ok 20, p-short 10, and p-zero 1 in w2 (never counted or moved: at 0). So p-low is at 3 (2 below
 * its point) and p-zero at 0 (1 below), both alerted by low_stock; p-ok 55, p-short 15, p-found 2 (no point).
 */

const DAY_MS = 86_400_000;
const hasChromium = await findChromium().then(
  () => true,
  () => false,
);

let browser: Browser;
let api: { url: string; close(): Promise<void> };
let lake: string;
let deps: CoreDeps;

beforeAll(async () => {
  if (!hasChromium) return;
  lake = mkdtempSync(path.join(os.tmpdir(), 'twinflow-stock-lake-'));
  process.env['LAKE_DIR'] = lake;
  process.env['POWERTOOLS_LOG_LEVEL'] = 'ERROR';
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  deps = { store: new LocalDirectoryStore(lake), clock: () => new Date(), log: silentLog };
  api = await startQueryApi();
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await api?.close();
  if (lake) rmSync(lake, { recursive: true, force: true });
});

async function publish(datasetName: string, day: string, rows: object[]): Promise<void> {
  await deps.store.put(
    `landing/${datasetName}/dt=${day}/export.jsonl`,
    `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`,
  );
  const report = await runBatchDay({ day, dataset: datasetName, thresholds: { force: true } }, deps);
  expect(report.status, report.error).toBe('published');
}

const count = (product_id: string, warehouse_id: string, on_hand: number, counted_at: string) => ({
  product_id,
  warehouse_id,
  on_hand,
  counted_at,
});
const move = (id: string, product_id: string, type: string, quantity: number, at: Date) => ({
  movement_id: id,
  product_id,
  warehouse_id: 'w1',
  movement_type: type,
  quantity,
  event_time: at.toISOString(),
});

async function buildLake(): Promise<{ d1: string; d2: string }> {
  const now = Date.now();
  const d1 = new Date(now - 2 * DAY_MS).toISOString().slice(0, 10);
  const d2 = new Date(now - DAY_MS).toISOString().slice(0, 10);
  await publish('stock_counts', d1, [
    count('p-low', 'w1', 10, `${d1}T04:00:00Z`),
    count('p-ok', 'w1', 50, `${d1}T04:00:00Z`),
    count('p-short', 'w1', 20, `${d1}T04:00:00Z`),
  ]);
  await publish('inventory', d1, [
    move('m1', 'p-low', 'sale', 3, new Date(`${d1}T10:00:00Z`)),
    move('m2', 'p-short', 'sale', 2, new Date(`${d1}T12:00:00Z`)),
  ]);
  await publish('stock_counts', d2, [
    count('p-ok', 'w1', 50, `${d2}T04:00:00Z`),
    count('p-short', 'w1', 15, `${d2}T04:00:00Z`),
    count('p-found', 'w2', 2, `${d2}T04:00:00Z`),
  ]);
  const streamed = [
    move('m3', 'p-low', 'sale', 4, new Date(now - 2 * 60_000)),
    move('m4', 'p-ok', 'receipt', 5, new Date(now - 2 * 60_000)),
  ];
  const consumed = await consumeMicroBatch({ messages: messages(streamed), dataset: 'inventory' }, deps);
  expect(consumed.failedMessageIds).toEqual([]);
  await deps.store.put(
    'tables/reorder_points.csv',
    'product_id,warehouse_id,reorder_point\np-low,w1,5\np-ok,w1,20\np-short,w1,10\np-zero,w2,1\n',
  );
  const rule = listAlertRules().find((r) => r.name === 'low_stock');
  if (!rule) throw new Error('inventory declares no low_stock rule');
  const evaluated = await evaluateRule(rule, { ...deps, sinks: [] });
  // p-zero, listed with a point but never counted or moved, is at 0: below its point too.
  expect(evaluated.fired.map((a) => a.where['product_id'])).toEqual(['p-low', 'p-zero']);
  return { d1, d2 };
}

const text = async (page: Page, testid: string) =>
  ((await page.getByTestId(testid).first().textContent()) ?? '').trim();

async function openDashboard(): Promise<{ page: Page; consoleErrors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1360, height: 2400 } });
  const consoleErrors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(`pageerror: ${error.message}`));
  await page.goto(`${api.url}/dashboard`);
  await page.waitForFunction(
    () =>
      document.querySelector('[data-testid="stock-updated"]')?.textContent?.startsWith('updated') === true,
    undefined,
    { timeout: 20_000 },
  );
  return { page, consoleErrors };
}

describe.skipIf(!hasChromium)('dashboard Stock panel', () => {
  it('shows on an empty lake with its empty states: no levels, no open alerts, no count day compared', async () => {
    // Prepare + Act
    const { page, consoleErrors } = await openDashboard();

    // Assess
    expect(await page.getByTestId('stock').isVisible()).toBe(true);
    expect(await text(page, 'stock-summary')).toBe('no stock counted or moved yet');
    expect(await text(page, 'stock-levels')).toContain('No stock levels yet');
    expect(await text(page, 'stock-alert-rules')).toBe(
      '2 rules declared (low_stock: stock.on_hand below reorder_points, slow_sales_hour: sales_minute.revenue (currency=USD) over 60 minutes below 100)',
    );
    expect(await page.locator('[data-testid="stock-alerts"] tbody').textContent()).toBe('No open alerts');
    expect(await text(page, 'discrepancy-summary')).toBe('no count day compared yet');
    expect(await text(page, 'discrepancies')).toContain('No counts compared with the books yet');
    expect(await page.locator('#errors').isHidden()).toBe(true);
    expect(consoleErrors).toEqual([]);
    await page.close();
  });

  describe('on a lake with counts, movements, reorder points and a low_stock crossing', () => {
    let days: { d1: string; d2: string };
    beforeAll(async () => {
      days = await buildLake();
    }, 60_000);

    it('lists the levels below their point first and highlighted, the open alerts and the largest discrepancies', async () => {
      // Prepare + Act
      const { page, consoleErrors } = await openDashboard();
      await page.waitForFunction(
        () => document.querySelector('[data-testid="stock-levels"]')?.getAttribute('data-levels') === '5',
        undefined,
        { timeout: 20_000 },
      );

      // Assess: levels — p-low 2 below its point, p-zero 1 below, then the rest by key.
      expect(await text(page, 'stock-summary')).toMatch(
        /^2 of 5 below reorder point \(4 have one\) · as of /,
      );
      const rows = page.locator('[data-testid="stock-levels"] tbody tr');
      expect(await rows.count()).toBe(5);
      const level = async (i: number) => ({
        product: await text(page, `stock-${i}-product`),
        warehouse: await text(page, `stock-${i}-warehouse`),
        onHand: await text(page, `stock-${i}-on-hand`),
        point: await text(page, `stock-${i}-point`),
        below: await page.getByTestId(`stock-${i}`).getAttribute('data-below'),
        low: await page.getByTestId(`stock-${i}`).evaluate((row) => row.classList.contains('low')),
      });
      expect(await level(0)).toEqual({
        product: 'p-low',
        warehouse: 'w1',
        onHand: '3',
        point: '5',
        below: 'true',
        low: true,
      });
      expect(await level(1)).toEqual({
        product: 'p-zero',
        warehouse: 'w2',
        onHand: '0',
        point: '1',
        below: 'true',
        low: true,
      });
      expect(await level(2)).toMatchObject({ product: 'p-found', onHand: '2', point: '—', low: false });
      expect(await level(3)).toMatchObject({ product: 'p-ok', onHand: '55', point: '20', low: false });
      expect(await level(4)).toMatchObject({ product: 'p-short', onHand: '15', point: '10', low: false });
      // Where each level came from: its count or the batch close of D1 (later than p-low's count), then the
      // movements since by layer.
      const since = (i: number) =>
        page
          .locator(`[data-testid="stock-${i}"] td.since span`)
          .evaluateAll((spans) => spans.map((span) => span.textContent ?? ''));
      expect(await since(0)).toEqual([`batch close ${days.d2} 00:00 UTC: 7`, '−4 since · realtime −4']);
      expect(await since(1)).toEqual(['never counted: 0', '±0 since']);
      expect(await since(3)).toEqual([`counted ${days.d2} 04:00 UTC: 50`, '+5 since · realtime +5']);
      // The below rows are shaded in the bad colour.
      const background = await page
        .locator('[data-testid="stock-0"] td')
        .first()
        .evaluate((cell) => getComputedStyle(cell).backgroundColor);
      expect(background).toBe('rgb(254, 242, 242)');

      // Open alerts: the crossings low_stock raised, each value below its threshold, raised seconds ago.
      expect(await page.getByTestId('stock-alerts').getAttribute('data-open')).toBe('2');
      expect(await page.locator('[data-testid="stock-alerts"] tbody tr').count()).toBe(2);
      expect(await text(page, 'stock-alert-1-key')).toBe('p-zero · w2');
      expect(await text(page, 'stock-alert-1-value')).toBe('0 < 1');
      expect(await text(page, 'stock-alert-0-key')).toBe('p-low · w1');
      expect(await text(page, 'stock-alert-0-value')).toBe('3 < 5');
      expect(await text(page, 'stock-alert-0-raised')).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/);
      expect(await text(page, 'stock-alert-0-age')).toMatch(/^\d+ s$/);
      expect(await page.getByTestId('stock-alert-0').evaluate((row) => row.classList.contains('low'))).toBe(
        true,
      );

      // Discrepancies of the newest count day (D2): p-short 3 short, p-found 2 found, p-ok as booked (not listed).
      expect(await text(page, 'discrepancy-summary')).toBe(
        `day ${days.d2}: 2 of 3 counts differ, net −1 units`,
      );
      expect(await page.locator('[data-testid="discrepancies"] tbody tr').count()).toBe(2);
      expect(await text(page, 'discrepancy-0-product')).toBe('p-short');
      expect(await text(page, 'discrepancy-0-counted')).toBe('15');
      expect(await text(page, 'discrepancy-0-book')).toBe('18');
      expect(await text(page, 'discrepancy-0-discrepancy')).toBe('−3');
      const shrink = page.getByTestId('discrepancy-0-discrepancy');
      expect(await shrink.evaluate((cell) => cell.classList.contains('shrink'))).toBe(true);
      expect(await shrink.evaluate((cell) => getComputedStyle(cell).color)).toBe('rgb(185, 28, 28)');
      expect(await text(page, 'discrepancy-1-product')).toBe('p-found');
      expect(await text(page, 'discrepancy-1-book')).toBe('0');
      expect(await text(page, 'discrepancy-1-discrepancy')).toBe('+2');

      await mkdir('test-artifacts', { recursive: true });
      await page
        .getByTestId('stock')
        .screenshot({ path: path.join('test-artifacts', 'dashboard-stock.png') });
      expect(await page.locator('#errors').isHidden()).toBe(true);
      expect(consoleErrors).toEqual([]);
      await page.close();
    });
  });
});
