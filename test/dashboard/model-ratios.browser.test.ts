import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetsDir } from '../../functions/pipeline/datasets.ts';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { silentLog } from '../../functions/pipeline/ports.ts';
import { consumeMicroBatch } from '../../functions/stream/micro-batch.ts';
import { messages } from '../stream/stream-helpers.ts';
import { launchChromium } from '../support/chromium.ts';
import { startQueryApi } from '../support/query-api.ts';

/**
 * The Models panel offers a model's declared ratios beside its measures, charts them and lists them in the range
 * totals exactly as served: the page_funnel fixture, streamed a few minutes ago (today is realtime).
 */

let browser: Browser;
let api: { url: string; close(): Promise<void> };
let lake: string;
let datasets: string;

/** 12 views, 3 carts and 1 purchase (of 2 units) of one product, minutes before now. */
function funnel(now: number) {
  const at = (i: number) => new Date(now - 20 * 60_000 + i * 30_000).toISOString();
  const step = (s: string, n: number, from: number) =>
    Array.from({ length: n }, (_, i) => ({
      event_id: `${s}-${i}`,
      product_id: 'p1',
      step: s,
      quantity: s === 'purchase' ? 2 : 1,
      event_time: at(from + i),
    }));
  return [...step('view', 12, 0), ...step('cart', 3, 12), ...step('purchase', 1, 15)];
}

beforeAll(async () => {
  datasets = mkdtempSync(path.join(os.tmpdir(), 'twinflow-datasets-'));
  cpSync(datasetsDir(), datasets, { recursive: true });
  cpSync(
    path.join(import.meta.dirname, '..', 'datasets', 'fixtures', 'page_funnel'),
    path.join(datasets, 'page_funnel'),
    { recursive: true },
  );
  lake = mkdtempSync(path.join(os.tmpdir(), 'twinflow-ratios-lake-'));
  // The handler reads both when it is first imported (startQueryApi imports it).
  process.env['TWINFLOW_DATASETS_DIR'] = datasets;
  process.env['LAKE_DIR'] = lake;
  process.env['POWERTOOLS_LOG_LEVEL'] = 'ERROR';
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  const deps = { store: new LocalDirectoryStore(lake), clock: () => new Date(), log: silentLog };
  const result = await consumeMicroBatch(
    { messages: messages(funnel(Date.now())), dataset: 'page_funnel' },
    deps,
  );
  expect(result.failedMessageIds).toEqual([]);
  api = await startQueryApi();
  browser = await launchChromium();
}, 40_000);

afterAll(async () => {
  await browser?.close();
  await api?.close();
  for (const dir of [lake, datasets]) if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('dashboard Models panel: declared ratios', () => {
  it("offers, charts and totals a model's ratios exactly as the API serves them", async () => {
    // Prepare
    const page = await browser.newPage({ viewport: { width: 1360, height: 1500 } });
    const consoleErrors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(`pageerror: ${error.message}`));
    await page.goto(`${api.url}/dashboard`);
    const row = page.locator('[data-testid="models"] tr[data-model="page_funnel_minute"]');
    await row.waitFor();

    // Act
    await page.getByTestId('model-select').selectOption('page_funnel_minute');
    const options = await page.getByTestId('measure-select').locator('option').allTextContents();
    await page.getByTestId('measure-select').selectOption('view_to_cart');
    await page.waitForFunction(
      () => document.getElementById('model-chart')?.getAttribute('data-measure') === 'view_to_cart',
    );

    // Assess
    expect(options).toEqual([
      'views',
      'carts',
      'purchases',
      'units',
      'view_to_cart (carts / views)',
      'cart_to_purchase (purchases / carts)',
      'view_to_purchase (purchases / views)',
      'units_per_purchase (units / purchases)',
    ]);
    expect(await page.getByTestId('model-chart').getAttribute('data-total')).toBe('0.250000');
    expect(await row.locator('td').nth(4).textContent()).toBe(
      'views 12 · carts 3 · purchases 1 · units 2 · view_to_cart 0.250000 · cart_to_purchase 0.333333 · ' +
        'view_to_purchase 0.083333 · units_per_purchase 2.000000',
    );
    expect(await page.locator('#model-chart canvas').count()).toBeGreaterThan(0);
    expect(consoleErrors).toEqual([]);
    await page.close();
  });
});
