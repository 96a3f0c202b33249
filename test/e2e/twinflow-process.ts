import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SQSClient } from '@aws-sdk/client-sqs';
import { revenueJson } from '../../functions/pipeline/money.ts';
import type { OrderEvent } from '../../local/order-generator.ts';

/** Drives `twinflow start` as a user would: a child process on free loopback ports, talked to over HTTP/SQS. */

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = path.join(REPO_ROOT, 'cli', 'twinflow.js');

export interface RunningTwinflow {
  child: ChildProcess;
  env: Record<string, string>;
  apiUrl: string;
  ordersQueueUrl: string;
  sqs: SQSClient;
  output(): string;
  /** SIGTERM and wait for a clean exit (or SIGKILL). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

function readEnvFile(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (match?.[1]) env[match[1]] = match[2] ?? '';
  }
  return env;
}

/**
 * Starts `twinflow start` on free ports. A test counts what it sends, so the first-start seed is off unless
 * `seed` is set. `env` adds variables (e.g. `TWINFLOW_DATASETS_DIR`).
 */
export async function startTwinflow(
  dataDir: string,
  extraArgs: string[] = [],
  { seed = false, env: extraEnv = {} }: { seed?: boolean; env?: Record<string, string> } = {},
): Promise<RunningTwinflow> {
  const args = [
    CLI,
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
    dataDir,
    '--rate',
    '0',
    ...(seed ? [] : ['--no-seed']),
  ];
  // A short batching window keeps tests fast; pass `--batching-window` yourself to override it.
  const window = extraArgs.includes('--batching-window') ? [] : ['--batching-window', '1'];
  const child = spawn(process.execPath, [...args, ...window, ...extraArgs], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`twinflow start not ready in 60 s:\n${output}`)), 60_000);
    const onData = () => {
      if (output.includes('ready — Ctrl-C to stop')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`twinflow start exited with ${code}:\n${output}`));
    });
  });
  const env = readEnvFile(path.join(dataDir, 'endpoints.env'));
  const sqs = new SQSClient({
    region: 'us-east-1',
    endpoint: env['AWS_ENDPOINT_URL_SQS'],
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  return {
    child,
    env,
    apiUrl: env['TWINFLOW_API_URL'] ?? '',
    ordersQueueUrl: env['ORDERS_QUEUE_URL'] ?? '',
    sqs,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      sqs.destroy();
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** `twinflow invoke <fn>` against a running runtime's endpoints (its endpoints.env). */
export async function invokeAgainst(
  running: RunningTwinflow,
  name: string,
  event: unknown,
  dir: string,
): Promise<unknown> {
  const file = path.join(dir, `${name}-event.json`);
  await writeFile(file, JSON.stringify(event));
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'invoke', name, '--event', file], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...running.env },
    maxBuffer: 10_000_000,
  });
  return JSON.parse(stdout);
}

interface SalesResponse {
  totals: { orders: number; units: number; revenue?: string; revenue_by_currency: Record<string, string> };
}

/** GET /sales totals for one UTC day. */
export async function salesTotals(apiUrl: string, day: string): Promise<SalesResponse['totals']> {
  const response = await fetch(`${apiUrl}/sales?start=${day}T00:00:00Z&end=${day}T23:59:59Z&granularity=day`);
  if (!response.ok) throw new Error(`GET /sales ${response.status}: ${await response.text()}`);
  return ((await response.json()) as SalesResponse).totals;
}

/** GET /metrics/<model> totals over [start, end) (hourly buckets). */
export async function metricTotals(
  apiUrl: string,
  model: string,
  range: { start: Date; end: Date },
): Promise<Record<string, unknown>> {
  const query = new URLSearchParams({
    start: range.start.toISOString(),
    end: range.end.toISOString(),
    granularity: 'hour',
  });
  const response = await fetch(`${apiUrl}/metrics/${model}?${query}`);
  if (!response.ok) throw new Error(`GET /metrics/${model} ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { totals: Record<string, unknown> }).totals;
}

/** The exact totals of a set of valid orders, money in cents (no floating point). */
export function expectedTotals(orders: readonly OrderEvent[]): SalesResponse['totals'] {
  const cents = new Map<string, bigint>();
  let units = 0;
  for (const order of orders) {
    const [whole = '0', fraction = ''] = order.unit_price.split('.');
    const amount =
      BigInt(whole) * 100n * BigInt(order.quantity) +
      BigInt(fraction.padEnd(2, '0')) * BigInt(order.quantity);
    const currency = order.currency ?? 'USD';
    cents.set(currency, (cents.get(currency) ?? 0n) + amount);
    units += order.quantity;
  }
  return { orders: orders.length, units, ...revenueJson(cents) };
}

/** Polls until `check` returns true (or throws with the last value seen). */
export async function eventually<T>(
  read: () => Promise<T>,
  check: (value: T) => boolean,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await read();
      if (check(last)) return last;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(
    `not reached in ${timeoutMs} ms; last ${JSON.stringify(last)} ${lastError ? String(lastError) : ''}`,
  );
}
