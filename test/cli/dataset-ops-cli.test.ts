import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StreamQuarantineRecord } from '../../functions/stream/micro-batch.ts';
import { twinflowWith } from '../support/cli.ts';
import { useTempDirs } from '../support/temp-dir.ts';
import { projectDatasets } from './project-datasets.ts';

const tempDir = useTempDirs();

/** orders, stock_moves (stream+batch) and cycle_counts (batch only), declared in a project copy. */
function projectEnv() {
  return { TWINFLOW_DATASETS_DIR: projectDatasets(tempDir(), ['stock_moves', 'cycle_counts']) };
}

const DECLARED = /\(declared: clicks, cycle_counts, inventory, orders, stock_counts, stock_moves\)/;

const move = (id: string, overrides: Record<string, unknown> = {}) => ({
  movement_id: id,
  product_id: 'p1',
  warehouse_id: 'w-north',
  movement_type: 'receipt',
  quantity: 5,
  event_time: '2026-11-20T10:00:00Z',
  ...overrides,
});

/** Stream quarantine lines as the consumer writes them, under `quarantine/<dataset>/dt=D/<batch>.jsonl`. */
function writeStreamQuarantine(
  lake: string,
  dataset: string,
  batchId: string,
  records: { messageId: string; body: unknown; reasons: string[] }[],
) {
  const dir = path.join(lake, 'quarantine', dataset, 'dt=2026-11-20');
  mkdirSync(dir, { recursive: true });
  const lines = records.map((r) => {
    const line: StreamQuarantineRecord = {
      record_ref: r.messageId,
      source: 'stream',
      reasons: r.reasons,
      raw: typeof r.body === 'string' ? r.body : JSON.stringify(r.body),
      quarantined_at: '2026-11-20T10:00:05.000Z',
      message_id: r.messageId,
      batch_id: batchId,
      sent_at: '2026-11-20T10:00:01.000Z',
      receive_count: 1,
    };
    return JSON.stringify(line);
  });
  writeFileSync(path.join(dir, `${batchId}.jsonl`), `${lines.join('\n')}\n`);
}

describe('operator commands take --dataset (default orders)', () => {
  it.each([
    [['replay', '--file', 'events/orders.jsonl']],
    [['quarantine', 'list']],
    [['quarantine', 'replay']],
    [['dlq', 'stats']],
    [['dlq', 'peek']],
    [['dlq', 'redrive']],
  ])('%j --dataset nope names it and the declared datasets', async (command) => {
    const lake = tempDir();
    const result = await twinflowWith(
      { ...projectEnv(), ORDERS_DLQ_URL: 'http://127.0.0.1:9/1/orders-dlq' },
      ...command,
      '--dataset',
      'nope',
      ...(command[0] === 'dlq' ? [] : ['--lake', lake]),
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--dataset: unknown dataset "nope"/);
    expect(result.stderr).toMatch(DECLARED);
    expect(readdirSync(lake)).toEqual([]);
  });

  it.each([
    [['replay', '--file', 'events/orders.jsonl'], 'stream to replay into'],
    [['quarantine', 'replay'], 'stream records to re-ingest (fix the export and re-run batch)'],
    [['dlq', 'stats'], 'dead-letter queue'],
    [['dlq', 'peek', '--queue-url', 'http://127.0.0.1:9/1/q'], 'dead-letter queue'],
    [['dlq', 'redrive'], 'dead-letter queue'],
  ])('%j on a batch-only dataset says it has no stream', async (command, what) => {
    const lake = tempDir();
    const result = await twinflowWith(
      projectEnv(),
      ...command,
      '--dataset',
      'cycle_counts',
      ...(command[0] === 'dlq' ? [] : ['--lake', lake]),
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `dataset "cycle_counts" has no stream (source: batch), so it has no ${what}`,
    );
    expect(readdirSync(lake)).toEqual([]);
  });

  it("quarantine list reads the dataset's own quarantine: a batch-only dataset's rejected export rows too", async () => {
    // Prepare: a cycle_counts export with malformed rows, batched; a stock_moves and an orders stream quarantine.
    const env = projectEnv();
    const lake = tempDir();
    const generate = await twinflowWith(
      env,
      ...['generate-landing', '--dataset', 'cycle_counts', '--date', '2026-11-20', '--events', '200'],
      ...['--malformed', '0.04', '--lake', lake],
    );
    expect(generate.code, generate.stderr).toBe(0);
    expect(
      (await twinflowWith(env, 'batch', '--dataset', 'cycle_counts', '--date', '2026-11-20', '--lake', lake))
        .code,
    ).toBe(0);
    writeStreamQuarantine(lake, 'stock_moves', 'b-moves', [
      { messageId: 'm-1', body: move('mv-1', { movement_type: 'theft' }), reasons: ['movement_type: …'] },
    ]);
    writeStreamQuarantine(lake, 'orders', 'b-orders', [
      { messageId: 'o-1', body: '{"order_id": broken', reasons: ['record: not valid JSON'] },
    ]);

    // Act
    const counts = await twinflowWith(env, 'quarantine', 'list', '--dataset', 'cycle_counts', '--lake', lake);
    const moves = await twinflowWith(
      env,
      'quarantine',
      'list',
      '--dataset',
      'stock_moves',
      '--json',
      '--lake',
      lake,
    );
    const orders = await twinflowWith(env, 'quarantine', 'list', '--lake', lake);

    // Assess
    expect(counts.code, counts.stderr).toBe(0);
    expect(counts.stdout).toMatch(/\b8 quarantined record\(s\) of cycle_counts in /);
    expect(
      moves.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).message_id),
    ).toEqual(['m-1']);
    expect(orders.stdout).toMatch(/\b1 quarantined record\(s\) of orders in /);
    expect(orders.stdout).toContain('o-1');
  });

  it("quarantine replay revalidates under the dataset's own declaration", async () => {
    // Prepare: two quarantined stock_moves messages; one was fixed (now valid under stock_moves, never as an
    // order), one is still invalid.
    const env = projectEnv();
    const lake = tempDir();
    writeStreamQuarantine(lake, 'stock_moves', 'b-moves', [
      { messageId: 'm-fixed', body: move('mv-fixed'), reasons: ['movement_type: …'] },
      { messageId: 'm-bad', body: move('mv-bad', { quantity: 'lots' }), reasons: ['quantity: …'] },
    ]);

    // Act
    const replay = await twinflowWith(
      env,
      'quarantine',
      'replay',
      '--dataset',
      'stock_moves',
      '--lake',
      lake,
    );

    // Assess
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toMatch(/ from 1 now-valid record\(s\)/);
    expect(replay.stdout).toMatch(/1 record\(s\) still invalid/);
  });

  it("quarantine replay re-ingests a dataset's now-valid records through its own consumer", async () => {
    const env = projectEnv();
    const lake = tempDir();
    writeStreamQuarantine(lake, 'stock_moves', 'b-moves', [
      { messageId: 'm-fixed', body: move('mv-fixed'), reasons: ['movement_type: …'] },
    ]);

    const replay = await twinflowWith(
      env,
      'quarantine',
      'replay',
      '--dataset',
      'stock_moves',
      '--lake',
      lake,
    );

    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toMatch(/re-ingested 1 event\(s\) from 1 now-valid record\(s\)/);
    expect(replay.stdout).toMatch(/removed 1 replayed record\(s\) from quarantine/);
    // Re-ingested as a stock move, not quarantined again as an order.
    expect(existsSync(path.join(lake, 'quarantine', 'orders'))).toBe(false);
  });

  it("replay --dataset runs generated events through the dataset's consumer: all valid, retries counted once", async () => {
    // Prepare: a day of generated stock moves with 10 % producer retries, as a .jsonl file.
    const env = projectEnv();
    const lake = tempDir();
    const exportLake = tempDir();
    const generated = await twinflowWith(
      env,
      ...['generate-landing', '--dataset', 'stock_moves', '--date', '2026-11-20', '--events', '300'],
      ...['--duplicates', '0.1', '--format', 'jsonl', '--json', '--lake', exportLake],
    );
    expect(generated.code, generated.stderr).toBe(0);
    const file = path.join(exportLake, JSON.parse(generated.stdout).key);

    // Act
    const replay = await twinflowWith(
      env,
      ...['replay', '--dataset', 'stock_moves', '--file', file, '--batch-size', '1000', '--json'],
      ...['--lake', lake],
    );

    // Assess: one micro-batch of 300, so its in-batch dedup sees every retry.
    expect(replay.code, replay.stderr).toBe(0);
    const { totals } = JSON.parse(replay.stdout);
    expect(totals).toMatchObject({
      received: 300,
      valid: 300,
      quarantined: 0,
      duplicates: 30,
      orders: 270,
    });
    expect(existsSync(path.join(lake, 'quarantine', 'orders'))).toBe(false);
  });
});
