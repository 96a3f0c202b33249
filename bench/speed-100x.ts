/**
 * The speed layer at 100× (issue 18), simulated on this machine: `--consumers` concurrent consumers (default 8) run
 * orders micro-batches of `--batch-size` events at their maximum rate for `--seconds` (default 120) against the
 * local S3 (s3rver on loopback; `--lake dir` uses a local directory instead, to tell the lake apart from the S3
 * emulation), while
 *   - compaction (`compactRealtime`, the scheduled function's core) runs every `--compact-every` seconds — folding
 *     the whole day each time (`fold`), or in tiers (`tiers`: the day folded every `--fold-every` seconds and only
 *     rolled up in between, each hour's new partials summed into one file), and
 *   - a reader asks the realtime `GET /sales` core (`querySales`, today at minute granularity) once a second.
 * Each consumer is what one Lambda instance of the ingest function does per invocation (`consumeMicroBatch`: validate,
 * archive, one partial per minute model and hour, stats), fed generated orders straight in, so nothing but the
 * speed layer's own work sets the rate.
 *
 * Printed and written to `--out` (default bench/results/speed-100x.json):
 *   events/s, micro-batches and partial files written (per hour at that rate),
 *   each compaction's time against the day's events so far and the archives it read,
 *   query p50/p95 by the number of uncompacted partials the query had to read.
 *
 *   npx tsx bench/speed-100x.ts [--consumers 8] [--seconds 120] [--runs 100:fold,10000:fold,10000:tiers]
 *                               [--compact-every 10] [--fold-every 60] [--lake s3|dir]
 *                               [--out bench/results/speed-100x.json]
 *
 * `--runs`: batch size and compaction mode of each run; they run one after the other, each on a fresh lake, so
 * their figures are ratios of one run.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { dayOf } from '../functions/pipeline/dates.ts';
import { LocalDirectoryStore } from '../functions/pipeline/local-directory-store.ts';
import type { ObjectStore } from '../functions/pipeline/object-store.ts';
import { openStore } from '../functions/pipeline/open-store.ts';
import { type CoreDeps, silentLog } from '../functions/pipeline/ports.ts';
import { realtimeDaySnapshot } from '../functions/pipeline/realtime-view.ts';
import { BatchCache } from '../functions/serving/batch-cache.ts';
import { querySales } from '../functions/serving/sales.ts';
import { compactRealtime } from '../functions/stream/compaction.ts';
import { consumeMicroBatch, type StreamMessage } from '../functions/stream/micro-batch.ts';
import { startLocalS3 } from '../local/aws-servers.ts';
import { createOrderGenerator } from '../local/order-generator.ts';

const { values } = parseArgs({
  options: {
    consumers: { type: 'string', default: '8' },
    seconds: { type: 'string', default: '120' },
    runs: { type: 'string', default: '100:fold,10000:fold,10000:tiers' },
    'compact-every': { type: 'string', default: '10' },
    'fold-every': { type: 'string', default: '60' },
    lake: { type: 'string', default: 's3' },
    out: { type: 'string', default: 'bench/results/speed-100x.json' },
  },
});
const consumers = Number(values.consumers);
const seconds = Number(values.seconds);
const configs = String(values.runs)
  .split(',')
  .map((run) => {
    const [size, mode] = run.split(':');
    if (mode !== 'fold' && mode !== 'tiers')
      throw new Error(`--runs: "${run}" is not <batch size>:fold|tiers`);
    return { batchSize: Number(size), mode: mode as 'fold' | 'tiers' };
  });
const batchSizes = configs.map((c) => c.batchSize);
const compactEvery = Number(values['compact-every']);
const foldEvery = Number(values['fold-every']);
const lakeKind = values.lake;
if (!['s3', 'dir'].includes(String(lakeKind))) throw new Error('--lake must be s3 or dir');
for (const n of [consumers, seconds, compactEvery, foldEvery, ...batchSizes]) {
  if (!Number.isInteger(n) || n < 1)
    throw new Error(
      '--consumers, --seconds, --runs batch sizes, --compact-every, --fold-every: integers ≥ 1',
    );
}

const percentile = (xs: readonly number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? 0;
const round = (n: number, digits = 0) => Math.round(n * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface CompactionSample {
  atSeconds: number;
  /** `compacted`: the day folded; `rolled-up`: the cheap tier. */
  status: string;
  ms: number;
  /** Archive files this run read (the new ones). */
  read: number;
  /** The day's deduplicated events after this run. */
  dayEvents: number;
}

interface QuerySample {
  atSeconds: number;
  ms: number;
  /** Uncompacted partials of sales_minute in the day's snapshot when the query ran. */
  partials: number;
}

async function openLake(workDir: string): Promise<{ store: ObjectStore; close: () => Promise<void> }> {
  if (lakeKind === 'dir')
    return { store: new LocalDirectoryStore(path.join(workDir, 'lake')), close: async () => {} };
  const s3 = await startLocalS3({ directory: path.join(workDir, 's3'), buckets: ['lake'] });
  process.env['AWS_ACCESS_KEY_ID'] ??= 'S3RVER';
  process.env['AWS_SECRET_ACCESS_KEY'] ??= 'S3RVER';
  const store = openStore('s3://lake', { endpoint: s3.endpoint, cacheDir: path.join(workDir, 'cache') });
  return { store, close: () => s3.close() };
}

async function simulate(batchSize: number, mode: 'fold' | 'tiers') {
  const tiers =
    mode === 'tiers'
      ? { rollUpAboveEvents: 0, foldEveryMs: foldEvery * 1000 }
      : { rollUpAboveEvents: Number.POSITIVE_INFINITY };
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bench-100x-'));
  const { store, close } = await openLake(workDir);
  const deps: CoreDeps = { store, clock: () => new Date(), log: silentLog };
  const t0 = Date.now();
  const deadline = t0 + seconds * 1000;
  const at = () => round((Date.now() - t0) / 1000, 1);
  let events = 0;
  let batches = 0;
  let partials = 0;
  const batchMs: number[] = [];
  const consumer = async (c: number) => {
    const generator = createOrderGenerator({ seed: 1000 + c + batchSize, idPrefix: `c${c}b${batchSize}` });
    for (let n = 0; Date.now() < deadline; n++) {
      const now = new Date();
      const messages: StreamMessage[] = Array.from({ length: batchSize }, (_, i) => ({
        messageId: `c${c}-${n}-${i}`,
        body: JSON.stringify(generator.next(new Date(now.getTime() - 2000 + (i % 1000)))),
        sentAt: now,
        receiveCount: 1,
      }));
      const result = await consumeMicroBatch({ messages, dataset: 'orders' }, deps);
      if (result.failedMessageIds.length > 0) throw new Error(`consumer ${c}: ${result.error}`);
      events += result.valid;
      batches++;
      partials += Object.keys(result.hours).length;
      batchMs.push(result.durationMs);
    }
  };
  const compactions: CompactionSample[] = [];
  const compactor = async () => {
    while (Date.now() < deadline) {
      const next = Date.now() + compactEvery * 1000;
      const now = new Date();
      const result = await compactRealtime(deps, { now, datasets: ['orders'], days: [dayOf(now)], ...tiers });
      for (const day of result.days.filter((d) => d.status === 'compacted' || d.status === 'rolled-up')) {
        compactions.push({
          atSeconds: at(),
          status: day.status,
          ms: result.durationMs,
          read: day.read,
          dayEvents: day.orders,
        });
      }
      await sleep(Math.max(0, next - Date.now()));
    }
  };
  const queries: QuerySample[] = [];
  const cache = new BatchCache();
  const reader = async () => {
    await sleep(2000);
    while (Date.now() < deadline) {
      const next = Date.now() + 1000;
      const now = new Date();
      const day = dayOf(now);
      const snapshot = await realtimeDaySnapshot(store, day);
      const open = [...snapshot.partials.values()].reduce((sum, files) => sum + files.length, 0);
      const q0 = performance.now();
      await querySales(
        { start: new Date(`${day}T00:00:00Z`), end: new Date(now.getTime() + 60_000), granularity: 'minute' },
        { ...deps, cache },
      );
      queries.push({ atSeconds: at(), ms: round(performance.now() - q0, 1), partials: open });
      await sleep(Math.max(0, next - Date.now()));
    }
  };
  await Promise.all([...Array.from({ length: consumers }, (_, c) => consumer(c)), compactor(), reader()]);
  const elapsed = (Date.now() - t0) / 1000;
  // The last compaction, after the consumers stopped: what the day's fold costs at its final size.
  const final0 = performance.now();
  const now = new Date();
  const last = await compactRealtime(deps, { now, datasets: ['orders'], days: [dayOf(now)] });
  const finalMs = round(performance.now() - final0);
  const day = last.days[0];
  await close();
  rmSync(workDir, { recursive: true, force: true });

  const byPartials = new Map<string, number[]>();
  const bucketOf = (n: number) => (n < 10 ? '0-9' : n < 100 ? '10-99' : n < 1000 ? '100-999' : '1000+');
  for (const q of queries)
    byPartials.set(bucketOf(q.partials), [...(byPartials.get(bucketOf(q.partials)) ?? []), q.ms]);
  const half = Math.floor(compactions.length / 2);
  const firstHalf = compactions.slice(0, half);
  const secondHalf = compactions.slice(half);
  const mean = (xs: number[]) => (xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  const ofStatus = (status: string) => compactions.filter((c) => c.status === status).map((c) => c.ms);
  const result = {
    batchSize,
    mode,
    consumers,
    seconds: round(elapsed, 1),
    events,
    eventsPerSecond: round(events / elapsed),
    batches,
    partialsWritten: partials,
    partialsPerHour: round((partials / elapsed) * 3600),
    batchMsP50: percentile(batchMs, 50),
    batchMsP95: percentile(batchMs, 95),
    compaction: {
      runs: compactions.length,
      msFirstHalfMean: round(mean(firstHalf.map((c) => c.ms))),
      msSecondHalfMean: round(mean(secondHalf.map((c) => c.ms))),
      msMax: Math.max(0, ...compactions.map((c) => c.ms)),
      folds: ofStatus('compacted').length,
      foldMsMean: round(mean(ofStatus('compacted'))),
      rollUps: ofStatus('rolled-up').length,
      rollUpMsMean: round(mean(ofStatus('rolled-up'))),
      finalMs,
      finalDayEvents: day?.orders ?? 0,
      samples: compactions,
    },
    query: {
      runs: queries.length,
      p50: percentile(
        queries.map((q) => q.ms),
        50,
      ),
      p95: percentile(
        queries.map((q) => q.ms),
        95,
      ),
      maxPartials: Math.max(0, ...queries.map((q) => q.partials)),
      byPartials: Object.fromEntries(
        [...byPartials].map(([bucket, ms]) => [
          bucket,
          { runs: ms.length, p50: percentile(ms, 50), p95: percentile(ms, 95) },
        ]),
      ),
      samples: queries,
    },
  };
  console.log(
    `batch size ${batchSize.toLocaleString()}, compaction ${mode}, ${consumers} consumers, ${round(elapsed)} s: ` +
      `${result.eventsPerSecond.toLocaleString()} events/s, ${batches.toLocaleString()} micro-batches ` +
      `(p50 ${result.batchMsP50} ms, p95 ${result.batchMsP95} ms), ${partials.toLocaleString()} partials ` +
      `(${result.partialsPerHour.toLocaleString()}/hour at this rate)`,
  );
  console.log(
    `  compaction every ${compactEvery} s: ${compactions.length} runs, mean ${result.compaction.msFirstHalfMean} ms ` +
      `(first half) → ${result.compaction.msSecondHalfMean} ms (second half), max ${result.compaction.msMax} ms ` +
      `(${result.compaction.folds} folds, mean ${result.compaction.foldMsMean} ms; ${result.compaction.rollUps} ` +
      `roll-ups, mean ${result.compaction.rollUpMsMean} ms); ` +
      `final fold of ${result.compaction.finalDayEvents.toLocaleString()} events ${finalMs} ms`,
  );
  console.log(
    `  realtime GET /sales core, today by minute: p50 ${result.query.p50} ms, p95 ${result.query.p95} ms ` +
      `(${queries.length} queries, up to ${result.query.maxPartials} uncompacted partials); by partials: ` +
      Object.entries(result.query.byPartials)
        .map(([bucket, q]) => `${bucket}: p95 ${q.p95} ms (${q.runs})`)
        .join(', '),
  );
  return result;
}

const runs = [];
for (const { batchSize, mode } of configs) runs.push(await simulate(batchSize, mode));
const out = String(values.out);
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(
  out,
  `${JSON.stringify({ consumers, seconds, compactEvery, foldEvery, lake: lakeKind, cpus: os.cpus().length, runs }, null, 2)}\n`,
);
console.log(`wrote ${out}`);
