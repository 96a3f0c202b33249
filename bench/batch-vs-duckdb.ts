/**
 * Batch efficiency (issue 18): the same day's CSV export of N orders through Twinflow's batch (`runBatchDay`, end to
 * end through the local lake: validate, quarantine, dedupe, facts, every model, Parquet views, publish), through
 * raw DuckDB doing the same job by hand in one connection (parse the CSV, validate the declared fields, dedupe by
 * order_id keeping the earliest event, minute facts `sales_minute` and daily facts `daily_sales`, Parquet out), and
 * through Polars (`nodejs-polars`) and pandas (a Python subprocess, bench/batch-vs-pandas.py) doing that same job.
 * Each engine runs in a process of its own, one after the other, its modules loaded before its clock starts
 * (bench/batch-vs-duckdb-engine.ts); each is timed wall clock and in CPU time (every thread of its process, which
 * others' work on a shared machine sways less), each given as a ratio to raw DuckDB's. Every engine's
 * minute and daily facts must agree with raw DuckDB's (rows, orders, units, revenue) and its facts count too: the
 * run prints the disagreement and fails otherwise. Twinflow's run report splits its time into load, transform,
 * write and publish.
 *
 *   npx tsx bench/batch-vs-duckdb.ts [--orders 1000000,10000000] [--python $PYTHON or python3]
 *                                    [--out bench/results/batch-vs-duckdb.json]
 *
 * An engine that cannot run here is reported as not installed, not failed: pandas needs `--python` (default
 * python3) to import pandas and pyarrow; nodejs-polars 0.25.2's native package declares Node >= 22, so npm skips it
 * on Node 20 (`npm i --no-save nodejs-polars-linux-x64-gnu@0.25.2` adds it there; the binding works on Node 20).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readPublished } from '../functions/pipeline/batch-published.ts';
import { sqlPath, withConnection } from '../functions/pipeline/duckdb-session.ts';
import { LocalDirectoryStore } from '../functions/pipeline/local-directory-store.ts';
import { writeLandingExport } from '../local/landing-export.ts';

const DAY = '2026-11-20';
const ENGINE = fileURLToPath(new URL('./batch-vs-duckdb-engine.ts', import.meta.url));
const PANDAS = fileURLToPath(new URL('./batch-vs-pandas.py', import.meta.url));

const { values } = parseArgs({
  options: {
    orders: { type: 'string', default: '1000000' },
    // pandas: a Python that imports pandas and pyarrow ($PYTHON, else python3)
    python: { type: 'string', default: process.env['PYTHON'] ?? 'python3' },
    out: { type: 'string', default: 'bench/results/batch-vs-duckdb.json' },
  },
});
const python = values.python ?? 'python3';

type EngineName = 'duckdb' | 'twinflow' | 'polars' | 'pandas';
const ENGINES: EngineName[] = ['duckdb', 'twinflow', 'polars', 'pandas'];

/** What an engine produced: its minute and daily facts summed, and its facts counted. */
interface Totals {
  facts: number;
  minuteRows: number;
  dailyRows: number;
  orders: string;
  units: string;
  revenue: string;
  dailyOrders: string;
  dailyUnits: string;
  dailyRevenue: string;
}

interface EngineRun {
  /** The job, timed in its own process once its modules are loaded. */
  ms?: number;
  /** The job's CPU time, every thread of its process: less swayed than wall clock by others' work on the machine. */
  cpuMs?: number;
  /** The whole process, start-up included. */
  processMs?: number;
  unavailable?: string;
  details?: Record<string, number>;
  totals?: Totals;
}

/** Runs one engine in a process of its own; its last stdout line is its JSON result. */
function runProcess(command: string, args: string[]): Promise<{ result: EngineRun; processMs: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const processMs = performance.now() - t0;
      if (code !== 0) return reject(new Error(`${command} ${args.join(' ')} exited ${code}`));
      const last = stdout.trim().split('\n').at(-1) ?? '{}';
      resolve({ result: JSON.parse(last) as EngineRun, processMs });
    });
  });
}

/** Why pandas cannot run here, or undefined when `python` imports pandas and pyarrow. */
function pandasUnavailable(): string | undefined {
  try {
    execFileSync(python, ['-c', 'import pandas, pyarrow'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return `not installed (${python} cannot import pandas, pyarrow)`;
  }
}

/** Sums an engine's Parquet outputs with DuckDB (the same reading for every engine). */
async function totalsOf(files: { minute: string; daily: string; facts: string }): Promise<Totals> {
  return withConnection(async (connection) => {
    const sums = (file: string) =>
      `select count(*)::bigint as n, sum(orders)::bigint::varchar as orders, sum(units)::bigint::varchar as units,
              sum(revenue)::decimal(38, 2)::varchar as revenue from read_parquet(${sqlPath(file)})`;
    const reader = await connection.runAndReadAll(
      `select m.n as minute_rows, m.orders, m.units, m.revenue, d.n as daily_rows, d.orders as daily_orders,
              d.units as daily_units, d.revenue as daily_revenue,
              (select count(*) from read_parquet(${sqlPath(files.facts)}))::bigint as facts
       from (${sums(files.minute)}) as m, (${sums(files.daily)}) as d`,
    );
    const row = reader.getRowObjectsJson()[0] ?? {};
    return {
      facts: Number(row['facts']),
      minuteRows: Number(row['minute_rows']),
      dailyRows: Number(row['daily_rows']),
      orders: String(row['orders']),
      units: String(row['units']),
      revenue: String(row['revenue']),
      dailyOrders: String(row['daily_orders']),
      dailyUnits: String(row['daily_units']),
      dailyRevenue: String(row['daily_revenue']),
    };
  });
}

async function runEngine(engine: EngineName, lake: string, csv: string): Promise<EngineRun> {
  const outDir = mkdtempSync(path.join(lake, `${engine}-`));
  if (engine === 'pandas') {
    const unavailable = pandasUnavailable();
    if (unavailable) return { unavailable };
  }
  const { result, processMs } =
    engine === 'pandas'
      ? await runProcess(python, [PANDAS, csv, outDir])
      : await runProcess(process.execPath, ['--import', 'tsx', ENGINE, engine, lake, csv, outDir, DAY]);
  if (result.unavailable) return { unavailable: result.unavailable };
  let files = {
    minute: path.join(outDir, 'sales_minute.parquet'),
    daily: path.join(outDir, 'daily_sales.parquet'),
    facts: path.join(outDir, 'order_facts.parquet'),
  };
  if (engine === 'twinflow') {
    const published = (await readPublished(new LocalDirectoryStore(lake), 'orders')).index.days[DAY];
    if (!published) throw new Error(`Twinflow did not publish ${DAY}`);
    const at = (view: string) => path.join(lake, published.files[view] ?? `(no ${view} view)`);
    files = { minute: at('sales_minute'), daily: at('daily_sales'), facts: at('order_facts') };
  }
  return { ...result, processMs, totals: await totalsOf(files) };
}

/** Where an engine's outputs differ from raw DuckDB's, one entry per differing total. */
function disagreements(engine: Totals, raw: Totals): string[] {
  return (Object.keys(raw) as (keyof Totals)[])
    .filter((key) => String(engine[key]) !== String(raw[key]))
    .map((key) => `${key} ${engine[key]} (raw DuckDB ${raw[key]})`);
}

interface MeasuredEngine {
  ms: number;
  processMs: number;
  ratioToRawDuckdb: number;
  cpuMs?: number;
  cpuRatioToRawDuckdb?: number;
  agrees: boolean;
  durationsMs?: Record<string, number>;
}
type EngineFigure = MeasuredEngine | { unavailable: string };

const figures = [];
const failures: string[] = [];
for (const orders of (values.orders ?? '').split(',').map(Number)) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bench-vs-duckdb-'));
  try {
    const store = new LocalDirectoryStore(dir);
    const { key } = await writeLandingExport({ day: DAY, orders, seed: 1, format: 'csv' }, store);
    const csv = path.join(dir, key);
    const runs: Partial<Record<EngineName, EngineRun>> = {};
    for (const engine of ENGINES) runs[engine] = await runEngine(engine, dir, csv);
    const raw = runs.duckdb as Required<Pick<EngineRun, 'ms' | 'processMs' | 'totals'>> &
      Pick<EngineRun, 'cpuMs'>;
    const engines: Record<string, EngineFigure> = Object.fromEntries(
      ENGINES.map((engine): [string, EngineFigure] => {
        const run = runs[engine] ?? {};
        if (run.unavailable || run.ms === undefined || !run.totals) {
          return [engine, { unavailable: run.unavailable ?? 'did not run' }];
        }
        const wrong = disagreements(run.totals, raw.totals);
        for (const w of wrong) failures.push(`${orders} orders, ${engine}: ${w}`);
        return [
          engine,
          {
            ms: Math.round(run.ms),
            processMs: Math.round(run.processMs ?? 0),
            ratioToRawDuckdb: Number((run.ms / raw.ms).toFixed(2)),
            ...(run.cpuMs !== undefined && raw.cpuMs !== undefined
              ? {
                  cpuMs: Math.round(run.cpuMs),
                  cpuRatioToRawDuckdb: Number((run.cpuMs / raw.cpuMs).toFixed(2)),
                }
              : {}),
            agrees: wrong.length === 0,
            ...(run.details ? { durationsMs: roundAll(run.details) } : {}),
          },
        ];
      }),
    );
    const twinflow = engines['twinflow'] as MeasuredEngine;
    figures.push({
      orders,
      // The figures as before, for the table: Twinflow against raw DuckDB.
      twinflowMs: twinflow.ms,
      rawDuckdbMs: Math.round(raw.ms),
      ratio: twinflow.ratioToRawDuckdb,
      cpuRatio: twinflow.cpuRatioToRawDuckdb,
      twinflowDurationsMs: twinflow.durationsMs,
      engines,
      rawDuckdbTotals: raw.totals,
    });
    console.log(`${orders} CSV orders (${raw.totals.facts} facts, revenue ${raw.totals.revenue}):`);
    for (const [engine, e] of Object.entries(engines)) {
      console.log(
        'unavailable' in e
          ? `  ${engine.padEnd(8)} ${e.unavailable}`
          : `  ${engine.padEnd(8)} ${String(e.ms).padStart(6)} ms (process ${e.processMs} ms) ` +
              `${e.ratioToRawDuckdb.toFixed(2)}× raw DuckDB` +
              `${e.cpuMs === undefined ? '' : `, CPU ${e.cpuMs} ms ${e.cpuRatioToRawDuckdb?.toFixed(2)}×`}` +
              `${e.agrees ? '' : ' — DISAGREES with raw DuckDB'}` +
              `${'durationsMs' in e ? ` ${JSON.stringify(e.durationsMs)}` : ''}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
mkdirSync(path.dirname(values.out ?? ''), { recursive: true });
writeFileSync(
  values.out ?? '',
  `${JSON.stringify({ measuredAt: new Date().toISOString(), loadAverage1m: os.loadavg()[0], failures, figures }, null, 2)}\n`,
);
if (failures.length > 0) {
  console.error(`THE ENGINES DISAGREE WITH RAW DUCKDB:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}

function roundAll(values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Math.round(v)]));
}
