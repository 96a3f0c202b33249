/**
 * One engine of bench/batch-vs-duckdb.ts, in a process of its own: `twinflow` (runBatchDay on the lake), `duckdb`
 * (the hand-written DuckDB job) or `polars` (the same job in nodejs-polars). The engine's modules (and DuckDB's
 * instance) are loaded before the clock starts, as in a warm container; the job is timed wall clock and in CPU time
 * (every thread of the process) and the result printed as one JSON line on stdout: `{ ms, cpuMs }`, or
 * `{ unavailable }` when the engine cannot be loaded here.
 *
 *   npx tsx bench/batch-vs-duckdb-engine.ts <twinflow|duckdb|polars> <lake dir> <csv> <out dir> <day>
 */
import path from 'node:path';
import { runBatchDay } from '../functions/batch/run-batch-day.ts';
import { duckdb, sqlPath, withConnection } from '../functions/pipeline/duckdb-session.ts';
import { LocalDirectoryStore } from '../functions/pipeline/local-directory-store.ts';
import { silentLog } from '../functions/pipeline/ports.ts';

/** The hand-written job: what Twinflow's batch computes for orders, without its engine. */
async function rawDuckdb(csv: string, outDir: string): Promise<void> {
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
  });
}

type Polars = typeof import('nodejs-polars').default;

/**
 * The same job in Polars, lazily: read every column as text, type it (a value that does not parse is null, as
 * DuckDB's try_cast), the same checks, the earliest event per order_id (ties by user_id, product_id), the minute
 * facts and their day rollup, Parquet out.
 */
async function polars(pl: Polars, csv: string, outDir: string): Promise<void> {
  const col = pl.col;
  const typed = pl
    .scanCSV(csv, { inferSchemaLength: 0 })
    .select(
      col('order_id'),
      col('user_id'),
      col('product_id'),
      col('quantity').cast(pl.Int64, false),
      col('unit_price').cast(pl.Decimal(18, 2), false),
      col('currency').fillNull('USD'),
      col('event_time').str.strptime(pl.Datetime('ms'), '%Y-%m-%d %H:%M:%S%.f%#z'),
    );
  const facts = await typed
    .filter(
      col('order_id')
        .isNotNull()
        .and(col('user_id').isNotNull())
        .and(col('product_id').isNotNull())
        .and(col('quantity').gtEq(1))
        .and(col('quantity').ltEq(100_000))
        .and(col('unit_price').gtEq(0))
        .and(col('unit_price').ltEq(1_000_000))
        .and(col('currency').str.contains('^[A-Z]{3}$'))
        .and(col('event_time').isNotNull()),
    )
    .sort(['event_time', 'user_id', 'product_id'])
    .unique({ subset: 'order_id', keep: 'first', maintainOrder: true })
    .collect();
  const measures = () => [
    pl.len().cast(pl.Int64).alias('orders'),
    col('quantity').sum().alias('units'),
    col('quantity').mul(col('unit_price')).sum().cast(pl.Decimal(38, 2)).alias('revenue'),
  ];
  const minute = await facts
    .lazy()
    .groupBy([col('event_time').dt.truncate('1m').alias('window_start'), col('product_id'), col('currency')])
    .agg(...measures())
    .collect();
  minute.writeParquet(path.join(outDir, 'sales_minute.parquet'));
  const daily = await facts
    .lazy()
    .groupBy([col('event_time').cast(pl.Date).alias('day'), col('product_id'), col('currency')])
    .agg(...measures())
    .collect();
  daily.writeParquet(path.join(outDir, 'daily_sales.parquet'));
  facts.writeParquet(path.join(outDir, 'order_facts.parquet'));
}

async function main(): Promise<void> {
  const [engine, lake = '', csv = '', outDir = '', day = ''] = process.argv.slice(2);
  let job: () => Promise<unknown>;
  if (engine === 'twinflow' || engine === 'duckdb') {
    await duckdb();
    job =
      engine === 'duckdb'
        ? () => rawDuckdb(csv, outDir)
        : async () => {
            const report = await runBatchDay(
              { day },
              { store: new LocalDirectoryStore(lake), clock: () => new Date(), log: silentLog },
            );
            if (report.status !== 'published') throw new Error(`batch ${report.status}: ${report.error}`);
            return report.durationsMs;
          };
  } else if (engine === 'polars') {
    let pl: Polars;
    try {
      pl = (await import('nodejs-polars')).default;
      pl.DataFrame({ warm: [1] }); // the native binding loads here, or fails
    } catch (error) {
      // npm skips the platform binding when this Node is older than it declares (0.25.2's want Node 22).
      const reason = (error as Error).message.split('\n')[0];
      console.log(JSON.stringify({ unavailable: `nodejs-polars not loadable: ${reason}` }));
      return;
    }
    job = () => polars(pl, csv, outDir);
  } else {
    throw new Error(`unknown engine ${engine}`);
  }
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const details = await job();
  const cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({ ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000, details }));
}

await main();
