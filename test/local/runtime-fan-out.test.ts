import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPublished } from '../../functions/pipeline/batch-published.ts';
import { dataset } from '../../functions/pipeline/datasets.ts';
import type { ObjectStore } from '../../functions/pipeline/object-store.ts';
import { openStore } from '../../functions/pipeline/open-store.ts';
import { synthTemplate } from '../../lib/synth.ts';
import { writeDatasetLandingExport } from '../../local/landing-export.ts';
import { type Runtime, startRuntime } from '../../local/runtime.ts';
import type { CfnTemplate } from '../../local/template-plan.ts';
import { executionEnded } from '../support/step-functions.ts';

/**
 * `twinflow start` runs the fan-out state machine of its template: run-batch (in its worker, with the environment
 * the template gives it) starts an execution on the runtime's Step Functions API, which invokes the batch-fan-out
 * function's workers and publishes the day; endpoints.env names the API and the state machine.
 */

const DAY = '2026-11-20';
let runtime: Runtime;
let dataDir: string;
let store: ObjectStore;
let sfn: SFNClient;
const printed: string[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'twinflow-runtime-fan-out-'));
  // A 1-byte threshold: every day with exports is fanned out.
  const template = synthTemplate('dev', {
    batch: { fanOutThresholdBytes: 1, fanOutBuckets: 2 },
  }) as CfnTemplate;
  runtime = await startRuntime({
    template,
    dataDir,
    port: 0,
    rate: 0,
    seed: false,
    print: (l) => printed.push(l),
  });
  const env = readFileSync(path.join(dataDir, 'endpoints.env'), 'utf8');
  const bucket = /^LAKE_BUCKET=(.*)$/m.exec(env)?.[1] ?? '';
  store = openStore(`s3://${bucket}`, {
    endpoint: runtime.endpoints.s3,
    region: 'us-east-1',
    cacheDir: path.join(dataDir, 'test-cache'),
  });
  process.env['AWS_ACCESS_KEY_ID'] ??= 'local';
  process.env['AWS_SECRET_ACCESS_KEY'] ??= 'local';
  for (const seed of [1, 2]) {
    await writeDatasetLandingExport({ dataset: dataset('orders'), day: DAY, rows: 300, seed }, store);
  }
  sfn = new SFNClient({
    endpoint: runtime.endpoints.stepFunctions ?? '',
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}, 180_000);

afterAll(async () => {
  sfn?.destroy();
  await runtime?.stop();
  await rm(dataDir, { recursive: true, force: true });
}, 120_000);

describe('the local runtime runs the fan-out state machine for run-batch', () => {
  it('names the Step Functions API and the state machine in endpoints.env', () => {
    const env = readFileSync(path.join(dataDir, 'endpoints.env'), 'utf8');
    expect(env).toContain(`AWS_ENDPOINT_URL_SFN=${runtime.endpoints.stepFunctions}\n`);
    const arn = Object.values(runtime.stepFunctions?.stateMachineArns ?? {})[0];
    expect(arn).toMatch(/^arn:aws:states:us-east-1:123456789012:stateMachine:BatchFanOutDay/);
    expect(env).toContain(`BATCH_FAN_OUT_STATE_MACHINE_ARN=${arn}\n`);
  });

  it('hands a day over from run-batch, runs the execution on the functions and publishes the day', async () => {
    const outcome = await runtime.invoke('run-batch', { date: DAY });
    expect(outcome.ok, JSON.stringify(outcome.error)).toBe(true);
    const result = outcome.result as {
      handedOver: number;
      days: { status: string; executionArn?: string }[];
    };
    expect(result).toMatchObject({ handedOver: 1, days: [{ status: 'handed-over' }] });
    const executionArn = result.days[0]?.executionArn ?? '';

    const described = await executionEnded(sfn, executionArn, { timeoutMs: 150_000, pollMs: 250 });

    expect(described, described?.cause).toMatchObject({ status: 'SUCCEEDED' });
    expect(JSON.parse(described?.output ?? '{}')).toMatchObject({
      plan: { mode: 'fan-out', files: 2 },
      result: { status: 'published' },
    });
    expect((await readPublished(store)).index.days[DAY]).toBeDefined();
    expect(printed.some((l) => /step functions: orders-2026-11-20-\w+ SUCCEEDED/.test(l))).toBe(true);
    // Asked again while nothing changed: the day is done, no second execution.
    const again = await runtime.invoke('run-batch', { startDate: DAY, endDate: DAY });
    expect(again.result).toMatchObject({ skipped: 1, handedOver: 0 });
    expect(runtime.stepFunctions?.executions()).toHaveLength(1);
  }, 200_000);
});
