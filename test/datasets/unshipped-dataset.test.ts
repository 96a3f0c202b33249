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
    expect(JSON.parse(listed.stdout).map((d: { name: string }) => d.name)).toEqual([
      'clicks',
      'inventory',
      'orders',
      'stock_counts',
      'stock_moves',
    ]);
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
    expect(unknown.stderr).toMatch(
      /unknown dataset "stock_moves" \(declared: clicks, inventory, orders, stock_counts\)/,
    );
  });

  it('streams through replay and compaction, serves the same numbers before and after batch publishes, and reconciles per model with no deviation', async () => {
    // Prepare: the same movements as a stream (with a redelivered copy) and as the day's export.
    const env = { TWINFLOW_DATASETS_DIR: projectDatasets() };
    const data = tempDir();
    const lake = path.join(data, 'lake');
    const moves = Array.from({ length: 90 }, (_, i) => move(i));
    const stream = path.join(data, 'moves.jsonl');
    const lines = [...moves, moves[7], move(950, { warehouse_id: ['not', 'an', 'id'] })].map((m) =>
      JSON.stringify(m),
    );
    writeFileSync(stream, `${lines.join('\n')}\n`);
    const landing = path.join(lake, 'landing', 'stock_moves', 'dt=2026-11-20');
    mkdirSync(landing, { recursive: true });
    writeFileSync(path.join(landing, 'moves.jsonl'), `${moves.map((m) => JSON.stringify(m)).join('\n')}\n`);
    const query = (model: string, groupBy: string) =>
      twinflowWith(
        env,
        'query',
        '--model',
        model,
        '--start',
        '2026-11-20',
        '--granularity',
        'hour',
        '--group-by',
        groupBy,
        '--json',
        '--lake',
        lake,
      );
    const answer = (stdout: string) => {
      const body = JSON.parse(stdout);
      return {
        totals: body.totals,
        rows: body.rows,
        sources: body.segments.map((s: { source: string }) => s.source),
      };
    };
    const apiEvent = path.join(data, 'api.json');
    writeFileSync(
      apiEvent,
      JSON.stringify({
        version: '2.0',
        routeKey: 'GET /metrics/moves_by_type_minute',
        rawPath: '/metrics/moves_by_type_minute',
        rawQueryString: 'start=2026-11-20&granularity=day&group_by=movement_type',
        queryStringParameters: { start: '2026-11-20', granularity: 'day', group_by: 'movement_type' },
        requestContext: { http: { method: 'GET', path: '/metrics/moves_by_type_minute' } },
        isBase64Encoded: false,
      }),
    );

    // Act: stream, serve (realtime), batch, serve (batch), reconcile, ask the API the dashboard reads.
    const replay = await twinflowWith(
      env,
      'replay',
      '--dataset',
      'stock_moves',
      '--file',
      stream,
      '--json',
      '--lake',
      lake,
    );
    const realtime = [
      await query('moves_minute', 'warehouse_id'),
      await query('moves_by_type_minute', 'movement_type'),
    ];
    const batch = await twinflowWith(
      env,
      'batch',
      '--dataset',
      'stock_moves',
      '--date',
      '2026-11-20',
      '--lake',
      lake,
    );
    const published = [
      await query('moves_minute', 'warehouse_id'),
      await query('moves_by_type_minute', 'movement_type'),
    ];
    const reconcile = await twinflowWith(
      env,
      'reconcile',
      '--dataset',
      'stock_moves',
      '--now',
      '2026-11-21T03:00:00Z',
      '--json',
      '--lake',
      lake,
    );
    const api = await twinflowWith(env, 'invoke', 'query-sales', '--event', apiEvent, '--data', data);

    // Assess
    expect(replay.code, replay.stderr).toBe(0);
    const { totals, compaction } = JSON.parse(replay.stdout);
    expect(totals).toMatchObject({ received: 92, valid: 91, quarantined: 1, orders: 90 });
    expect(compaction.days).toEqual([
      expect.objectContaining({ dataset: 'stock_moves', day: '2026-11-20', orders: 90 }),
    ]);
    expect(batch.code, batch.stderr).toBe(0);
    for (const [i, r] of realtime.entries()) {
      const before = answer(r.stdout);
      const after = answer(published[i]?.stdout ?? '');
      expect(before.sources).toEqual(['realtime']);
      expect(after.sources).toEqual(['batch']);
      expect(before.totals).toEqual(after.totals);
      expect(before.rows).toEqual(after.rows);
    }
    expect(answer(published[1]?.stdout ?? '').totals).toMatchObject({ movements: 90, products: 3 });
    expect(reconcile.code, reconcile.stderr).toBe(0);
    const records = JSON.parse(reconcile.stdout) as {
      model: string;
      days: { day: string; after: { max_abs_deviation: string } }[];
    }[];
    expect(records.map((r) => r.model)).toEqual(['moves_minute', 'moves_by_type_minute']);
    for (const record of records) {
      expect(record.days.map((d) => [d.day, d.after.max_abs_deviation])).toEqual([
        ['2026-11-20', '0.000000'],
      ]);
    }
    expect(api.code, api.stderr).toBe(0);
    const response = JSON.parse(api.stdout);
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body).totals).toMatchObject({ movements: 90, products: 3 });
  }, 120_000);
});
