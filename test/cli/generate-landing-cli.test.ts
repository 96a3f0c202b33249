import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { twinflow, twinflowWith } from '../support/cli.ts';
import { useTempDirs } from '../support/temp-dir.ts';
import { projectDatasets } from './project-datasets.ts';

const tempDir = useTempDirs();

/** A project whose datasets/ holds orders and the fixtures, as TWINFLOW_DATASETS_DIR. */
function projectEnv() {
  return { TWINFLOW_DATASETS_DIR: projectDatasets(tempDir(), ['stock_moves', 'cycle_counts']) };
}

interface Generated {
  dataset: string;
  key: string;
  rows: number;
  events: number;
  duplicates: number;
  malformed: number;
}

async function generate(env: Record<string, string>, ...args: string[]): Promise<Generated> {
  const result = await twinflowWith(env, 'generate-landing', '--json', ...args);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Generated;
}

async function batchReport(env: Record<string, string>, ...args: string[]) {
  const result = await twinflowWith(env, 'batch', '--json', ...args);
  expect(result.code, result.stderr).toBe(0);
  const outcome = JSON.parse(result.stdout).outcomes[0];
  return { status: outcome.status as string, report: outcome.report };
}

describe('twinflow generate-landing --dataset (events from the declaration)', () => {
  it.each([
    ['parquet', 'UTC'],
    ['csv', 'Asia/Taipei'],
    ['jsonl', 'America/New_York'],
  ])(
    'a %s export of stock_moves (%s) is published by batch with the generated counts',
    async (format, tz) => {
      // Prepare
      const env = projectEnv();
      const lake = tempDir();
      const day = '2026-11-20';

      // Act
      const generated = await generate(
        env,
        ...['--dataset', 'stock_moves', '--date', day, '--events', '600', '--duplicates', '0.1'],
        ...['--format', format, '--tz', tz, '--lake', lake],
      );
      const { status, report } = await batchReport(
        env,
        ...['--dataset', 'stock_moves', '--date', day, '--tz', tz, '--lake', lake],
      );
      const query = await twinflowWith(
        env,
        ...['query', '--model', 'moves_minute', '--start', day, '--granularity', 'day'],
        ...['--tz', tz, '--json', '--lake', lake],
      );

      // Assess
      expect(generated).toEqual({
        dataset: 'stock_moves',
        key: `landing/stock_moves/dt=${day}/stock_moves-42.${format}`,
        rows: 600,
        events: 540,
        duplicates: 60,
        malformed: 0,
      });
      expect(existsSync(path.join(lake, generated.key))).toBe(true);
      expect(status).toBe('published');
      expect(report.counts).toEqual({
        received: 600,
        valid: 600,
        quarantined: 0,
        duplicates: 60,
        orders: 540,
      });
      expect(existsSync(path.join(lake, 'views/batch/_published/stock_moves.json'))).toBe(true);
      expect(existsSync(path.join(lake, 'views/batch/_published/orders.json'))).toBe(false);
      expect(query.code, query.stderr).toBe(0);
      expect(JSON.parse(query.stdout).totals.movements).toBe(540);
    },
  );

  it('--malformed: batch quarantines exactly the malformed rows, one reason each, under the dataset', async () => {
    const env = projectEnv();
    const lake = tempDir();
    const generated = await generate(
      env,
      ...['--dataset', 'stock_moves', '--date', '2026-11-20', '--events', '1000', '--malformed', '0.03'],
      ...['--format', 'csv', '--lake', lake],
    );
    const { status, report } = await batchReport(
      env,
      ...['--dataset', 'stock_moves', '--date', '2026-11-20', '--lake', lake],
    );
    expect(generated.malformed).toBe(30);
    expect(status).toBe('published');
    expect(report.counts).toEqual({
      received: 1000,
      valid: 970,
      quarantined: 30,
      duplicates: 0,
      orders: 970,
    });
    expect(report.quarantineKey).toMatch(/^quarantine\/stock_moves\/dt=2026-11-20\//);
    const quarantined = readFileSync(path.join(lake, report.quarantineKey), 'utf8').trim().split('\n');
    expect(quarantined.map((line) => JSON.parse(line).reasons.length)).toEqual(Array(30).fill(1));
  });

  it('a batch-only dataset with every field type (decimal at scale 4, a default currency) publishes too', async () => {
    const env = projectEnv();
    const lake = tempDir();
    const generated = await generate(
      env,
      ...['--dataset', 'cycle_counts', '--date', '2026-11-20', '--events', '300', '--duplicates', '0.05'],
      ...['--lake', lake],
    );
    const { status, report } = await batchReport(
      env,
      ...['--dataset', 'cycle_counts', '--date', '2026-11-20', '--lake', lake],
    );
    expect(status).toBe('published');
    expect(report.counts).toEqual({
      received: 300,
      valid: 300,
      quarantined: 0,
      duplicates: generated.duplicates,
      orders: generated.events,
    });
    expect(generated.duplicates).toBe(15);
  });

  it('the same seed writes the same export; orders keep their realistic generator whichever flag counts them', async () => {
    const env = projectEnv();
    const [a, b, c, d] = [tempDir(), tempDir(), tempDir(), tempDir()];
    const moves = [
      '--dataset',
      'stock_moves',
      '--date',
      '2026-11-20',
      '--events',
      '200',
      '--format',
      'jsonl',
    ];
    await generate(env, ...moves, '--lake', a);
    await generate(env, ...moves, '--lake', b);
    const orders = ['--date', '2026-11-20', '--seed', '9', '--format', 'jsonl'];
    const byOrders = await twinflowWith(env, 'generate-landing', ...orders, '--orders', '200', '--lake', c);
    const byEvents = await generate(env, ...orders, '--dataset', 'orders', '--events', '200', '--lake', d);

    const file = (lake: string, key: string) => readFileSync(path.join(lake, key), 'utf8');
    const movesKey = 'landing/stock_moves/dt=2026-11-20/stock_moves-42.jsonl';
    expect(file(a, movesKey)).toBe(file(b, movesKey));
    expect(byOrders.stdout).toMatch(/^wrote 200 orders \(0 malformed\) to /);
    expect(byEvents.key).toBe('landing/orders/dt=2026-11-20/orders-9.jsonl');
    expect(file(d, byEvents.key)).toBe(file(c, byEvents.key));
    // The realistic shape: catalogue prices and hot products, not declaration-driven values.
    const first = JSON.parse(file(c, byEvents.key).split('\n')[0] ?? '{}');
    expect(first.order_id).toMatch(/^o-20261120s9-1$/);
    expect(first.product_id).toMatch(/^p-\d{4}$/);
  });

  it('--duplicates on orders: retries of recent orders, counted once by batch', async () => {
    const lake = tempDir();
    const env = projectEnv();
    const generated = await generate(
      env,
      ...['--date', '2026-11-20', '--orders', '1000', '--duplicates', '0.08', '--lake', lake],
    );
    const { report } = await batchReport(env, '--date', '2026-11-20', '--lake', lake);
    expect(generated.duplicates).toBeGreaterThan(40);
    expect(report.counts).toEqual({
      received: 1000,
      valid: 1000,
      quarantined: 0,
      duplicates: generated.duplicates,
      orders: generated.events,
    });
  });

  it.each([
    [
      ['--dataset', 'nope', '--events', '10'],
      /--dataset: unknown dataset "nope" \(declared: clicks, cycle_counts, inventory, orders, stock_counts, stock_moves\)/,
    ],
    [['--dataset', 'stock_moves'], /give the number of rows: --events N/],
    [['--events', '10', '--orders', '10'], /give the number of rows once: --events or --orders/],
    [
      ['--dataset', 'stock_moves', '--events', '10', '--duplicates', '2'],
      /duplicates share must be 0..1, got 2/,
    ],
    [
      ['--dataset', 'stock_moves', '--events', '10', '--duplicates', '0.5', '--malformed', '0.6'],
      /add up to more than 1/,
    ],
  ])('refuses %j naming the problem, and writes nothing', async (args, message) => {
    const lake = tempDir();
    const result = await twinflowWith(
      projectEnv(),
      'generate-landing',
      '--date',
      '2026-11-20',
      ...args,
      '--lake',
      lake,
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(existsSync(path.join(lake, 'landing'))).toBe(false);
  });

  it('without the fixture declared, --dataset stock_moves names the declared datasets', async () => {
    const result = await twinflow(
      ...['generate-landing', '--dataset', 'stock_moves', '--date', '2026-11-20', '--events', '5'],
      ...['--lake', tempDir()],
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /unknown dataset "stock_moves" \(declared: clicks, inventory, orders, stock_counts\)/,
    );
  });
});
