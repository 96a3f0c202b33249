/**
 * Movement sent → low-stock alert visible in `GET /alerts`, through the whole local runtime (`twinflow start` as a
 * child process, no seed, no live feed, the dev stage's batching window as `npm start` reads it from the template
 * unless `--batching-window` is given). Nothing but the bench moves stock:
 *   1. one receipt of 2,000 units opens each sample's own key (product `bench-<run>-<i>`, warehouse `wh-b`, a new
 *      crossing each), all in one go, until `GET /stock` serves every key;
 *   2. then the bench writes `tables/reorder_points.csv` into the lake through the local S3 (1,000 for each key;
 *      written after the receipts, since a key the table lists that nothing moved is at 0, already below);
 *   3. per sample, one after the other: a sale of 1,500 units to `INVENTORY_QUEUE_URL` takes the key to 500, and
 *      `GET /alerts` is polled every 100 ms until it lists an open `low_stock` alert for that key.
 * A first crossing warms up (the first evaluation with the table) and is not timed. For each sample the runtime's
 * `ingest-inventory: batch of N ok (X ms)` lines and the alert's `raised_at` split the latency: send → raised (the
 * batching window, the poller, ingest and evaluation up to the state write) and raised → seen (the rest of the
 * evaluation and the poll).
 *
 *   npx tsx bench/alert-latency.ts [--samples 20] [--quick] [--batching-window N]
 *                                  [--out bench/results/alert-latency.json]
 *
 * --quick: 5 samples. Prints p50/p90/p99/max and writes the JSON file (`npm run bench` puts it in
 * bench/results.json as the `alert-latency` figure). Numbers, not a pass/fail timer.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { stageConfig } from '../lib/stage-config.ts';
import { ingestFunctionName } from '../lib/twinflow-functions.ts';
import type { StockMovement } from '../local/inventory-generator.ts';
import { sendBodies } from '../local/order-feed.ts';
import { eventually, REPO_ROOT, type RunningTwinflow, startTwinflow } from '../test/e2e/twinflow-process.ts';

const { values } = parseArgs({
  options: {
    samples: { type: 'string' },
    quick: { type: 'boolean', default: false },
    'batching-window': { type: 'string' },
    out: { type: 'string', default: path.join('bench', 'results', 'alert-latency.json') },
  },
});
const samples = Number(values.samples ?? (values.quick ? 5 : 20));
if (!Number.isInteger(samples) || samples < 1 || samples > 500) throw new Error('--samples is 1–500');
const batchingWindow = Number(
  values['batching-window'] ?? stageConfig('dev').stream.maxBatchingWindowSeconds,
);
const windowArgs = ['--batching-window', String(batchingWindow)];
const out = values.out ?? path.join('bench', 'results', 'alert-latency.json');

const RULE = 'low_stock';
const WAREHOUSE = 'wh-b';
const REORDER_POINT = 1000;
const OPENING = 2000;
const SALE = 1500;
/** The longest one sample may take: well past the window, ingest and evaluation. */
const SAMPLE_TIMEOUT_MS = Math.max(60_000, batchingWindow * 1000 * 4);

const run = Date.now().toString(36);
/** Key 0 is the warm-up crossing; 1..samples are timed. */
const products = Array.from({ length: samples + 1 }, (_, i) => `bench-${run}-${i}`);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

let sequence = 0;
function movement(product: string, type: 'receipt' | 'sale', quantity: number): string {
  const body: StockMovement = {
    movement_id: `bench-${run}-m${sequence++}`,
    product_id: product,
    warehouse_id: WAREHOUSE,
    movement_type: type,
    quantity,
    event_time: new Date().toISOString(),
  };
  return JSON.stringify(body);
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET ${url} ${response.status}: ${await response.text()}`);
  return (await response.json()) as T;
}

interface StockResponse {
  levels: { product_id: string; warehouse_id: string; on_hand: number }[];
}
interface AlertsResponse {
  open: { alert_id: string; rule: string; where: Record<string, string>; raised_at: string }[];
}

/** The bench's keys GET /stock serves, with their level. */
async function benchLevels(apiUrl: string): Promise<Map<string, number>> {
  const { levels } = await getJson<StockResponse>(`${apiUrl}/stock?warehouse_id=${WAREHOUSE}`);
  return new Map(levels.filter((l) => products.includes(l.product_id)).map((l) => [l.product_id, l.on_hand]));
}

/** The open low_stock alert of one key, if GET /alerts lists it. */
async function openAlert(apiUrl: string, product: string) {
  const { open } = await getJson<AlertsResponse>(`${apiUrl}/alerts`);
  return open.find(
    (a) => a.rule === RULE && a.where['product_id'] === product && a.where['warehouse_id'] === WAREHOUSE,
  );
}

/** Writes the bench's reorder points into the lake, through the runtime's local S3. */
async function writeReorderPoints(twinflow: RunningTwinflow): Promise<void> {
  const bucket = twinflow.env['LAKE_BUCKET'];
  const endpoint = twinflow.env['AWS_ENDPOINT_URL_S3'] ?? twinflow.env['AWS_ENDPOINT_URL'];
  if (!bucket || !endpoint) throw new Error('endpoints.env has no LAKE_BUCKET or S3 endpoint');
  const client = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    // As the runtime sets for its functions: s3rver does not understand trailing checksums.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  try {
    const csv = [
      'product_id,warehouse_id,reorder_point',
      ...products.map((p) => `${p},${WAREHOUSE},${REORDER_POINT}`),
    ].join('\n');
    await client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'tables/reorder_points.csv',
        Body: `${csv}\n`,
        ContentType: 'text/csv',
      }),
    );
  } finally {
    client.destroy();
  }
}

/** The runtime's `ingest-inventory: batch of N ok (X ms)` lines in `text`. */
function invocations(text: string) {
  const fn = ingestFunctionName('inventory');
  return [
    ...text.matchAll(new RegExp(`${fn}: batch of (\\d+) ok \\(([\\d.]+) (ms|s)(, cold start)?\\)`, 'g')),
  ].map((m) => ({
    size: Number(m[1]),
    ms: Number(m[2]) * (m[3] === 's' ? 1000 : 1),
    cold: m[4] !== undefined,
  }));
}

interface Sample {
  product: string;
  /** Sale sent → GET /alerts lists it. */
  ms: number;
  /** Sale sent → the alert's raised_at (wall clocks of one machine). */
  sentToRaisedMs: number;
  /** raised_at → first seen by the poller. */
  raisedToSeenMs: number;
  /** The ingest-inventory invocations printed meanwhile. */
  batches: { size: number; ms: number; cold: boolean }[];
  /** The rule evaluations those invocations timed (their `alertEvaluationMs` metric, in the function's log). */
  evaluationMs: number[];
}

/** The function's log (`<data>/logs/ingest-inventory.log`): where its metrics (EMF lines) go. */
const functionLog = () => path.join(dataDir, 'logs', `${ingestFunctionName('inventory')}.log`);
const logText = () => (existsSync(functionLog()) ? readFileSync(functionLog(), 'utf8') : '');
const evaluations = (text: string) =>
  [...text.matchAll(/"alertEvaluationMs":\s*([\d.]+)/g)].map((m) => Math.round(Number(m[1])));

/** One crossing: the sale, then GET /alerts every 100 ms until the key's alert is open. */
async function crossing(twinflow: RunningTwinflow, queueUrl: string, product: string): Promise<Sample> {
  const outputBefore = twinflow.output().length;
  const logBefore = logText().length;
  const sentWall = Date.now();
  const t0 = performance.now();
  await sendBodies(twinflow.sqs, queueUrl, [movement(product, 'sale', SALE)]);
  const deadline = t0 + SAMPLE_TIMEOUT_MS;
  while (performance.now() < deadline) {
    const alert = await openAlert(twinflow.apiUrl, product).catch(() => undefined);
    if (alert) {
      const seen = performance.now();
      const seenWall = Date.now();
      const raised = Date.parse(alert.raised_at);
      // The state is written (and the alert open) before the invocation ends: wait for its line (and its
      // metrics), so the next sale starts on an idle function.
      const printed = performance.now() + 10_000;
      while (invocations(twinflow.output().slice(outputBefore)).length === 0 && performance.now() < printed)
        await sleep(50);
      await sleep(200);
      return {
        product,
        ms: Math.round(seen - t0),
        sentToRaisedMs: raised - sentWall,
        raisedToSeenMs: seenWall - raised,
        batches: invocations(twinflow.output().slice(outputBefore)),
        evaluationMs: evaluations(logText().slice(logBefore)),
      };
    }
    await sleep(100);
  }
  throw new Error(`no open ${RULE} alert for ${product}/${WAREHOUSE} within ${SAMPLE_TIMEOUT_MS} ms`);
}

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bench-alerts-'));
let twinflow: RunningTwinflow | undefined;
const cleanUp = async () => {
  await twinflow?.stop('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void cleanUp().finally(() => process.exit(130));
  });
}

try {
  const started = performance.now();
  twinflow = await startTwinflow(dataDir, windowArgs);
  const queueUrl = twinflow.env['INVENTORY_QUEUE_URL'] ?? '';
  if (!queueUrl) throw new Error('endpoints.env has no INVENTORY_QUEUE_URL');
  console.log(
    `runtime ready in ${((performance.now() - started) / 1000).toFixed(1)} s (${windowArgs.join(' ')})`,
  );

  // 1. Every key opens above its point-to-be; the first batch also pays the function's cold start.
  const openingStart = performance.now();
  await sendBodies(
    twinflow.sqs,
    queueUrl,
    products.map((p) => movement(p, 'receipt', OPENING)),
  );
  const apiUrl = twinflow.apiUrl;
  await eventually(
    () => benchLevels(apiUrl),
    (levels) => products.every((p) => levels.get(p) === OPENING),
    SAMPLE_TIMEOUT_MS + 30_000,
  );
  const openingSeconds = Number(((performance.now() - openingStart) / 1000).toFixed(1));
  // 2. The reorder points, now that no bench key is at 0.
  await writeReorderPoints(twinflow);
  console.log(
    `${products.length} keys open at ${OPENING} (${openingSeconds} s); reorder points ${REORDER_POINT}`,
  );

  // 3. The crossings, one at a time (each sale alone in its micro-batch).
  const warmup = await crossing(twinflow, queueUrl, products[0] as string);
  console.log(`warm-up crossing: ${warmup.ms} ms (not timed)`);
  const measured: Sample[] = [];
  for (const product of products.slice(1)) {
    const sample = await crossing(twinflow, queueUrl, product);
    measured.push(sample);
    const batches = sample.batches.map((b) => `${b.size} in ${b.ms} ms`).join(', ') || 'none printed';
    console.log(
      `${measured.length}/${samples} ${product}: ${sample.ms} ms (sent → raised ${sample.sentToRaisedMs} ms, ` +
        `raised → seen ${sample.raisedToSeenMs} ms; batches ${batches}; ` +
        `evaluation ${sample.evaluationMs.join(', ') || '?'} ms)`,
    );
  }

  const sorted = measured.map((s) => s.ms).sort((a, b) => a - b);
  const stats = (list: number[]) => {
    const s = [...list].sort((a, b) => a - b);
    return { p50: Math.round(percentile(s, 50)), max: Math.round(s.at(-1) ?? Number.NaN) };
  };
  const batchMs = measured.flatMap((s) => s.batches.map((b) => b.ms));
  const result = {
    benchmark: 'movement sent → low-stock alert open in GET /alerts (local runtime, twinflow start)',
    dataset: 'inventory',
    rule: RULE,
    route: 'GET /alerts',
    samples,
    batchingWindow,
    batchSize: stageConfig('dev').stream.batchSize,
    latencyMs: {
      p50: Math.round(percentile(sorted, 50)),
      p90: Math.round(percentile(sorted, 90)),
      p99: Math.round(percentile(sorted, 99)),
      max: Math.round(sorted.at(-1) ?? Number.NaN),
      min: Math.round(sorted[0] ?? Number.NaN),
    },
    /** Where the time goes (p50 and max of each part). */
    breakdownMs: {
      sentToRaised: stats(measured.map((s) => s.sentToRaisedMs)),
      raisedToSeen: stats(measured.map((s) => s.raisedToSeenMs)),
      ingestInvocation: stats(batchMs),
      /** Of which the rule's evaluation (observe, state write, delivery). */
      evaluation: stats(measured.flatMap((s) => s.evaluationMs)),
    },
    warmupMs: warmup.ms,
    openingSeconds,
    measured: measured.map((s) => ({
      product: s.product,
      ms: s.ms,
      sentToRaisedMs: s.sentToRaisedMs,
      raisedToSeenMs: s.raisedToSeenMs,
      batchesMs: s.batches.map((b) => b.ms),
      evaluationMs: s.evaluationMs,
    })),
    machine: {
      cpus: os.cpus().length,
      node: process.version,
      loadAverage1m: Number((os.loadavg()[0] ?? 0).toFixed(2)),
    },
    measuredAt: new Date().toISOString(),
  };
  console.log(JSON.stringify({ ...result, measured: undefined }, null, 2));
  console.log(
    `alert latency over ${samples} samples: p50 ${result.latencyMs.p50} ms · p99 ${result.latencyMs.p99} ms · max ${result.latencyMs.max} ms (${batchingWindow} s window)`,
  );
  writeFileSync(path.resolve(REPO_ROOT, out), `${JSON.stringify(result, null, 2)}\n`);
} finally {
  await cleanUp();
}
