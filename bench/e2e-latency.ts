/**
 * Event → visible latency through the whole local runtime (`twinflow start` as a child process), for a dataset with
 * a stream: its events sent to its queue (from endpoints.env) at `--rate` per second for `--seconds`, with the dev
 * stage's batching window (8 s, as `npm start` reads it from the template) unless `--batching-window` is given.
 * The dataset's route is polled every 100 ms; an event counts as visible when the count it adds to is first
 * covered (events are sent and processed in order):
 *   orders — GET /sales, the day's order count (one per order);
 *   clicks — GET /metrics/funnel_minute, product_views + add_to_carts + checkouts + purchases over the bench's range
 *            (one per click but page views, which the funnel does not count: they are sent, not timed). The clicks
 *            are realistic sessions (local/click-generator.ts) stamped with the time they are sent.
 * With `--burst N`, N more events (of the last minutes) are then sent as fast as SQS takes them (8 senders), after
 * a warm-up of two batches per container the mapping's concurrency allows, and timed until the queue holds none: events/s through the consumer (`ingest-<dataset>` behind the template's event
 * source mapping: batch size, concurrency), overall and while draining what was left when the last send returned
 * (the producer no longer taking CPU), with the invocations the runtime printed.
 *
 *   npx tsx bench/e2e-latency.ts [--dataset orders|clicks] [--rate N] [--seconds 60] [--batching-window N]
 *                                [--burst 0] [--out bench/results/e2e-latency[-<dataset>].json]
 *
 * --rate defaults to what `npm start` sends: 10 orders/s, 50 clicks/s. Prints p50/p90/p99/max (and the burst's events/s) and writes the JSON file. Numbers, not a pass/fail timer.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { stageConfig } from '../lib/stage-config.ts';
import { datasetVariable, ingestFunctionName } from '../lib/twinflow-functions.ts';
import { type ClickEvent, clicksBetween, eventsPerSession } from '../local/click-generator.ts';
import { CLICKS_PER_ORDER, sendBodies } from '../local/order-feed.ts';
import { createOrderGenerator } from '../local/order-generator.ts';
import {
  eventually,
  metricTotals,
  REPO_ROOT,
  type RunningTwinflow,
  salesTotals,
  startTwinflow,
} from '../test/e2e/twinflow-process.ts';

/** How a dataset's events are made and seen on the running platform. */
interface Probe {
  /** What is polled. */
  route: string;
  /** An event happening at `now`: its body and how much it adds to `visible()`. */
  next(now: Date): { body: string; adds: number };
  /** About `count` events of the minutes before `now`, and what they add to `visible()`. */
  backlog(count: number, now: Date): { bodies: string[]; adds: number };
  /** The count visible now. */
  visible(): Promise<number>;
}

const idPrefix = `bench${Date.now().toString(36)}`;

function ordersProbe(twinflow: RunningTwinflow): Probe {
  const generator = createOrderGenerator({ seed: 5, idPrefix });
  const day = new Date().toISOString().slice(0, 10);
  const next = (now: Date) => ({ body: JSON.stringify(generator.next(now)), adds: 1 });
  return {
    route: 'GET /sales',
    next,
    backlog: (count, now) => ({
      bodies: Array.from({ length: count }, () => next(now).body),
      adds: count,
    }),
    visible: async () => (await salesTotals(twinflow.apiUrl, day)).orders,
  };
}

/** A click counts in funnel_minute unless it is a page view. */
const funnelAdds = (click: ClickEvent) => (click.event_type === 'page_view' ? 0 : 1);
const FUNNEL_COUNTS = ['product_views', 'add_to_carts', 'checkouts', 'purchases'];

function clicksProbe(twinflow: RunningTwinflow): Probe {
  const started = Date.now();
  // The bench's range: from an hour before it started (the backlog's clicks) for a day, whatever midnight does.
  const range = { start: new Date(started - 3_600_000), end: new Date(started + 86_400_000) };
  let pool: ClickEvent[] = [];
  let batch = 0;
  /** Realistic sessions (the funnel's drop-off, hot products), `sessions` at a time. */
  const sessions = (count: number, end: Date, minutes: number) =>
    clicksBetween({
      start: new Date(end.getTime() - minutes * 60_000),
      end,
      sessions: count,
      seed: 5 + batch,
      idPrefix: `${idPrefix}-${batch++}`,
    });
  return {
    route: 'GET /metrics/funnel_minute',
    next(now) {
      if (pool.length === 0) pool = sessions(1_000, now, 60).reverse();
      const click = pool.pop() as ClickEvent;
      return { body: JSON.stringify({ ...click, event_time: now.toISOString() }), adds: funnelAdds(click) };
    },
    backlog(count, now) {
      // Sessions still going at `now` are cut there: more sessions than the mean asks for, then `count` events.
      const clicks = sessions(Math.ceil((1.5 * count) / eventsPerSession()), now, 20).slice(0, count);
      return {
        bodies: clicks.map((c) => JSON.stringify(c)),
        adds: clicks.reduce((sum, c) => sum + funnelAdds(c), 0),
      };
    },
    async visible() {
      const totals = await metricTotals(twinflow.apiUrl, 'funnel_minute', range);
      return FUNNEL_COUNTS.reduce((sum, measure) => sum + Number(totals[measure] ?? 0), 0);
    },
  };
}

const PROBES: Record<string, { probe: (twinflow: RunningTwinflow) => Probe; rate: number }> = {
  orders: { probe: ordersProbe, rate: 10 },
  // As `npm start` sends them beside its default 10 orders/s.
  clicks: { probe: clicksProbe, rate: 10 * CLICKS_PER_ORDER },
};

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'orders' },
    rate: { type: 'string' },
    seconds: { type: 'string', default: '60' },
    'batching-window': { type: 'string' },
    burst: { type: 'string', default: '0' },
    out: { type: 'string' },
  },
});
const datasetName = values.dataset ?? 'orders';
const probeOf = PROBES[datasetName];
if (!probeOf) throw new Error(`--dataset is one of ${Object.keys(PROBES).join(', ')}`);
const rate = Number(values.rate ?? probeOf.rate);
const seconds = Number(values.seconds);
const burst = Number(values.burst);
const out =
  values.out ??
  path.join(
    'bench',
    'results',
    datasetName === 'orders' ? 'e2e-latency.json' : `e2e-latency-${datasetName}.json`,
  );
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bench-'));
// The dev stage's window is what `npm start` reads from the template. It is passed explicitly because the e2e
// helper otherwise shortens the window to 1 s to keep tests fast.
const batchingWindow = Number(
  values['batching-window'] ?? stageConfig('dev').stream.maxBatchingWindowSeconds,
);
const windowArgs = ['--batching-window', String(batchingWindow)];

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Event → visible at `rate`/s for `seconds`: each counted event's send time against when the count covered it. */
async function latency(twinflow: RunningTwinflow, queueUrl: string, probe: Probe) {
  // Warm up: the first batch pays the function's cold start (worker, DuckDB); measure the steady state.
  let warmup: { body: string; adds: number };
  do warmup = probe.next(new Date());
  while (warmup.adds === 0);
  await sendBodies(twinflow.sqs, queueUrl, [warmup.body]);
  const base = await eventually(
    () => probe.visible(),
    (count) => count >= warmup.adds,
    60_000,
  );
  console.log(`runtime warm; sending ${rate} ${datasetName}/s for ${seconds} s (${windowArgs.join(' ')})`);

  /** When each counted event was sent (events adding nothing are sent, not timed). */
  const sentAt: number[] = [];
  const visibleAt: number[] = [];
  let sent = 0;
  let visible = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const count = ((await probe.visible().catch(() => undefined)) ?? base) - base;
      const now = performance.now();
      while (visible < count && visible < sentAt.length) visibleAt[visible++] = now;
      await sleep(100);
    }
  })();

  const started = performance.now();
  for (let i = 0; i < rate * seconds; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const event = probe.next(new Date());
    const at = performance.now();
    await sendBodies(twinflow.sqs, queueUrl, [event.body]);
    sent += 1;
    for (let n = 0; n < event.adds; n++) sentAt.push(at);
  }
  const deadline = performance.now() + 60_000;
  while (visible < sentAt.length && performance.now() < deadline) await sleep(100);
  polling = false;
  await poller;

  const latencies = sentAt
    .map((t, i) => (visibleAt[i] === undefined ? Number.NaN : (visibleAt[i] as number) - t))
    .filter((ms) => Number.isFinite(ms))
    .sort((a, b) => a - b);
  return {
    sent,
    counted: sentAt.length,
    visible: latencies.length,
    latencyMs: {
      p50: Math.round(percentile(latencies, 50)),
      p90: Math.round(percentile(latencies, 90)),
      p99: Math.round(percentile(latencies, 99)),
      max: Math.round(latencies.at(-1) ?? Number.NaN),
    },
  };
}

/** Messages waiting or in flight in a queue. */
async function queued(twinflow: RunningTwinflow, queueUrl: string): Promise<number> {
  const { Attributes: a = {} } = await twinflow.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
}

/**
 * `count` events sent as fast as SQS takes them (8 senders): consumed when the queue holds none (each was deleted
 * after its invocation succeeded; the queue is polled, not the API, so queries take no CPU from the consumer), then
 * checked visible.
 */
async function throughput(twinflow: RunningTwinflow, queueUrl: string, probe: Probe, count: number) {
  const fn = ingestFunctionName(datasetName);
  const { batchSize, maxConcurrency } = stageConfig('dev').stream;
  const send = async (bodies: readonly string[]) => {
    const senders = 8;
    const share = Math.ceil(bodies.length / senders);
    await Promise.all(
      Array.from({ length: senders }, (_, i) =>
        sendBodies(twinflow.sqs, queueUrl, bodies.slice(i * share, (i + 1) * share)),
      ),
    );
  };
  // Warm up every container the mapping's concurrency may use (their cold starts are not throughput), then time.
  const warmup = probe.backlog(2 * batchSize * maxConcurrency, new Date());
  const warmupStart = performance.now();
  await send(warmup.bodies);
  while ((await queued(twinflow, queueUrl)) > 0) await sleep(250);
  const warmupSeconds = Number(((performance.now() - warmupStart) / 1000).toFixed(1));
  const base = await probe.visible();
  const { bodies, adds } = probe.backlog(count, new Date());
  const outputBefore = twinflow.output().length;
  console.log(
    `burst: ${bodies.length} ${datasetName} as fast as SQS takes them (after ${warmup.bodies.length} to warm up, ${warmupSeconds} s)`,
  );
  const t0 = performance.now();
  await send(bodies);
  const sentMs = performance.now() - t0;
  const backlog = await queued(twinflow, queueUrl);
  while ((await queued(twinflow, queueUrl)) > 0) await sleep(250);
  const ms = performance.now() - t0;
  const seen = await eventually(
    () => probe.visible(),
    (n) => n - base >= adds,
    60_000,
  );
  // The runtime prints each invocation: `ingest-clicks: batch of 100 ok (350 ms)`, `… ok (1.2 s, cold start)`.
  const invocations = [
    ...twinflow
      .output()
      .slice(outputBefore)
      .matchAll(new RegExp(`${fn}: batch of (\\d+) ok \\(([\\d.]+) (ms|s)(, cold start)?\\)`, 'g')),
  ].map((m) => ({
    size: Number(m[1]),
    ms: Number(m[2]) * (m[3] === 's' ? 1000 : 1),
    cold: m[4] !== undefined,
  }));
  const durations = invocations.map((i) => i.ms).sort((a, b) => a - b);
  return {
    warmup: { events: warmup.bodies.length, seconds: warmupSeconds },
    events: bodies.length,
    counted: adds,
    visible: seen - base,
    sendSeconds: Number((sentMs / 1000).toFixed(1)),
    consumedSeconds: Number((ms / 1000).toFixed(1)),
    eventsPerSecond: Math.round(bodies.length / (ms / 1000)),
    /** Left in the queue when the last send returned, and how fast that drained with no producer. */
    backlogAtSendEnd: backlog,
    drainEventsPerSecond: ms > sentMs ? Math.round(backlog / ((ms - sentMs) / 1000)) : null,
    invocations: invocations.length,
    invokedEvents: invocations.reduce((sum, i) => sum + i.size, 0),
    coldStarts: invocations.filter((i) => i.cold).length,
    invocationMs: { p50: percentile(durations, 50), p90: percentile(durations, 90) },
  };
}

const twinflow = await startTwinflow(dataDir, windowArgs);
try {
  const queueUrl = twinflow.env[datasetVariable(datasetName, 'QUEUE_URL')] ?? '';
  if (!queueUrl) throw new Error(`endpoints.env has no ${datasetVariable(datasetName, 'QUEUE_URL')}`);
  const probe = probeOf.probe(twinflow);
  const measured = await latency(twinflow, queueUrl, probe);
  const burstResult = burst > 0 ? await throughput(twinflow, queueUrl, probe, burst) : undefined;
  const result = {
    benchmark: `event → visible in ${probe.route} (local runtime, twinflow start)`,
    dataset: datasetName,
    route: probe.route,
    rate,
    seconds,
    batchingWindow,
    // The rest of the event source mapping, as the dev template declares it.
    batchSize: stageConfig('dev').stream.batchSize,
    maxConcurrency: stageConfig('dev').stream.maxConcurrency,
    ...measured,
    ...(burstResult ? { burst: burstResult } : {}),
    machine: { cpus: os.cpus().length, node: process.version },
    measuredAt: new Date().toISOString(),
  };
  console.log(JSON.stringify(result, null, 2));
  writeFileSync(path.resolve(REPO_ROOT, out), `${JSON.stringify(result, null, 2)}\n`);
} finally {
  await twinflow.stop('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
}
