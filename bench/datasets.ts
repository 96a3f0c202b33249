/**
 * The engine on datasets it was not written for: the same batch and handler figures for orders, the stock_moves
 * fixture (two minute models, one with a distinct measure) and clicks (funnel, and sessions over the day and its
 * neighbours), all from the declaration-driven generator, measured in turn in one run so they compare as ratios.
 *   1. batch: N generated events for one day (JSONL export, 2 % duplicates) → validated, deduped, every model,
 *      published (runBatchDay on a local-directory lake);
 *   2. handler: the consumer core on one micro-batch of 1,000 and 10,000 generated events (median of warm runs).
 *
 *   npx tsx bench/datasets.ts [--events 1000000] [--runs 3] [--out bench/results/datasets.json]
 */
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '1000000' },
    runs: { type: 'string', default: '3' },
    out: { type: 'string', default: 'bench/results/datasets.json' },
  },
});
const EVENTS = Number(values.events);
const RUNS = Number(values.runs);
const DAY = '2026-11-20';
const DATASETS = ['orders', 'stock_moves', 'clicks'];
const root = new URL('../', import.meta.url).pathname;

// A project copy's datasets/: the shipped ones plus the fixture. Set before the engine reads any declaration.
const datasetsDir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bench-datasets-'));
cpSync(path.join(root, 'datasets'), datasetsDir, { recursive: true });
for (const fixture of ['stock_moves', 'clicks']) {
  // clicks is a fixture until it ships (then datasets/ already has it).
  const from = path.join(root, 'test/datasets/fixtures', fixture);
  if (existsSync(from)) cpSync(from, path.join(datasetsDir, fixture), { recursive: true });
}
process.env['TWINFLOW_DATASETS_DIR'] = datasetsDir;

const { runBatchDay } = await import('../functions/batch/run-batch-day.ts');
const { dataset } = await import('../functions/pipeline/datasets.ts');
const { LocalDirectoryStore } = await import('../functions/pipeline/local-directory-store.ts');
const { silentLog } = await import('../functions/pipeline/ports.ts');
const { consumeMicroBatch } = await import('../functions/stream/micro-batch.ts');
const { datasetEventsForDay } = await import('../local/dataset-events.ts');
const { writeDatasetLandingExport } = await import('../local/landing-export.ts');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

function freshDeps() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bench-ds-'));
  return {
    dir,
    deps: {
      store: new LocalDirectoryStore(dir),
      clock: () => new Date('2026-11-21T03:00:00Z'),
      log: silentLog,
    },
  };
}

async function batchMs(name: string): Promise<{ ms: number; events: number }> {
  const { dir, deps } = freshDeps();
  try {
    const exported = await writeDatasetLandingExport(
      { dataset: dataset(name), day: DAY, rows: EVENTS, format: 'jsonl', duplicateShare: 0.02 },
      deps.store,
    );
    const t0 = performance.now();
    const report = await runBatchDay({ day: DAY, dataset: name, thresholds: { force: true } }, deps);
    const ms = performance.now() - t0;
    if (report.status !== 'published') throw new Error(`${name}: batch ${report.status}: ${report.error}`);
    if (report.counts.orders !== exported.events)
      throw new Error(`${name}: ${report.counts.orders} ≠ ${exported.events}`);
    return { ms, events: report.counts.orders };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function handlerMs(name: string, size: number, seed: number): Promise<number> {
  const { dir, deps } = freshDeps();
  try {
    const messages = [...datasetEventsForDay(dataset(name), { day: DAY, count: size, seed })].map((r, i) => ({
      messageId: `bench-${seed}-${i}`,
      body: JSON.stringify({ event_id: `e-${seed}-${i}`, ...r.event }),
    }));
    const t0 = performance.now();
    const result = await consumeMicroBatch({ messages, dataset: name }, deps);
    const ms = performance.now() - t0;
    if (result.failedMessageIds.length > 0 || result.quarantined > 0) {
      throw new Error(`${name}: ${result.quarantined} quarantined, ${result.failedMessageIds.length} failed`);
    }
    return ms;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const batch: Record<string, { runs: number[]; events: number }> = {};
const handler: Record<string, Record<number, number[]>> = {};
for (let run = 0; run < RUNS; run++) {
  // Alternately, so load on the shared machine falls on both alike.
  for (const name of run % 2 === 0 ? DATASETS : [...DATASETS].reverse()) {
    const { ms, events } = await batchMs(name);
    batch[name] ??= { runs: [], events };
    batch[name].runs.push(ms);
    for (const size of [1000, 10_000]) {
      handler[name] ??= {};
      handler[name][size] ??= [];
      (handler[name][size] as number[]).push(await handlerMs(name, size, run + 1));
    }
  }
}

const figures = DATASETS.map((name) => {
  const b = batch[name] as { runs: number[]; events: number };
  return {
    dataset: name,
    batch: { events: b.events, medianMs: Math.round(median(b.runs)), runsMs: b.runs.map(Math.round) },
    handler: Object.fromEntries(
      Object.entries(handler[name] ?? {}).map(([size, runs]) => [
        size,
        { medianMs: Math.round(median(runs)), runsMs: runs.map(Math.round) },
      ]),
    ),
  };
});
const [orders] = figures;
const ratio = (a: number | undefined, b: number | undefined) => (a && b ? Number((b / a).toFixed(2)) : null);
/** Each dataset's figures as a multiple of orders' (measured in the same run). */
const ratios = Object.fromEntries(
  figures.slice(1).map((f) => [
    f.dataset,
    {
      batch: ratio(orders?.batch.medianMs, f.batch.medianMs),
      handler1k: ratio(orders?.handler['1000']?.medianMs, f.handler['1000']?.medianMs),
      handler10k: ratio(orders?.handler['10000']?.medianMs, f.handler['10000']?.medianMs),
    },
  ]),
);
const report = {
  command: `npx tsx bench/datasets.ts --events ${EVENTS} --runs ${RUNS}`,
  events: EVENTS,
  runs: RUNS,
  figures,
  ratios,
};
for (const f of figures) {
  const r = ratios[f.dataset];
  console.log(
    `${f.dataset.padEnd(12)} batch ${f.batch.events.toLocaleString('en-US')} events ${f.batch.medianMs} ms · ` +
      `handler 1k ${f.handler['1000']?.medianMs} ms · 10k ${f.handler['10000']?.medianMs} ms` +
      (r ? ` (${r.batch}× / ${r.handler1k}× / ${r.handler10k}× orders)` : ''),
  );
}
writeFileSync(path.resolve(root, values.out), `${JSON.stringify(report, null, 2)}\n`);
rmSync(datasetsDir, { recursive: true, force: true });
