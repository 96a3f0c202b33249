import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RuleAlert } from '../../functions/alerts/rules.ts';
import { twinflow } from '../support/cli.ts';
import { useTempDirs } from '../support/temp-dir.ts';

/**
 * events/sqs-inventory.json through the inventory ingest function as an operator runs it (`twinflow invoke
 * ingest-inventory`), on a lake with a count of p-1 in wh-1 (10 units at 04:00) and its reorder point (5): two sales
 * (3, then 4 units, its producer retry counted once) take the level to 3, below the point, so the function raises
 * one low_stock alert in the lake; a sale of -2 is quarantined. The batch redelivered, and the scheduled
 * evaluate-alerts (events/scheduled-alerts.json) after it, raise nothing more; `twinflow stock` serves the level.
 */
const tempDir = useTempDirs();
const DAY = '2026-11-21';

async function ok(...args: string[]): Promise<string> {
  const result = await twinflow(...args);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout;
}

function lakeAlerts(lake: string): RuleAlert[] {
  const root = path.join(lake, 'alerts');
  let days: string[] = [];
  try {
    days = readdirSync(root);
  } catch {
    return [];
  }
  return days.flatMap((day) =>
    readdirSync(path.join(root, day)).map(
      (file) => JSON.parse(readFileSync(path.join(root, day, file), 'utf8')) as RuleAlert,
    ),
  );
}

describe('ingest-inventory and evaluate-alerts (events/sqs-inventory.json, events/scheduled-alerts.json)', () => {
  it('raises one low-stock alert on the crossing, none on a redelivery or the scheduled evaluation', async () => {
    // Arrange
    const data = tempDir();
    const lake = path.join(data, 'lake');
    const landing = path.join(lake, 'landing', 'stock_counts', `dt=${DAY}`);
    mkdirSync(landing, { recursive: true });
    writeFileSync(
      path.join(landing, 'counts.jsonl'),
      `${JSON.stringify({ product_id: 'p-1', warehouse_id: 'wh-1', on_hand: 10, counted_at: `${DAY}T04:00:00Z` })}\n`,
    );
    await ok('batch', '--dataset', 'stock_counts', '--date', DAY, '--force', '--lake', lake);
    mkdirSync(path.join(lake, 'tables'), { recursive: true });
    writeFileSync(
      path.join(lake, 'tables', 'reorder_points.csv'),
      'product_id,warehouse_id,reorder_point\np-1,wh-1,5\n',
    );

    // Act
    const response = JSON.parse(
      await ok('invoke', 'ingest-inventory', '--event', 'events/sqs-inventory.json', '--data', data),
    );
    const afterBatch = lakeAlerts(lake);
    await ok('invoke', 'ingest-inventory', '--event', 'events/sqs-inventory.json', '--data', data);
    const scheduled = JSON.parse(
      await ok('invoke', 'evaluate-alerts', '--event', 'events/scheduled-alerts.json', '--data', data),
    );
    const stock = JSON.parse(await ok('stock', '--product-id', 'p-1', '--json', '--lake', lake));

    // Assess
    expect(response).toEqual({ batchItemFailures: [] });
    expect(afterBatch).toHaveLength(1);
    expect(afterBatch[0]).toMatchObject({
      kind: 'rule',
      rule: 'low_stock',
      where: { product_id: 'p-1', warehouse_id: 'wh-1' },
      value: 3,
      threshold: 5,
      condition: 'below',
      resolved_at: null,
    });
    // The scheduled run evaluates every rule: no new low_stock alert; orders' slow_sales_hour fires (no sales).
    const all = lakeAlerts(lake);
    expect(all.filter((a) => a.rule === 'low_stock')).toEqual(afterBatch);
    expect(all.filter((a) => a.rule !== 'low_stock').map((a) => a.rule)).toEqual(['slow_sales_hour']);
    expect(scheduled.rules).toContainEqual({
      rule: 'low_stock',
      keys: 1,
      firing: 1,
      raised: [],
      resolved: [],
    });
    expect(stock.levels).toEqual([
      expect.objectContaining({
        product_id: 'p-1',
        warehouse_id: 'wh-1',
        on_hand: 3,
        reorder_point: 5,
        below_threshold: true,
        opening: { source: 'stock_counts', at: `${DAY}T04:00:00.000Z`, on_hand: 10 },
      }),
    ]);
  });
});
