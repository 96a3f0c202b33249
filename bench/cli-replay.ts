/**
 * Two figures of issue 18, as one bench:
 *
 * - CLI start-up: `node cli/twinflow.js --help` (the compiled CLI, scripts/build-cli.mjs) against the same command
 *   through tsx (`TWINFLOW_CLI_TSX=1`), medians of `--runs` runs each, measured in one run (a ratio).
 * - Replay: a generated day file of `--orders` orders through `twinflow replay` in-process (its default micro-batch
 *   size) into a fresh lake, compaction included, wall clock; and the first `--small-orders` of them in batches of
 *   100 (SQS's size), for the ratio.
 *
 *   npx tsx bench/cli-replay.ts [--runs 10] [--orders 1000000] [--small-orders 20000] [--out bench/results/cli-replay.json]
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createOrderGenerator } from '../local/order-generator.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BIN = path.join(ROOT, 'cli', 'twinflow.js');

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    orders: { type: 'string', default: '1000000' },
    'small-orders': { type: 'string', default: '20000' },
    out: { type: 'string', default: 'bench/results/cli-replay.json' },
  },
});
const runs = Number(values.runs);
const orders = Number(values.orders);
const smallOrders = Math.min(orders, Number(values['small-orders']));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const round = (x: number, digits = 0) => Number(x.toFixed(digits));

/** Wall clock of one command, ms; throws with its output when it fails. */
function timed(args: string[], env: NodeJS.ProcessEnv = {}): number {
  const t0 = performance.now();
  const out = spawnSync(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  const ms = performance.now() - t0;
  if (out.status !== 0)
    throw new Error(`${args.join(' ')} exited ${out.status}: ${out.stderr || out.stdout}`);
  return ms;
}

function startup() {
  timed([BIN, '--help']); // builds the CLI if a source changed
  const compiled = Array.from({ length: runs }, () => timed([BIN, '--help']));
  const tsx = Array.from({ length: Math.max(3, Math.ceil(runs / 2)) }, () =>
    timed([BIN, '--help'], { TWINFLOW_CLI_TSX: '1' }),
  );
  return { compiledMs: round(median(compiled)), tsxMs: round(median(tsx)), runs };
}

/** A day of generated orders, spread evenly over 2026-11-20 (UTC), as a .jsonl file. */
function dayFile(dir: string, count: number): string {
  const generator = createOrderGenerator({ seed: 18 });
  const start = Date.parse('2026-11-20T00:00:00Z');
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    lines.push(JSON.stringify(generator.next(new Date(start + Math.floor((i / count) * 86_400_000)))));
  }
  const file = path.join(dir, `day-${count}.jsonl`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

function replay(file: string, count: number, batchArgs: string[]) {
  const lake = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bench-replay-'));
  try {
    const ms = timed([BIN, 'replay', '--file', file, '--lake', lake, ...batchArgs]);
    return { orders: count, seconds: round(ms / 1000, 1), eventsPerSecond: round(count / (ms / 1000)) };
  } finally {
    rmSync(lake, { recursive: true, force: true });
  }
}

const work = mkdtempSync(path.join(os.tmpdir(), 'twinflow-bench-day-'));
try {
  const cli = startup();
  console.log(`cli --help: compiled ${cli.compiledMs} ms, tsx ${cli.tsxMs} ms (medians of ${runs})`);
  const big = replay(dayFile(work, orders), orders, []);
  console.log(
    `replay ${orders} orders (default batch size): ${big.seconds} s, ${big.eventsPerSecond} events/s`,
  );
  const small = replay(dayFile(work, smallOrders), smallOrders, ['--batch-size', '100']);
  console.log(
    `replay ${smallOrders} orders in batches of 100: ${small.seconds} s, ${small.eventsPerSecond} events/s`,
  );
  const result = {
    cli,
    replay: {
      default: big,
      batchesOf100: small,
      speedup: round(big.eventsPerSecond / small.eventsPerSecond, 1),
    },
    machine: { cpus: os.cpus().length, loadAverage1m: round(os.loadavg()[0] ?? 0, 2) },
  };
  mkdirSync(path.dirname(path.resolve(ROOT, values.out)), { recursive: true });
  writeFileSync(path.resolve(ROOT, values.out), `${JSON.stringify(result, null, 2)}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
