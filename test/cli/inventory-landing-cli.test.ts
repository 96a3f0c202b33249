import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { twinflow } from '../support/cli.ts';
import { readmeLakeCommands } from '../support/readme.ts';
import { useTempDirs } from '../support/temp-dir.ts';

/**
 * The shipped inventory datasets from the command line: the generator fills inventory's quantity as its declaration
 * says (`positive` unless an adjustment), so batch quarantines only what was made malformed on purpose; and the
 * batch-only stock_counts is published and served like any model. The README's section runs as written.
 */

const tempDir = useTempDirs();
const DAY = '2026-11-20';
const DEMO_LAKE = '.twinflow/inventory-demo';

async function ok(...args: string[]) {
  const result = await twinflow(...args);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout);
}

interface Movement {
  movement_type: string;
  quantity: number;
}

function exported(lake: string, key: string): Movement[] {
  return readFileSync(path.join(lake, key), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Movement);
}

/** stock_movements_minute's totals, computed from the movements themselves. */
function movementTotals(movements: readonly Movement[]) {
  const sum = (type: string) =>
    movements.filter((m) => m.movement_type === type).reduce((total, m) => total + m.quantity, 0);
  const [received, sold, returned, adjusted] = ['receipt', 'sale', 'return', 'adjustment'].map(sum) as [
    number,
    number,
    number,
    number,
  ];
  return { received, sold, returned, adjusted, net_change: received + returned + adjusted - sold };
}

describe('twinflow generate-landing --dataset inventory, then batch', () => {
  it('quarantines nothing: every quantity honours positive (1 or more unless an adjustment)', async () => {
    // Prepare
    const lake = tempDir();

    // Act
    const generated = await ok(
      ...['generate-landing', '--dataset', 'inventory', '--date', DAY, '--events', '2000'],
      ...['--format', 'jsonl', '--json', '--lake', lake],
    );
    const batch = await ok('batch', '--dataset', 'inventory', '--date', DAY, '--json', '--lake', lake);
    const query = await ok(
      ...['query', '--model', 'stock_movements_minute', '--start', DAY, '--granularity', 'day'],
      ...['--json', '--lake', lake],
    );

    // Assess
    const outcome = batch.outcomes[0];
    expect(outcome.status).toBe('published');
    expect(outcome.report.counts).toEqual({
      received: 2000,
      valid: 2000,
      quarantined: 0,
      duplicates: 0,
      orders: 2000,
    });
    const movements = exported(lake, generated.key);
    const quantities = (adjustment: boolean) =>
      movements.filter((m) => (m.movement_type === 'adjustment') === adjustment).map((m) => m.quantity);
    expect(Math.min(...quantities(false))).toBeGreaterThanOrEqual(1);
    expect(quantities(true).some((q) => q < 0)).toBe(true);
    expect(query.totals).toEqual(movementTotals(movements));
  });

  it('--malformed: quarantines exactly the malformed rows, one reason each, some of them the positive rule', async () => {
    // Prepare
    const lake = tempDir();

    // Act
    const generated = await ok(
      ...['generate-landing', '--dataset', 'inventory', '--date', DAY, '--events', '2000'],
      ...['--malformed', '0.04', '--json', '--lake', lake],
    );
    const batch = await ok('batch', '--dataset', 'inventory', '--date', DAY, '--json', '--lake', lake);

    // Assess
    const { status, report } = batch.outcomes[0];
    expect(generated.malformed).toBe(80);
    expect(status).toBe('published');
    expect(report.counts).toEqual({
      received: 2000,
      valid: 1920,
      quarantined: 80,
      duplicates: 0,
      orders: 1920,
    });
    const reasons = readFileSync(path.join(lake, report.quarantineKey), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line).reasons as string[]);
    expect(reasons.map((r) => r.length)).toEqual(Array(80).fill(1));
    expect(reasons.flat()).toContain('quantity: must be greater than 0 unless movement_type is adjustment');
  });
});

describe('twinflow generate-landing --dataset stock_counts, then batch (batch only)', () => {
  it('publishes the counts, a producer retry once, and serves stock_counts_minute', async () => {
    // Prepare
    const lake = tempDir();

    // Act
    const generated = await ok(
      ...['generate-landing', '--dataset', 'stock_counts', '--date', DAY, '--events', '500'],
      ...['--duplicates', '0.02', '--format', 'csv', '--json', '--lake', lake],
    );
    const batch = await ok('batch', '--dataset', 'stock_counts', '--date', DAY, '--json', '--lake', lake);
    const query = await ok(
      ...['query', '--model', 'stock_counts_minute', '--start', DAY, '--granularity', 'day'],
      ...['--json', '--lake', lake],
    );

    // Assess
    const { status, report } = batch.outcomes[0];
    expect(status).toBe('published');
    expect(generated.duplicates).toBe(10);
    expect(report.counts).toEqual({
      received: 500,
      valid: 500,
      quarantined: 0,
      duplicates: 10,
      orders: 490,
    });
    expect(query.totals.counts).toBe(490);
    expect(query.totals.counted_units).toBeGreaterThan(0);
  });
});

describe('twinflow generate-landing --days 2 for inventory and stock_counts: the realistic generators', () => {
  it('batches both with nothing quarantined, and each count follows the movements since the last one', async () => {
    // Prepare
    const lake = tempDir();
    const days = ['2026-11-20', '2026-11-21'] as const;

    // Act
    const movements = await ok(
      ...['generate-landing', '--dataset', 'inventory', '--date', DAY, '--days', '2', '--events', '2000'],
      ...['--format', 'jsonl', '--json', '--lake', lake],
    );
    const counts = await ok(
      ...['generate-landing', '--dataset', 'stock_counts', '--date', DAY, '--days', '2', '--events', '600'],
      ...['--format', 'jsonl', '--json', '--lake', lake],
    );
    const range = ['--start-date', days[0], '--end-date', days[1], '--json', '--lake', lake];
    const batches = [
      await ok('batch', '--dataset', 'inventory', ...range),
      await ok('batch', '--dataset', 'stock_counts', ...range),
    ];

    // Assess
    for (const batch of batches) {
      expect(batch.outcomes.map((o: { status: string }) => o.status)).toEqual(['published', 'published']);
      for (const outcome of batch.outcomes) expect(outcome.report.counts.quarantined).toBe(0);
    }
    const rows = (written: { key: string }[]) =>
      written.flatMap((w) =>
        readFileSync(path.join(lake, w.key), 'utf8')
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line)),
      );
    const moved = rows(movements) as (Movement & {
      product_id: string;
      warehouse_id: string;
      event_time: string;
      reference?: string;
    })[];
    const types = new Set(moved.map((m) => m.movement_type));
    expect(types).toEqual(new Set(['sale', 'receipt', 'return', 'adjustment']));
    expect(moved.filter((m) => m.movement_type === 'sale').every((m) => m.reference?.startsWith('o-'))).toBe(
      true,
    );
    const counted = rows(counts) as {
      product_id: string;
      warehouse_id: string;
      on_hand: number;
      counted_at: string;
    }[];
    expect(counted.length).toBe(1200);
    // Between a pair's two counts, the stock moves by the movements between them, less a unit or two of shrinkage.
    const pair = (r: { product_id: string; warehouse_id: string }) => `${r.product_id}/${r.warehouse_id}`;
    const differences: number[] = [];
    for (const first of counted.filter((c) => c.counted_at.startsWith(days[0]))) {
      const second = counted.find((c) => pair(c) === pair(first) && c.counted_at.startsWith(days[1]));
      const net = moved
        .filter(
          (m) =>
            pair(m) === pair(first) &&
            m.event_time >= first.counted_at &&
            m.event_time < (second?.counted_at ?? ''),
        )
        .reduce((sum, m) => sum + (m.movement_type === 'sale' ? -m.quantity : m.quantity), 0);
      differences.push((second?.on_hand ?? Number.NaN) - first.on_hand - net);
    }
    expect(differences.length).toBe(600);
    expect(differences.every((d) => d === 0 || d === -1 || d === -2)).toBe(true);
    expect(differences.filter((d) => d !== 0).length).toBeGreaterThan(0);
  });
});

describe("README's inventory datasets section", () => {
  it('runs as written: movements batched with the malformed ones quarantined, queried, then a day of counts', async () => {
    // Prepare
    const lake = tempDir();
    const commands = readmeLakeCommands('## The inventory datasets', DEMO_LAKE, lake);
    expect(commands.map((args) => args.slice(0, 2).join(' '))).toEqual([
      'generate-landing --dataset',
      'batch --dataset',
      'query --model',
      'quarantine list',
      'generate-landing --dataset',
      'batch --dataset',
      'query --model',
    ]);

    // Act
    const results = [];
    for (const args of commands) results.push(await twinflow(...args));

    // Assess
    for (const [i, result] of results.entries())
      expect(result.code, `${commands[i]}: ${result.stderr}`).toBe(0);
    const out = results.map((r) => r.stdout);
    expect(out[1]).toContain('[1/1] published: 2026-11-20: 1960 inventory, 40 quarantined');
    expect(out[2]).toMatch(/received\s+sold\s+returned\s+adjusted\s+net_change/);
    expect(out[3]).toContain('quantity: must be greater than 0 unless movement_type is adjustment');
    expect(out[5]).toContain('[1/1] published: 2026-11-20: 500 stock_counts, 0 quarantined');
    expect(out[6]).toMatch(/counts\s+counted_units/);
  });
});
