/**
 * Event → visible in GET /sales latency through the whole local runtime (`twinflow start` as a child process):
 * orders sent to the orders queue at `--rate` per second for `--seconds`, with the dev stage's batching window
 * (8 s, as `npm start` reads it from the template) unless `--batching-window` is given. GET /sales is polled every 100 ms; an
 * order counts as visible when the day's order count first covers it (orders are sent and processed in order).
 *
 *   npx tsx bench/e2e-latency.ts [--rate 10] [--seconds 60] [--batching-window N]
 *
 * Prints p50/p90/p99/max and writes bench/results/e2e-latency.json. Numbers, not a pass/fail timer.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { stageConfig } from '../lib/stage-config.ts';
import { sendBodies } from '../local/order-feed.ts';
import { createOrderGenerator } from '../local/order-generator.ts';
import { eventually, REPO_ROOT, salesTotals, startTwinflow } from '../test/e2e/twinflow-process.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '60' },
    'batching-window': { type: 'string' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
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

const twinflow = await startTwinflow(dataDir, windowArgs);
try {
  const generator = createOrderGenerator({ seed: 5, idPrefix: `bench${Date.now().toString(36)}` });
  const day = new Date().toISOString().slice(0, 10);
  // Warm up: the first batch pays the function's cold start (worker, DuckDB); measure the steady state.
  await sendBodies(twinflow.sqs, twinflow.ordersQueueUrl, [JSON.stringify(generator.next(new Date()))]);
  const base = (
    await eventually(
      () => salesTotals(twinflow.apiUrl, day),
      (t) => t.orders >= 1,
      60_000,
    )
  ).orders;
  console.log(`runtime warm; sending ${rate} orders/s for ${seconds} s (${windowArgs.join(' ')})`);

  const sentAt: number[] = [];
  const visibleAt: number[] = [];
  let visible = 0;
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const totals = await salesTotals(twinflow.apiUrl, day).catch(() => undefined);
      const now = performance.now();
      const count = (totals?.orders ?? base) - base;
      while (visible < count && visible < sentAt.length) visibleAt[visible++] = now;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();

  const started = performance.now();
  for (let i = 0; i < rate * seconds; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    sentAt.push(performance.now());
    await sendBodies(twinflow.sqs, twinflow.ordersQueueUrl, [JSON.stringify(generator.next(new Date()))]);
  }
  const deadline = performance.now() + 60_000;
  while (visible < sentAt.length && performance.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  polling = false;
  await poller;

  const latencies = sentAt
    .map((t, i) => (visibleAt[i] === undefined ? Number.NaN : (visibleAt[i] as number) - t))
    .filter((ms) => Number.isFinite(ms))
    .sort((a, b) => a - b);
  const result = {
    benchmark: 'event → visible in GET /sales (local runtime, twinflow start)',
    rate,
    seconds,
    batchingWindow,
    sent: sentAt.length,
    visible: latencies.length,
    latencyMs: {
      p50: Math.round(percentile(latencies, 50)),
      p90: Math.round(percentile(latencies, 90)),
      p99: Math.round(percentile(latencies, 99)),
      max: Math.round(latencies.at(-1) ?? Number.NaN),
    },
    machine: { cpus: os.cpus().length, node: process.version },
    measuredAt: new Date().toISOString(),
  };
  console.log(JSON.stringify(result, null, 2));
  writeFileSync(
    path.join(REPO_ROOT, 'bench', 'results', 'e2e-latency.json'),
    `${JSON.stringify(result, null, 2)}\n`,
  );
} finally {
  await twinflow.stop('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
}
