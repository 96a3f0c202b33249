/**
 * Batch fan-out (issue 18): a day of N orders in F landing files through one function and through the fan-out
 * (functions/batch/fan-out.ts: map per file, reduce per key bucket, merge) with 1, 2 and 4 concurrent workers. Each
 * worker is a process of its own kept warm across steps (bench/fan-out-worker.ts), as a Lambda container is; the
 * steps are the ones the state machine invokes. Exactness: the fan-out's published views must equal the
 * single-function run's row for row (checked with DuckDB `except all` both ways), and the counts must agree.
 *
 *   npx tsx bench/fan-out.ts [--orders 20000000] [--files 40] [--workers 1,2,4] [--buckets 16]
 *                            [--merge-memory-mb N] [--out bench/results/fan-out.json]
 *
 * `--merge-memory-mb` holds the merge's DuckDB to N MB (it spills past that), as a smaller function would.
 *
 * Prints one line per run and writes the figures as JSON; the 1B plan in docs/scale-out.md is derived from them.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type FanOutPlan, type MapItem, planFanOut } from '../functions/batch/fan-out.ts';
import { readPublished } from '../functions/pipeline/batch-published.ts';
import { sqlPath, withConnection } from '../functions/pipeline/duckdb-session.ts';
import { LocalDirectoryStore } from '../functions/pipeline/local-directory-store.ts';
import { getJson } from '../functions/pipeline/object-store.ts';
import { silentLog } from '../functions/pipeline/ports.ts';
import { writeLandingExport } from '../local/landing-export.ts';
import type { WorkerStep } from './fan-out-worker.ts';

const DAY = '2026-11-20';
const WORKER = fileURLToPath(new URL('./fan-out-worker.ts', import.meta.url));

const { values } = parseArgs({
  options: {
    orders: { type: 'string', default: '20000000' },
    files: { type: 'string', default: '40' },
    workers: { type: 'string', default: '1,2,4' },
    buckets: { type: 'string', default: '16' },
    'merge-memory-mb': { type: 'string' },
    out: { type: 'string' },
  },
});
const orders = Number(values.orders);
const files = Number(values.files);
const workerCounts = String(values.workers).split(',').map(Number);
const buckets = Number(values.buckets);
const mergeMemoryMb = values['merge-memory-mb'] === undefined ? undefined : Number(values['merge-memory-mb']);

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
  ms?: number;
  peakRssMb?: number;
  peakTmpMb?: number;
}

/** A warm worker process: steps in, replies out. */
class Worker {
  private readonly child: ChildProcess;
  private next = 0;
  private readonly pending = new Map<number, (reply: Reply) => void>();
  peakRssMb = 0;
  peakTmpMb = 0;
  private readonly tmp = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bench-worker-'));

  constructor() {
    // A temp directory of its own, as a Lambda's /tmp: the worker reports its peak size (spill files, work files).
    this.child = fork(WORKER, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      env: { ...process.env, TMPDIR: this.tmp },
    });
    this.child.on('message', (reply: Reply) => {
      this.pending.get(reply.id)?.(reply);
      this.pending.delete(reply.id);
    });
  }

  async run(step: WorkerStep): Promise<unknown> {
    const id = this.next++;
    const reply = await new Promise<Reply>((resolve) => {
      this.pending.set(id, resolve);
      this.child.send({ id, step });
    });
    if (!reply.ok) throw new Error(`${step.op}: ${reply.error}`);
    this.peakRssMb = Math.max(this.peakRssMb, reply.peakRssMb ?? 0);
    this.peakTmpMb = Math.max(this.peakTmpMb, reply.peakTmpMb ?? 0);
    return reply.result;
  }

  stop(): void {
    this.child.kill();
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

/** Runs steps on `count` warm workers, each taking the next step when it is free. */
async function onWorkers(
  count: number,
  steps: WorkerStep[],
): Promise<{ ms: number; peakRssMb: number; peakTmpMb: number }> {
  const workers = Array.from({ length: count }, () => new Worker());
  await Promise.all(workers.map((w) => w.run({ op: 'warm' })));
  const t0 = performance.now();
  const queue = [...steps];
  try {
    await Promise.all(
      workers.map(async (w) => {
        for (let step = queue.shift(); step; step = queue.shift()) await w.run(step);
      }),
    );
  } finally {
    for (const w of workers) w.stop();
  }
  return {
    ms: performance.now() - t0,
    peakRssMb: Math.max(...workers.map((w) => w.peakRssMb)),
    peakTmpMb: Math.max(...workers.map((w) => w.peakTmpMb)),
  };
}

/** Rows of one lake's published view not in the other's, both ways (0 and 0: the same rows). */
async function viewDifference(a: string, b: string): Promise<number> {
  const [ia, ib] = await Promise.all(
    [a, b].map(async (dir) => (await readPublished(new LocalDirectoryStore(dir))).index.days[DAY]),
  );
  if (!ia || !ib) throw new Error('a run did not publish');
  let different = 0;
  await withConnection(async (connection) => {
    for (const view of Object.keys(ia.files)) {
      const fa = sqlPath(path.join(a, ia.files[view] ?? ''));
      const fb = sqlPath(path.join(b, ib.files[view] ?? ''));
      const reader = await connection.runAndReadAll(
        `select (select count(*) from (select * from read_parquet(${fa}) except all select * from read_parquet(${fb})))
              + (select count(*) from (select * from read_parquet(${fb}) except all select * from read_parquet(${fa})))
           as n`,
      );
      different += Number(reader.getRowObjectsJson()[0]?.['n'] ?? 0);
    }
  });
  return different;
}

const root = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bench-fan-out-'));
try {
  const base = path.join(root, 'base');
  mkdirSync(base);
  const tGen = performance.now();
  const store = new LocalDirectoryStore(base);
  for (let i = 0; i < files; i++) {
    await writeLandingExport(
      {
        day: DAY,
        orders: Math.round(orders / files),
        seed: 1000 + i,
        duplicateShare: 0.01,
        malformedShare: 0.001,
      },
      store,
    );
  }
  const bytes = (await store.list(`landing/orders/dt=${DAY}/`)).reduce((n, f) => n + f.size, 0);
  console.error(
    `generated ${orders.toLocaleString()} orders in ${files} Parquet files (${(bytes / 1e6).toFixed(0)} MB) in ${((performance.now() - tGen) / 1000).toFixed(1)} s`,
  );

  // One function: the single-function path in one warm worker.
  const singleDir = path.join(root, 'single');
  cpSync(base, singleDir, { recursive: true });
  const single = await onWorkers(1, [{ op: 'single', lake: singleDir, day: DAY }]);
  const singleCounts = (await readPublished(new LocalDirectoryStore(singleDir))).index.days[DAY];
  console.error(
    `one function: ${(single.ms / 1000).toFixed(1)} s, peak RSS ${single.peakRssMb.toFixed(0)} MB (temp dir ${single.peakTmpMb.toFixed(0)} MB)`,
  );

  const runs = [];
  for (const workers of workerCounts) {
    const dir = path.join(root, `fan-out-${workers}`);
    cpSync(base, dir, { recursive: true });
    const deps = { store: new LocalDirectoryStore(dir), clock: () => new Date(), log: silentLog };
    const tPlan = performance.now();
    const plan: FanOutPlan = await planFanOut({ day: DAY, thresholdBytes: 0, buckets }, deps);
    const items = (await getJson<MapItem[]>(deps.store, plan.itemsKey ?? ''))?.value ?? [];
    const planMs = performance.now() - tPlan;
    const map = await onWorkers(
      workers,
      items.map((item) => ({ op: 'map', lake: dir, item })),
    );
    const reduce = await onWorkers(
      workers,
      (plan.reduceItems ?? []).map((item) => ({ op: 'reduce', lake: dir, item })),
    );
    const merge = await onWorkers(1, [
      {
        op: 'merge',
        lake: dir,
        job: plan.job as NonNullable<FanOutPlan['job']>,
        ...(mergeMemoryMb !== undefined ? { memoryLimitMb: mergeMemoryMb } : {}),
      },
    ]);
    // Warm-up of the workers (module load, DuckDB) is outside each phase's clock, as for warm Lambda containers.
    const totalMs = planMs + map.ms + reduce.ms + merge.ms;
    const published = (await readPublished(deps.store)).index.days[DAY];
    const differentRows = await viewDifference(singleDir, dir);
    const exact = differentRows === 0 && published?.orders === singleCounts?.orders;
    const run = {
      workers,
      totalMs: Math.round(totalMs),
      planMs: Math.round(planMs),
      mapMs: Math.round(map.ms),
      reduceMs: Math.round(reduce.ms),
      mergeMs: Math.round(merge.ms),
      workerPeakRssMb: Math.round(Math.max(map.peakRssMb, reduce.peakRssMb)),
      mergePeakRssMb: Math.round(merge.peakRssMb),
      mergePeakTmpMb: Math.round(merge.peakTmpMb),
      speedupVsOneFunction: Number((single.ms / totalMs).toFixed(2)),
      exact,
      differentRows,
      orders: published?.orders,
    };
    runs.push(run);
    console.error(
      `fan-out, ${workers} worker(s): ${(totalMs / 1000).toFixed(1)} s (map ${(map.ms / 1000).toFixed(1)} + reduce ${(reduce.ms / 1000).toFixed(1)} + merge ${(merge.ms / 1000).toFixed(1)}), worker peak RSS ${run.workerPeakRssMb} MB, merge ${run.mergePeakRssMb} MB (temp dir ${run.mergePeakTmpMb} MB), exact ${exact}`,
    );
    rmSync(dir, { recursive: true, force: true });
  }
  const result = {
    orders,
    files,
    buckets,
    mergeMemoryLimitMb: mergeMemoryMb ?? null,
    landingBytes: bytes,
    oneFunction: {
      ms: Math.round(single.ms),
      peakRssMb: Math.round(single.peakRssMb),
      peakTmpMb: Math.round(single.peakTmpMb),
      orders: singleCounts?.orders,
    },
    runs,
    cores: os.cpus().length,
    loadAverage: os.loadavg()[0],
  };
  console.log(JSON.stringify(result, null, 2));
  if (values.out) writeFileSync(values.out, `${JSON.stringify(result, null, 2)}\n`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
