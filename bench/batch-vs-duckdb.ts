/**
 * Batch efficiency (issue 18): the same day's CSV export of N orders through Twinflow's batch (`runBatchDay`, end to
 * end through the local lake: validate, quarantine, dedupe, facts, every model, Parquet views, publish) and through
 * raw DuckDB doing the same job by hand in one connection (parse the CSV, validate the declared fields, dedupe by
 * order_id keeping the earliest event, minute and daily facts, Parquet out). Measured in one process, one after the
 * other, as a ratio; Twinflow's run report splits its time into load, transform, write and publish.
 *
 *   npx tsx bench/batch-vs-duckdb.ts [--orders 1000000,10000000] [--out bench/results/batch-vs-duckdb.json]
 *
 * Polars (`nodejs-polars`) is not measured here yet.
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

/** The hand-written job: what Twinflow's batch computes for orders, without its engine. */
async function rawDuckdb(csv: string, outDir: string): Promise<{ ms: number; valid: number }> {
  const t0 = performance.now();
  let valid = 0;
  await withConnection(async (connection) => {
    await connection.run(
      `create temp table raw as select * from read_csv(${sqlPath(csv)}, header = true, all_varchar = true)`,
    );
    await connection.run(
      `create temp table typed as
       select order_id, user_id, product_id,
              try_cast(quantity as bigint) as quantity,
              try_cast(unit_price as decimal(18, 2)) as unit_price,
              coalesce(nullif(currency, ''), 'USD') as currency,
              try_cast(event_time as timestamptz) as event_time
       from raw`,
    );
    await connection.run(
      `create temp table facts as
       select * from typed
       where order_id is not null and user_id is not null and product_id is not null
         and quantity between 1 and 100000 and unit_price between 0 and 1000000
         and regexp_full_match(currency, '[A-Z]{3}') and event_time is not null
       qualify row_number() over (partition by order_id order by event_time, user_id, product_id) = 1`,
    );
    await connection.run(
      `copy (select time_bucket(interval 1 minute, event_time) as window_start, product_id, currency,
                    count(*)::bigint as orders, sum(quantity)::bigint as units,
                    sum(quantity * unit_price)::decimal(38, 2) as revenue
             from facts group by all)
       to ${sqlPath(path.join(outDir, 'sales_minute.parquet'))} (format parquet)`,
    );
    await connection.run(
      `copy (select event_time::date as day, product_id, currency, count(*)::bigint as orders,
                    sum(quantity)::bigint as units, sum(quantity * unit_price)::decimal(38, 2) as revenue
             from facts group by all)
       to ${sqlPath(path.join(outDir, 'daily_sales.parquet'))} (format parquet)`,
    );
    await connection.run(
      `copy facts to ${sqlPath(path.join(outDir, 'order_facts.parquet'))} (format parquet)`,
    );
    valid = Number((await connection.runAndReadAll('select count(*) from facts')).getRows()[0]?.[0] ?? 0);
  });
  return { ms: performance.now() - t0, valid };
}

const { values } = parseArgs({
  options: {
    orders: { type: 'string', default: '1000000' },
    out: { type: 'string', default: 'bench/results/batch-vs-duckdb.json' },
  },
});
const figures = [];
for (const orders of (values.orders ?? '').split(',').map(Number)) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bench-vs-duckdb-'));
  try {
    const store = new LocalDirectoryStore(dir);
    const { key } = await writeLandingExport({ day: DAY, orders, seed: 1, format: 'csv' }, store);
    const raw = await rawDuckdb(path.join(dir, key), mkdtempSync(path.join(dir, 'raw-')));
    const t0 = performance.now();
    const report = await runBatchDay({ day: DAY }, { store, clock: () => new Date(), log: silentLog });
    const twinflowMs = performance.now() - t0;
    if (report.status !== 'published') throw new Error(`batch ${report.status}: ${report.error}`);
    if (report.counts.orders !== raw.valid) {
      throw new Error(
        `the two jobs disagree: Twinflow ${report.counts.orders} orders, raw DuckDB ${raw.valid}`,
      );
    }
    figures.push({
      orders,
      twinflowMs: Math.round(twinflowMs),
      rawDuckdbMs: Math.round(raw.ms),
      ratio: Number((twinflowMs / raw.ms).toFixed(2)),
      twinflowDurationsMs: Object.fromEntries(
        Object.entries(report.durationsMs).map(([phase, ms]) => [phase, Math.round(ms)]),
      ),
    });
    console.log(
      `${orders} CSV orders: Twinflow ${Math.round(twinflowMs)} ms, raw DuckDB ${Math.round(raw.ms)} ms, ` +
        `${(twinflowMs / raw.ms).toFixed(2)}× (${JSON.stringify(figures.at(-1)?.twinflowDurationsMs)})`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
mkdirSync(path.dirname(values.out ?? ''), { recursive: true });
writeFileSync(
  values.out ?? '',
  `${JSON.stringify({ measuredAt: new Date().toISOString(), loadAverage1m: os.loadavg()[0], figures }, null, 2)}\n`,
);
