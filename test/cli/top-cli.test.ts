import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { twinflowWith } from '../support/cli.ts';
import { liveStockMovesLake } from '../support/live-stock-moves.ts';
import { useTempDirs } from '../support/temp-dir.ts';
import { projectDatasets } from './project-datasets.ts';

const tempDir = useTempDirs();
const datasets = mkdtempSync(path.join(os.tmpdir(), 'twinflow-top-cli-datasets-'));
/** A project declaring stock_moves (this process builds the lake with it, the CLI serves it). */
const env = { TWINFLOW_DATASETS_DIR: datasets };

beforeAll(() => {
  projectDatasets(datasets, ['stock_moves']);
  process.env['TWINFLOW_DATASETS_DIR'] = datasets;
});

afterAll(() => rmSync(datasets, { recursive: true, force: true }));

describe('twinflow top', () => {
  it('ranks a model over the last N minutes of a lake: --json is the route body, the default a table', async () => {
    // Prepare: a lake with movements around the wall clock.
    const lake = tempDir();
    const { expected, expectedNorth } = await liveStockMovesLake(lake);
    const top = (...args: string[]) =>
      twinflowWith(env, 'top', '--model', 'moves_minute', '--measure', 'movements', '--lake', lake, ...args);

    // Act
    const json = await top('--minutes', '15', '--limit', '10', '--json');
    const north = await top('--where', 'warehouse_id=w-north', '--limit', '2', '--json');
    const table = await top('--by', 'warehouse_id');

    // Assess
    expect(json.code, json.stderr).toBe(0);
    const body = JSON.parse(json.stdout);
    expect(expected.map(([product]) => product)).toEqual(['p-hot', 'p-cool', 'p-warm']);
    expect(
      body.top.map((r: { product_id: string; movements: number }) => [r.product_id, r.movements]),
    ).toEqual(expected);
    expect(body).toMatchObject({ model: 'moves_minute', measure: 'movements', minutes: 15, limit: 10 });
    expect(body.segments.map((s: { source: string }) => s.source)).toEqual(['realtime']);
    expect(Date.parse(body.end) - Date.parse(body.start)).toBe(15 * 60_000);
    expect(north.code, north.stderr).toBe(0);
    expect(JSON.parse(north.stdout).top.map((r: { product_id: string }) => r.product_id)).toEqual(
      expectedNorth.slice(0, 2).map(([product]) => product),
    );
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.split('\n');
    expect(lines[0]).toBe(
      'moves_minute (dataset stock_moves): top 10 warehouse_id by movements, last 15 minutes',
    );
    expect(lines[2]?.trim().split(/\s+/)).toEqual(['rank', 'warehouse_id', 'movements', 'net_change']);
    expect(lines[4]?.trim().split(/\s+/).slice(0, 3)).toEqual(['1', 'w-north', '5']);
    expect(lines[5]?.trim().split(/\s+/).slice(0, 3)).toEqual(['2', 'w-south', '3']);
  });

  it.each([
    [
      ['--model', 'moves_minute', '--measure', 'nope'],
      /moves_minute has no measure "nope" \(measures: movements, net_change\)/,
    ],
    [
      ['--model', 'moves_minute', '--measure', 'movements', '--minutes', '0'],
      /minutes must be a whole number 1\.\.1440/,
    ],
    [
      ['--model', 'moves_minute', '--measure', 'movements', '--limit', '101'],
      /limit must be a whole number 1\.\.100/,
    ],
    [
      ['--model', 'moves_minute', '--measure', 'movements', '--where', 'limit=3'],
      /--where limit: use --limit/,
    ],
    [
      ['--model', 'sales_minute', '--measure', 'revenue'],
      /revenue is money and ranks only within one currency: add currency=/,
    ],
    [
      ['--model', 'nope', '--measure', 'movements'],
      /unknown model "nope" \(declared: funnel_minute, sessions_minute, stock_movements_minute, sales_minute, stock_counts_minute, moves_minute, moves_by_type_minute\)/,
    ],
  ])('%j exits 2 saying why', async (args, message) => {
    const result = await twinflowWith(env, 'top', ...args, '--lake', tempDir());
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});
