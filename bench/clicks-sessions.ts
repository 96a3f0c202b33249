/**
 * The realtime-vs-batch bound of clicks' sessions (sessions_minute), measured on a realistic day D
 * (local/click-generator.ts: bounces, funnel drop-off, returning and multi-device visitors; 2 % producer retries,
 * 0.5 % invalid clicks) with its neighbours D−1 and D+1, since sessions cross midnight both ways:
 *   (a) batch: the three days' landing JSONL exports → runBatchDay(D), which reads the neighbours' exports;
 *   (b) stream: the same records — D whole, D−1's last hour and D+1's first six (all that can touch D's sessions:
 *       a session of D+1's night may continue one of D) — delivered as SQS would (`streamOf`, bench/consistency.ts:
 *       local shuffling within a few batching windows, 5 % redeliveries, 2 % events hours late) → consumeMicroBatch
 *       in micro-batches of up to `--batch-size` → compactRealtime at each multiple of `--compact-every` minutes of
 *       the stream's event time (the dev stage compacts every minute; this samples that schedule), then until
 *       nothing changes (at rest).
 * Batch and realtime are separate lakes, each read through the serving layer (queryMetric, as GET
 * /metrics/sessions_minute answers: unique_users is a distinct count). Reported for D, realtime against batch:
 *   - before D's first compaction: no sessions at all (the model is `realtime: compaction`);
 *   - in flight: after each compaction during D, [D 00:00, t) — sessions still open at t are not bounced or
 *     converted as they will be, and events late or shuffled past t are missing;
 *   - at D's end, before D+1's facts were compacted: sessions running past midnight provisional;
 *   - at rest, once the neighbours were compacted (expected 0.00 %).
 *
 *   npx tsx bench/clicks-sessions.ts [--events-per-day 100000] [--batch-size 500] [--compact-every 60]
 *                                    [--out bench/results/clicks-sessions.json]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runBatchDay } from '../functions/batch/run-batch-day.ts';
import { dataset } from '../functions/pipeline/datasets.ts';
import { addDays } from '../functions/pipeline/dates.ts';
import { LocalDirectoryStore } from '../functions/pipeline/local-directory-store.ts';
import { silentLog } from '../functions/pipeline/ports.ts';
import { BatchCache } from '../functions/serving/batch-cache.ts';
import { servedModel } from '../functions/serving/metric-model.ts';
import { queryMetric, type ServingDeps } from '../functions/serving/metric-query.ts';
import { compactRealtime } from '../functions/stream/compaction.ts';
import { consumeMicroBatch, type StreamMessage } from '../functions/stream/micro-batch.ts';
import { stageConfig } from '../lib/stage-config.ts';
import { clickRecordsForDay } from '../local/click-generator.ts';
import { writeDatasetLandingExport } from '../local/landing-export.ts';
import { streamOf } from './consistency.ts';

const DATASET = 'clicks';
/** A day long past, so the batch freshness gate holds on any machine clock. */
const DAY = '2025-06-15';
const BEFORE = addDays(DAY, -1);
const AFTER = addDays(DAY, 1);
const DUPLICATE_SHARE = 0.02;
const MALFORMED_SHARE = 0.005;
/** How much of the neighbours is streamed: D−1's last hour (twice the gap), D+1's first six hours. */
const EDGE_BEFORE_MS = 60 * 60_000;
const EDGE_AFTER_MS = 6 * 60 * 60_000;
const MEASURES = ['sessions', 'bounced_sessions', 'converted_sessions', 'unique_users'] as const;
type Totals = Record<(typeof MEASURES)[number], number>;

const dayStart = (day: string) => new Date(`${day}T00:00:00Z`);
const DAY_START = dayStart(DAY);
const MIDNIGHT = dayStart(AFTER);

/** sessions_minute's totals over [start, end), as GET /metrics/sessions_minute gives them. */
async function sessionTotals(deps: ServingDeps, start: Date, end: Date): Promise<Totals> {
  const answer = await queryMetric(
    servedModel('sessions_minute'),
    { start, end, granularity: 'hour', filters: {}, groupBy: [] },
    deps,
  );
  return Object.fromEntries(MEASURES.map((m) => [m, Number(answer.totals[m] ?? 0)])) as Totals;
}

/** What realtime answers for [D 00:00, end) against batch. */
export interface Comparison {
  end: string;
  batch: Totals;
  realtime: Totals;
  /** (realtime − batch) / batch per measure, percent (0 where both are 0). */
  differencePct: Totals;
}

async function compare(batch: ServingDeps, realtime: ServingDeps, end: Date): Promise<Comparison> {
  const [b, r] = await Promise.all([
    sessionTotals(batch, DAY_START, end),
    sessionTotals(realtime, DAY_START, end),
  ]);
  const differencePct = Object.fromEntries(
    MEASURES.map((m) => [
      m,
      b[m] === 0 ? (r[m] === 0 ? 0 : 100) : Number(((100 * (r[m] - b[m])) / b[m]).toFixed(3)),
    ]),
  ) as Totals;
  return { end: end.toISOString(), batch: b, realtime: r, differencePct };
}

/** The largest |difference| per measure over some comparisons. */
function maxAbs(rows: readonly Comparison[]): Totals {
  return Object.fromEntries(
    MEASURES.map((m) => [m, rows.reduce((max, c) => Math.max(max, Math.abs(c.differencePct[m])), 0)]),
  ) as Totals;
}

export async function benchClicksSessions(options: {
  eventsPerDay: number;
  batchSize?: number;
  compactEveryMinutes?: number;
  seed?: number;
}) {
  const t0 = performance.now();
  const batchSize = options.batchSize ?? 500;
  const compactEveryMinutes = options.compactEveryMinutes ?? 60;
  const compactEvery = compactEveryMinutes * 60_000;
  const seed = options.seed ?? 17;
  const ds = dataset(DATASET);
  const work = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bench-clicks-sessions-'));
  try {
    const settled = new Date(`${addDays(DAY, 3)}T02:00:00Z`);
    const lakeDeps = (name: string): ServingDeps => ({
      store: new LocalDirectoryStore(path.join(work, name)),
      clock: () => settled,
      log: silentLog,
      cache: new BatchCache(),
    });
    const batch = lakeDeps('batch');
    const realtime = lakeDeps('realtime');
    const days = [BEFORE, DAY, AFTER].map((day, i) => ({
      day,
      count: options.eventsPerDay,
      seed: seed + i,
      duplicateShare: DUPLICATE_SHARE,
      invalidShare: MALFORMED_SHARE,
    }));

    // (a) batch: the three exports, then D's run.
    const tBatch = performance.now();
    for (const input of days) {
      await writeDatasetLandingExport(
        { ...input, dataset: ds, rows: input.count, malformedShare: input.invalidShare, format: 'jsonl' },
        batch.store,
      );
    }
    const report = await runBatchDay({ day: DAY, dataset: DATASET, thresholds: { force: true } }, batch);
    if (report.status !== 'published')
      throw new Error(`batch ${DAY}: ${report.status} ${report.error ?? ''}`);
    const batchMs = performance.now() - tBatch;

    // (b) stream: the same records (same generator and seeds), day after day. Messages may move by what one
    // batching window of each of the consumer's concurrent pollers holds at the day's mean rate.
    const { maxBatchingWindowSeconds, maxConcurrency } = stageConfig('dev').stream;
    const shuffle = Math.max(
      10,
      Math.round((options.eventsPerDay / 86_400) * maxBatchingWindowSeconds * maxConcurrency),
    );
    /** Each valid message's event time: the stream's clock (an invalid record's time is its own). */
    const timeOf = new Map<string, number>();
    let streamed = 0;
    const messages = days.flatMap((input, i) => {
      const prefix = `d${i}`;
      const records = [...clickRecordsForDay(ds, input)].filter((r) => {
        const at = Date.parse(String(r.event['event_time']));
        if (input.day === BEFORE) return at >= DAY_START.getTime() - EDGE_BEFORE_MS;
        if (input.day === AFTER) return at < MIDNIGHT.getTime() + EDGE_AFTER_MS;
        return true;
      });
      records.forEach((r, n) => {
        if (r.kind !== 'invalid') timeOf.set(`${prefix}-${n}`, Date.parse(String(r.event['event_time'])));
      });
      streamed += records.length;
      return streamOf(
        records.map((r) => r.event),
        { batchSize, seed: seed + i, prefix, shuffle },
      ).messages;
    });

    let streamMs = 0;
    let compactionMs = 0;
    let compactions = 0;
    let microBatches = 0;
    const compact = async (now: Date, compactDays: readonly string[]) => {
      const started = performance.now();
      const result = await compactRealtime(realtime, { now, days: compactDays, datasets: [DATASET] });
      compactionMs += performance.now() - started;
      compactions += 1;
      return result;
    };
    let pending: StreamMessage[] = [];
    const flush = async () => {
      if (pending.length === 0) return;
      const started = performance.now();
      const result = await consumeMicroBatch({ messages: pending, dataset: DATASET }, realtime);
      streamMs += performance.now() - started;
      if (result.error || result.failedMessageIds.length > 0)
        throw new Error(`micro-batch failed: ${result.error}`);
      microBatches += 1;
      pending = [];
    };
    let beforeCompaction: Comparison | undefined;
    const inFlight: Comparison[] = [];
    let endOfDay: Comparison | undefined;
    /** The schedule's run at `now`, over the days begun (a day's early stragglers wait for its first point). */
    const compactionPoint = async (now: Date) => {
      const isInDay = now > DAY_START && now <= MIDNIGHT;
      if (isInDay) beforeCompaction ??= await compare(batch, realtime, now);
      await compact(
        now,
        [BEFORE, DAY, AFTER].filter((d) => dayStart(d) < now),
      );
      if (!isInDay) return;
      if (now.getTime() === MIDNIGHT.getTime()) endOfDay = await compare(batch, realtime, now);
      else inFlight.push(await compare(batch, realtime, now));
    };
    let nextPoint = Math.ceil((DAY_START.getTime() - EDGE_BEFORE_MS) / compactEvery) * compactEvery;
    for (const message of messages) {
      // The stream's time moves on with its messages (a late event or a redelivery does not move it back); a
      // micro-batch ends at a compaction point, as a consumer's batch ends with its window.
      const at = timeOf.get(message.messageId) ?? Number.NEGATIVE_INFINITY;
      while (at >= nextPoint) {
        await flush();
        await compactionPoint(new Date(nextPoint));
        nextPoint += compactEvery;
      }
      pending.push(message);
      if (pending.length >= batchSize) await flush();
    }
    await flush();
    // At rest: compaction until no day changes (a neighbour's new facts re-compact a day once).
    const restPasses: number[] = [];
    for (let pass = 0; pass < 5; pass++) {
      const result = await compact(settled, [BEFORE, DAY, AFTER]);
      const changed = result.days.filter((d) => d.status === 'compacted').length;
      restPasses.push(changed);
      if (changed === 0) break;
    }
    const atRest = await compare(batch, realtime, MIDNIGHT);
    // In flight from 06:00 on: the night's figures divide by a few hundred sessions.
    const fromSix = inFlight.filter((c) => Date.parse(c.end) >= Date.parse(`${DAY}T06:00:00Z`));
    return {
      command:
        `npx tsx bench/clicks-sessions.ts --events-per-day ${options.eventsPerDay} --batch-size ${batchSize}` +
        ` --compact-every ${compactEveryMinutes}`,
      day: DAY,
      eventsPerDay: options.eventsPerDay,
      streamedRecords: streamed,
      messages: messages.length,
      shuffle,
      microBatches,
      batchSize,
      compactEveryMinutes,
      compactions,
      batchDay: atRest.batch,
      beforeCompaction,
      inFlight,
      inFlightMaxAbsPct: maxAbs(inFlight),
      inFlightFrom06MaxAbsPct: maxAbs(fromSix),
      /** The last in-flight point (23:00): the day nearly whole. */
      inFlightLast: inFlight.at(-1),
      endOfDayBeforeNextDayCompacted: endOfDay,
      atRest,
      atRestPasses: restPasses,
      batchMs: Math.round(batchMs),
      streamMs: Math.round(streamMs),
      compactionMs: Math.round(compactionMs),
      seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const pct = (v: number | undefined) =>
  `${v !== undefined && v > 0 ? '+' : ''}${(v ?? Number.NaN).toFixed(2)} %`;

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      'events-per-day': { type: 'string', default: '100000' },
      'batch-size': { type: 'string', default: '500' },
      'compact-every': { type: 'string', default: '60' },
      out: { type: 'string', default: 'bench/results/clicks-sessions.json' },
    },
  });
  const figure = await benchClicksSessions({
    eventsPerDay: Number(values['events-per-day']),
    batchSize: Number(values['batch-size']),
    compactEveryMinutes: Number(values['compact-every']),
  });
  const line = (name: string, c: Comparison | undefined) =>
    console.log(
      `${name.padEnd(32)} ${MEASURES.map((m) => `${m} ${c?.realtime[m]}/${c?.batch[m]} (${pct(c?.differencePct[m])})`).join(' · ')}`,
    );
  console.log(`sessions_minute of ${figure.day} from 00:00, realtime/batch (relative difference):`);
  line(`before compaction, to ${figure.beforeCompaction?.end.slice(11, 16)}`, figure.beforeCompaction);
  for (const c of figure.inFlight.filter((_, i, all) => i % 3 === 2 || i === all.length - 1))
    line(`in flight, to ${c.end.slice(11, 16)}`, c);
  line('end of day, D+1 not compacted', figure.endOfDayBeforeNextDayCompacted);
  line('at rest (neighbours compacted)', figure.atRest);
  console.log(
    `in flight from 06:00, max |Δ|: ${MEASURES.map((m) => `${m} ${figure.inFlightFrom06MaxAbsPct[m].toFixed(2)} %`).join(', ')}`,
  );
  console.log(
    `${figure.streamedRecords.toLocaleString('en-US')} records streamed as ${figure.messages.toLocaleString('en-US')} messages ` +
      `(${figure.microBatches} micro-batches, shuffle ${figure.shuffle}), ${figure.compactions} compactions ` +
      `${figure.compactionMs} ms; batch ${figure.batchMs} ms, stream ${figure.streamMs} ms; ${figure.seconds} s`,
  );
  const out = values.out ?? 'bench/results/clicks-sessions.json';
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify({ measuredAt: new Date().toISOString(), machine: { cpus: os.cpus().length, node: process.version }, figure }, null, 2)}\n`,
  );
  console.log(`wrote ${out}`);
}
