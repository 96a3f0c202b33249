import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { datasetsDir } from '../../functions/pipeline/datasets.ts';
import { twinflowWith } from '../support/cli.ts';
import { useTempDirs } from '../support/temp-dir.ts';

const tempDir = useTempDirs();

/** A project copy's datasets/: the shipped ones plus a fixture folder, no TypeScript. */
function projectDatasets(): string {
  const dir = tempDir();
  cpSync(datasetsDir(), dir, { recursive: true });
  cpSync(path.join(import.meta.dirname, 'fixtures', 'stock_moves'), path.join(dir, 'stock_moves'), {
    recursive: true,
  });
  return dir;
}

const move = (i: number, overrides: Record<string, unknown> = {}) => ({
  movement_id: `m${i}`,
  product_id: `p${i % 3}`,
  warehouse_id: i % 2 === 0 ? 'w-north' : 'w-south',
  movement_type: ['receipt', 'sale', 'return', 'adjustment'][i % 4],
  quantity: i % 4 === 3 ? -(i % 5) - 1 : (i % 7) + 1,
  event_time: `2026-11-20T${String(8 + (i % 10)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}:00Z`,
  ...overrides,
});

describe('a dataset the repository does not ship, declared in a folder', () => {
  it('is listed, batched from its landing folder with its own validation, dedup and index, and served by model', async () => {
    // Prepare: 120 valid movements, a producer retry of one (later copy), two invalid ones.
    const env = { TWINFLOW_DATASETS_DIR: projectDatasets() };
    const lake = tempDir();
    const moves = Array.from({ length: 120 }, (_, i) => move(i));
    const records = [
      ...moves,
      { ...moves[5], event_time: '2026-11-20T23:00:00Z' },
      move(900, { movement_type: 'theft' }),
      move(901, { quantity: 'lots' }),
    ];
    const landing = path.join(lake, 'landing', 'stock_moves', 'dt=2026-11-20');
    mkdirSync(landing, { recursive: true });
    writeFileSync(path.join(landing, 'moves.jsonl'), `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);

    // Act
    const listed = await twinflowWith(env, 'datasets', '--json');
    const batch = await twinflowWith(
      env,
      'batch',
      '--dataset',
      'stock_moves',
      '--date',
      '2026-11-20',
      '--json',
      '--lake',
      lake,
    );
    const query = await twinflowWith(
      env,
      'query',
      '--model',
      'moves_minute',
      '--start',
      '2026-11-20',
      '--granularity',
      'day',
      '--group-by',
      'warehouse_id',
      '--json',
      '--lake',
      lake,
    );

    // Assess
    expect(JSON.parse(listed.stdout).map((d: { name: string }) => d.name)).toEqual(['orders', 'stock_moves']);
    expect(batch.code, batch.stderr).toBe(0);
    const report = JSON.parse(batch.stdout).outcomes[0].report;
    expect(report.counts).toEqual({ received: 123, valid: 121, quarantined: 2, duplicates: 1, orders: 120 });
    expect(report.topReasons.map((r: { reason: string }) => r.reason).sort()).toEqual([
      'movement_type: not one of receipt, sale, return, adjustment',
      'quantity: not a whole number (or more than 9 digits)',
    ]);
    expect(report.quarantineKey).toMatch(/^quarantine\/stock_moves\/dt=2026-11-20\//);
    expect(query.code, query.stderr).toBe(0);
    const body = JSON.parse(query.stdout);
    const net = (list: typeof moves) =>
      list.reduce(
        (sum, m) => sum + (m.movement_type === 'sale' ? -Number(m.quantity) : Number(m.quantity)),
        0,
      );
    expect(body.totals).toEqual({ movements: 120, net_change: net(moves) });
    expect(body.rows.map((r: { warehouse_id: string }) => r.warehouse_id).sort()).toEqual([
      'w-north',
      'w-south',
    ]);
    expect(body.rows.find((r: { warehouse_id: string }) => r.warehouse_id === 'w-north').net_change).toBe(
      net(moves.filter((m) => m.warehouse_id === 'w-north')),
    );
    expect(body.segments).toEqual([
      { start: '2026-11-20T00:00:00.000Z', end: '2026-11-21T00:00:00.000Z', source: 'batch' },
    ]);
    // Its own publish index; orders has none.
    const orders = await twinflowWith(env, 'query', '--start', '2026-11-20', '--json', '--lake', lake);
    expect(JSON.parse(orders.stdout).batch_boundary).toBeNull();
    const unknown = await twinflowWith(
      {},
      'batch',
      '--dataset',
      'stock_moves',
      '--date',
      '2026-11-20',
      '--lake',
      lake,
    );
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown dataset "stock_moves" \(declared: orders\)/);
  });
});
