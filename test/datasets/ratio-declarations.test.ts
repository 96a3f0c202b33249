import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DatasetDeclarationError, datasetsDir, listDatasets } from '../../functions/pipeline/datasets.ts';
import { twinflowWith } from '../support/cli.ts';
import { useTempDirs } from '../support/temp-dir.ts';

const tempDir = useTempDirs();
const FIXTURES = path.join(import.meta.dirname, 'fixtures');

/** A datasets folder: the shipped ones and some fixtures, `edit` rewriting one dataset's declaration. */
function project(fixtures: string[], edit?: { dataset: string; yaml: (y: string) => string }) {
  const dir = tempDir();
  cpSync(datasetsDir(), dir, { recursive: true });
  for (const name of fixtures) cpSync(path.join(FIXTURES, name), path.join(dir, name), { recursive: true });
  const file = edit ? path.join(dir, edit.dataset, 'dataset.yaml') : '';
  if (edit) writeFileSync(file, edit.yaml(readFileSync(file, 'utf8')));
  return { dir, file };
}

/** orders' sales_minute (or daily_sales) with these ratio lines. */
const ordersRatios = (lines: string, model: 'sales_minute' | 'daily_sales' = 'sales_minute') => ({
  dataset: 'orders',
  yaml: (y: string) =>
    model === 'sales_minute'
      ? y.replace('\n  daily_sales:', `\n    ratios:\n${lines}\n  daily_sales:`)
      : `${y.trimEnd()}\n    ratios:\n${lines}\n`,
});

describe('declared ratios', () => {
  it.each([
    [
      'a money numerator',
      ordersRatios('      revenue_per_order: { numerator: revenue, denominator: orders }'),
      /models\.sales_minute\.ratios\.revenue_per_order\.numerator: "revenue" is a money measure; a ratio divides count or sum measures/,
    ],
    [
      'a distinct denominator',
      {
        dataset: 'stock_moves',
        yaml: (y: string) =>
          `${y.trimEnd()}\n    ratios:\n      units_per_product: { numerator: units, denominator: products }\n`,
      },
      /models\.moves_by_type_minute\.ratios\.units_per_product\.denominator: "products" is a distinct measure/,
    ],
    [
      'a measure the model does not declare',
      ordersRatios('      conversion: { numerator: orders, denominator: visits }'),
      /models\.sales_minute\.ratios\.conversion\.denominator: "visits" is not a measure of sales_minute/,
    ],
    [
      'a name a measure has',
      ordersRatios('      units: { numerator: units, denominator: orders }'),
      /models\.sales_minute\.ratios\.units: also a measure/,
    ],
    [
      'a name a dimension has',
      ordersRatios('      product_id: { numerator: units, denominator: orders }'),
      /models\.sales_minute\.ratios\.product_id: also a dimension/,
    ],
    [
      'the name of a money measure per currency',
      ordersRatios('      revenue_by_currency: { numerator: units, denominator: orders }'),
      /models\.sales_minute\.ratios\.revenue_by_currency: also the per-currency form of revenue/,
    ],
    [
      'a ratio on a day model',
      ordersRatios('      units_per_order: { numerator: units, denominator: orders }', 'daily_sales'),
      /models\.daily_sales\.ratios: only a minute model declares ratios/,
    ],
    [
      'a ratio without a denominator',
      ordersRatios('      units_per_order: { numerator: units }'),
      /models\.sales_minute\.ratios\.units_per_order\.denominator/,
    ],
  ])('refuses %s, naming the file and the field', (_what, edit, message) => {
    const { dir, file } = project(['stock_moves'], edit);
    let error: unknown;
    try {
      listDatasets(dir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DatasetDeclarationError);
    expect((error as Error).message).toContain(file);
    expect((error as Error).message).toMatch(message);
  });

  it("twinflow datasets lists each model's ratios (none for orders), in the table and in --json", async () => {
    const { dir } = project(['page_funnel']);
    const json = await twinflowWith({ TWINFLOW_DATASETS_DIR: dir }, 'datasets', '--json');
    const table = await twinflowWith({ TWINFLOW_DATASETS_DIR: dir }, 'datasets');
    expect(json.code, json.stderr).toBe(0);
    const listed = JSON.parse(json.stdout) as { name: string; models: { name: string; ratios: unknown }[] }[];
    const models = Object.fromEntries(listed.flatMap((d) => d.models.map((m) => [m.name, m])));
    expect(models['page_funnel_minute']).toMatchObject({
      dimensions: ['product_id'],
      measures: ['views', 'carts', 'purchases', 'units'],
      ratios: [
        { name: 'view_to_cart', numerator: 'carts', denominator: 'views' },
        { name: 'cart_to_purchase', numerator: 'purchases', denominator: 'carts' },
        { name: 'view_to_purchase', numerator: 'purchases', denominator: 'views' },
        { name: 'units_per_purchase', numerator: 'units', denominator: 'purchases' },
      ],
    });
    expect(models['page_funnel_daily']?.ratios).toEqual([]);
    expect(models['sales_minute']?.ratios).toEqual([]);
    expect(table.stdout).toContain(
      'ratios:     view_to_cart = carts / views, cart_to_purchase = purchases / carts',
    );
  });
});
