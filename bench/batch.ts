/**
 * Batch benchmark: N orders for one day → views, end to end through the object store (local directory lake),
 * next to raw DuckDB running the same aggregation over the same Parquet file in the same run (our overhead).
 *   npx tsx bench/batch.ts [--orders 100000,1000000] [--out bench/results/batch.json]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runBatchDay } from '../functions/batch/run-batch-day.ts';
import { sqlPath, withConnection } from '../functions/pipeline/duckdb-session.ts';
import { LocalDirectoryStore } from '../functions/pipeline/local-directory-store.ts';
import { silentLog } from '../functions/pipeline/ports.ts';
import { writeLandingExport } from '../local/landing-export.ts';

const DAY = '2026-11-20';
const SPEC_MS = 5 * 60_000;

export interface BatchFigure {
  orders: number;
  endToEndMs: number;
  ordersPerSecond: number;
  rawDuckdbMs: number;
  overheadRatio: number;
  specMs: number;
  command: string;
}

async function rawDuckdb(file: string): Promise<number> {
  const t0 = performance.now();
  await withConnection(async (connection) => {
    await connection.run(
      `create temp table r as
       select time_bucket(interval 1 minute, event_time::timestamp) as window_start, product_id,
              count(*) as orders, sum(quantity) as units, sum(quantity * unit_price)::decimal(18,2) as revenue
       from (select * from read_parquet(${sqlPath(file)}) qualify row_number() over (partition by order_id order by event_time) = 1)
       group by all`,
    );
  });
  return performance.now() - t0;
}

export async function benchBatch(counts: number[]): Promise<BatchFigure[]> {
  const figures: BatchFigure[] = [];
  for (const orders of counts) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bench-batch-'));
    try {
      const store = new LocalDirectoryStore(dir);
      const { key } = await writeLandingExport({ day: DAY, orders, seed: 1 }, store);
      const raw = await rawDuckdb(path.join(dir, key));
      const t0 = performance.now();
      const report = await runBatchDay({ day: DAY }, { store, clock: () => new Date(), log: silentLog });
      const endToEndMs = performance.now() - t0;
      if (report.counts.orders !== orders)
        throw new Error(`expected ${orders} orders, got ${report.counts.orders}`);
      figures.push({
        orders,
        endToEndMs: Math.round(endToEndMs),
        ordersPerSecond: Math.round(orders / (endToEndMs / 1000)),
        rawDuckdbMs: Math.round(raw),
        overheadRatio: Number((endToEndMs / raw).toFixed(2)),
        specMs: SPEC_MS,
        command: `npx tsx bench/batch.ts --orders ${orders}`,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return figures;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      orders: { type: 'string', default: '100000,1000000' },
      out: { type: 'string', default: 'bench/results/batch.json' },
    },
  });
  const counts = (values.orders ?? '').split(',').map(Number);
  const figures = await benchBatch(counts);
  console.table(
    figures.map((f) => ({
      orders: f.orders,
      'end to end ms': f.endToEndMs,
      'orders/s': f.ordersPerSecond,
      'raw DuckDB ms': f.rawDuckdbMs,
      'ours / raw': f.overheadRatio,
      'spec ms': f.specMs,
    })),
  );
  mkdirSync(path.dirname(values.out ?? ''), { recursive: true });
  writeFileSync(
    values.out ?? '',
    `${JSON.stringify({ measuredAt: new Date().toISOString(), figures }, null, 2)}\n`,
  );
}
