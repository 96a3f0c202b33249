// Times the local runtime's start-up and a function's cold start, for one or more checkouts in one run (rounds
// alternate between them, so a loaded machine slows each alike): `node scripts/measure-start.mjs [--rounds N]
// [repo…]` (default: this repository). Per round and checkout: `twinflow start --no-seed` on free ports from
// spawn to its "ready" line; the first GET /sales (query-sales' cold start in the runtime) and the second (warm);
// `twinflow invoke query-sales` against it (its process, and the cold start it prints). Medians, and each
// checkout's ratio to the first. A checkout needs its own node_modules/ directory (its entries may be symlinks to
// this one's), since its build and template cache go to node_modules/.cache/.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const args = process.argv.slice(2);
const roundsAt = args.indexOf('--rounds');
const rounds = roundsAt >= 0 ? Number(args.splice(roundsAt, 2)[1]) : 3;
const repos =
  args.length > 0 ? args.map((r) => path.resolve(r)) : [fileURLToPath(new URL('../', import.meta.url))];
const READY = 'ready — Ctrl-C to stop';

function readEnv(file) {
  const env = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (match) env[match[1]] = match[2];
  }
  return env;
}

async function timed(run) {
  const started = performance.now();
  const result = await run();
  return { ms: performance.now() - started, result };
}

async function round(repo) {
  const data = mkdtempSync(path.join(os.tmpdir(), 'twinflow-measure-'));
  const cli = path.join(repo, 'cli', 'twinflow.js');
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      cli,
      'start',
      '--port',
      '0',
      '--s3-port',
      '0',
      '--sqs-port',
      '0',
      '--sfn-port',
      '0',
      '--data',
      data,
      '--rate',
      '0',
      '--no-seed',
    ],
    { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready in 120 s:\n${output}`)), 120_000);
    const onData = (chunk) => {
      output += chunk;
      if (output.includes(READY)) {
        clearTimeout(timer);
        resolve(performance.now() - started);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`start exited with ${code}:\n${output}`)));
  });
  try {
    const env = readEnv(path.join(data, 'endpoints.env'));
    const url = `${env.TWINFLOW_API_URL}/sales?start=2026-01-01T00:00:00Z&end=2026-01-01T23:59:59Z&granularity=day`;
    const get = async () => {
      const response = await fetch(url);
      if (!response.ok) throw new Error(`GET /sales ${response.status}: ${await response.text()}`);
      await response.arrayBuffer();
    };
    const cold = await timed(get);
    const warm = await timed(get);
    const invoke = await timed(() =>
      promisify(execFile)(
        process.execPath,
        [cli, 'invoke', 'query-sales', '--event', path.join(repo, 'events', 'apigw-sales-1day.json')],
        { cwd: repo, env: { ...process.env, ...env }, maxBuffer: 10_000_000 },
      ),
    );
    const printed = /in (\d+) ms \(cold start\)/.exec(invoke.result.stderr);
    return {
      'start → ready': ready,
      'GET /sales, cold start': cold.ms,
      'GET /sales, warm': warm.ms,
      'invoke process': invoke.ms,
      'invoke, cold start it prints': printed ? Number(printed[1]) : Number.NaN,
    };
  } finally {
    child.kill('SIGTERM');
    await exited;
    rmSync(data, { recursive: true, force: true });
  }
}

const samples = repos.map(() => []);
for (const repo of repos) await round(repo); // warm-up: builds, template caches, OS file cache
for (let i = 0; i < rounds; i++) {
  for (const [index, repo] of repos.entries()) samples[index].push(await round(repo));
}
const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const names = Object.keys(samples[0][0]);
const medians = samples.map((s) => Object.fromEntries(names.map((n) => [n, median(s.map((r) => r[n]))])));
console.log(`median of ${rounds} rounds (ms), load average ${os.loadavg()[0].toFixed(1)}`);
for (const name of names) {
  const cells = medians.map((m, i) => {
    const ratio = i === 0 ? '' : ` (${(m[name] / medians[0][name]).toFixed(2)}×)`;
    return `${Math.round(m[name])}${ratio}`.padEnd(16);
  });
  console.log(`${name.padEnd(30)} ${cells.join(' ')}`);
}
console.log(`${''.padEnd(30)} ${repos.map((r) => r.padEnd(16)).join(' ')}`);
for (const [index, repo] of repos.entries()) {
  for (const name of names)
    console.log(`${repo} ${name}: ${samples[index].map((r) => Math.round(r[name])).join(' ')}`);
}
