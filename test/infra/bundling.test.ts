import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TwinflowFunction } from '../../lib/constructs/twinflow-function.ts';

/** Real esbuild bundling of ONE function (run-batch) into a temp cloud assembly outside the repo. */
let outdir: string;
let assetDir: string;

function sizeOf(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((total, entry) => {
    const full = path.join(dir, entry.name);
    return total + (entry.isDirectory() ? sizeOf(full) : statSync(full).size);
  }, 0);
}

beforeAll(() => {
  outdir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bundle-'));
  const app = new App({ outdir, analyticsReporting: false });
  const stack = new Stack(app, 'BundlingProbe');
  new TwinflowFunction(stack, 'RunBatch', {
    entry: 'functions/run-batch/handler.ts',
    description: 'bundling probe',
    memorySize: 3008,
    timeout: Duration.minutes(15),
    defaults: {
      serviceName: 'twinflow',
      metricsNamespace: 'Twinflow',
      logLevel: 'INFO',
      logRetentionDays: 14,
      retainData: false,
    },
  });
  app.synth();
  const assets = readdirSync(outdir).filter((name) => name.startsWith('asset.'));
  expect(assets).toHaveLength(1);
  assetDir = path.join(outdir, assets[0]!);
}, 120_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

describe('Lambda bundle (esbuild, local, no Docker)', () => {
  it('is an ESM bundle that keeps DuckDB external and lets CJS dependencies require', () => {
    const bundle = readFileSync(path.join(assetDir, 'index.mjs'), 'utf8');

    expect(bundle.startsWith("import { createRequire as __twinflowCreateRequire } from 'node:module';")).toBe(
      true,
    );
    expect(bundle).toMatch(/from\s*"@duckdb\/node-api"/);
    expect(bundle).not.toContain('duckdb_open'); // the binding's code is not inlined
  });

  it('ships only the linux-x64 DuckDB binary, its loader and detect-libc', () => {
    const duckdb = readdirSync(path.join(assetDir, 'node_modules', '@duckdb')).sort();

    expect(duckdb).toEqual(['node-api', 'node-bindings', 'node-bindings-linux-x64']);
    expect(readdirSync(path.join(assetDir, 'node_modules')).sort()).toEqual(['@duckdb', 'detect-libc']);
    expect(existsSync(path.join(assetDir, 'node_modules/@duckdb/node-bindings-linux-x64/duckdb.node'))).toBe(
      true,
    );
    expect(existsSync(path.join(assetDir, 'node_modules/@duckdb/node-bindings-linux-x64/libduckdb.so'))).toBe(
      true,
    );
    expect(duckdb.filter((name) => /darwin|win32|arm64|musl/.test(name))).toEqual([]);
  });

  it('carries the dataset declarations and their SQL models next to the bundle', () => {
    expect(readdirSync(path.join(assetDir, 'datasets', 'orders')).sort()).toEqual(['dataset.yaml', 'models']);
    expect(readdirSync(path.join(assetDir, 'datasets', 'orders', 'models')).sort()).toEqual([
      'daily_sales.sql',
      'sales_minute.sql',
    ]);
  });

  it('packaged DuckDB loads and answers a query from the asset directory alone', () => {
    const script =
      "import { DuckDBInstance } from '@duckdb/node-api';" +
      'const db = await DuckDBInstance.create(":memory:"); const c = await db.connect();' +
      "const r = await c.runAndReadAll('select 40 + 2 as answer'); console.log(r.getRows()[0][0]);";
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: assetDir,
      encoding: 'utf8',
    });

    expect(output.trim()).toBe('42');
  });

  it('the bundled run-batch publishes a day from the asset directory alone (declarations and SQL found there)', () => {
    const lake = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bundle-lake-'));
    try {
      const landing = path.join(lake, 'landing', 'orders', 'dt=2026-11-20');
      mkdirSync(landing, { recursive: true });
      const order = (i: number) =>
        JSON.stringify({
          event_id: `e${i}`,
          order_id: `o${i % 3}`,
          user_id: 'u',
          product_id: 'p',
          quantity: 1,
          unit_price: '2.50',
          currency: 'USD',
          event_time: `2026-11-20T10:0${i}:00Z`,
        });
      writeFileSync(path.join(landing, 'orders.jsonl'), `${[0, 1, 2, 3, 4].map(order).join('\n')}\n`);
      const script =
        "const { handler } = await import('./index.mjs');" +
        "const r = await handler({ startDate: '2026-11-20', endDate: '2026-11-20' }, { functionName: 'probe', awsRequestId: 'r1', getRemainingTimeInMillis: () => 60000 });" +
        'console.log(JSON.stringify(r));';
      const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: assetDir,
        encoding: 'utf8',
        // The repository must not be reachable: only what the asset carries.
        env: {
          PATH: process.env['PATH'] ?? '',
          LAKE_DIR: lake,
          POWERTOOLS_LOG_LEVEL: 'ERROR',
          POWERTOOLS_METRICS_DISABLED: 'true',
          TMPDIR: os.tmpdir(),
        },
      });
      expect(JSON.parse(output.trim().split('\n').at(-1) ?? '{}')).toMatchObject({
        published: 1,
        days: [{ day: '2026-11-20', status: 'published' }],
      });
    } finally {
      rmSync(lake, { recursive: true, force: true });
    }
  });

  it('fits Lambda’s 250 MB unzipped limit (size reported)', () => {
    const bytes = sizeOf(assetDir);
    const bundleBytes = statSync(path.join(assetDir, 'index.mjs')).size;
    console.info(
      `run-batch asset: ${(bytes / 2 ** 20).toFixed(1)} MiB unzipped (index.mjs ${(bundleBytes / 2 ** 10).toFixed(0)} KiB)`,
    );

    expect(bytes).toBeLessThan(250 * 2 ** 20);
  });
});
