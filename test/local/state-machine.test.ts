import { cp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Handler } from 'aws-lambda';
import { beforeAll, describe, expect, it } from 'vitest';
import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { readPublished } from '../../functions/pipeline/batch-published.ts';
import { dataset } from '../../functions/pipeline/datasets.ts';
import { lake } from '../../functions/pipeline/lake-layout.ts';
import { writeDatasetLandingExport } from '../../local/landing-export.ts';
import {
  type AslMachine,
  runStateMachine,
  type StateMachineHost,
  stateMachinesOf,
  TaskFailure,
} from '../../local/state-machine.ts';
import type { CfnTemplate } from '../../local/template-plan.ts';
import { synthStage } from '../infra/helpers.ts';
import { parquetRows, testDeps } from '../support/lake.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import { useTempDirs } from '../support/temp-dir.ts';

/**
 * The fan-out state machine of the synthesized template, run by the local emulation (local/state-machine.ts) with
 * the batch-fan-out function's handler: what the template describes (Choice, Distributed Maps with ItemReader and
 * MaxConcurrency, retries, the catch) is what runs, and the day it publishes equals one function's.
 */

const DAY = '2026-11-20';
const tempDir = useTempDirs();

let machine: AslMachine;
let fanOutId: string;
let handler: Handler;
const lakeDir = tempDir();

beforeAll(async () => {
  const template = synthStage('dev', {
    batch: { fanOutMaxConcurrency: 3 },
  }).computeTemplate.toJSON() as CfnTemplate;
  const [plan] = stateMachinesOf(template);
  if (!plan) throw new Error('the compute stack has no state machine');
  machine = plan.definition;
  fanOutId =
    Object.entries(template.Resources).find(
      ([, r]) =>
        r.Type === 'AWS::Lambda::Function' &&
        r.Metadata?.['twinflow:entry'] === 'functions/batch-fan-out/handler.ts',
    )?.[0] ?? '';
  // The handler reads its settings at cold start, as in Lambda: a 1-byte threshold fans every day out.
  process.env['LAKE_DIR'] = lakeDir;
  process.env['BATCH_FAN_OUT_THRESHOLD_BYTES'] = '1';
  process.env['BATCH_FAN_OUT_BUCKETS'] = '4';
  process.env['POWERTOOLS_LOG_LEVEL'] = 'SILENT';
  ({ handler } = await import('../../functions/batch-fan-out/handler.ts'));
}, 120_000);

/** Invokes the fan-out function in-process, recording every invocation; `fault` may throw first. */
function host(fault?: (payload: { step: string; item?: { file?: { index: number } } }) => void) {
  const calls: { step: string; at: number }[] = [];
  let running = 0;
  let peak = 0;
  const h: StateMachineHost = {
    async invoke(functionId, payload) {
      expect(functionId).toBe(fanOutId);
      const p = payload as { step: string };
      calls.push({ step: p.step, at: Date.now() });
      running += 1;
      peak = Math.max(peak, running);
      try {
        fault?.(p);
        return await handler(payload, lambdaContext('batch-fan-out'), () => {});
      } catch (error) {
        const e = error as Error;
        throw new TaskFailure(e.name, e.message);
      } finally {
        running -= 1;
      }
    },
    async getObject(bucket, key) {
      expect(bucket).toBe('lake-directory');
      const object = await testDeps(lakeDir).store.get(key);
      if (!object) throw new TaskFailure('S3.NoSuchKey', key);
      return object.body.toString('utf8');
    },
    sleep: async () => {},
  };
  return { host: h, calls, peak: () => peak };
}

async function landOrders(dir: string) {
  const { store } = testDeps(dir);
  for (const seed of [1, 2, 3, 4, 5]) {
    await writeDatasetLandingExport(
      { dataset: dataset('orders'), day: DAY, rows: 400, seed, duplicateShare: 0.05, malformedShare: 0.02 },
      store,
    );
  }
}

describe('the fan-out state machine from the template, run locally', () => {
  it('maps five files three at a time, reduces four buckets, merges, and publishes what one function publishes', async () => {
    // Arrange
    await landOrders(lakeDir);
    const single = tempDir();
    await cp(lakeDir, single, { recursive: true });
    const { host: h, calls, peak } = host();

    // Act
    const result = await runStateMachine(machine, { day: DAY, dataset: 'orders' }, h);

    // Assess
    expect(result).toMatchObject({ status: 'SUCCEEDED', output: { result: { status: 'published' } } });
    expect(calls.map((c) => c.step)).toEqual([
      'plan',
      ...Array(5).fill('map'),
      ...Array(4).fill('reduce'),
      'merge',
    ]);
    expect(peak()).toBe(3);
    const one = await runBatchDay({ day: DAY }, testDeps(single));
    const rows = async (dir: string) => {
      const entry = (await readPublished(testDeps(dir).store)).index.days[DAY];
      return Promise.all(
        Object.values(entry?.files ?? {}).map((key) => parquetRows(path.join(dir, key), 'all')),
      );
    };
    expect(await rows(lakeDir)).toEqual(await rows(single));
    expect((result as { output: { result: { counts: unknown } } }).output.result.counts).toEqual(one.counts);
  }, 120_000);

  it('retries a failed item on its own, and a file that vanished fails the day naming it, publishing nothing', async () => {
    // Arrange: a new day; the map of item 2 fails once (a lost worker), then the same day with a file gone.
    const day = '2026-11-21';
    const { store } = testDeps(lakeDir);
    for (const seed of [6, 7, 8]) {
      await writeDatasetLandingExport({ dataset: dataset('orders'), day, rows: 200, seed }, store);
    }
    let failedOnce = false;
    const flaky = host((p) => {
      if (p.step === 'map' && p.item?.file?.index === 2 && !failedOnce) {
        failedOnce = true;
        throw new Error('worker lost');
      }
    });

    // Act + Assess: retried, published.
    const ok = await runStateMachine(machine, { day, dataset: 'orders' }, flaky.host);
    expect(ok.status).toBe('SUCCEEDED');
    expect(flaky.calls.filter((c) => c.step === 'map')).toHaveLength(4);

    // A file removed between the plan and its map: not retried (InvalidInputError), the day fails with the file.
    const landing = await store.list(lake.landingPrefix(day));
    const victim = landing[1]?.key ?? '';
    const vanishing = host((p) => {
      if (p.step === 'map' && p.item?.file?.index === 1) void rm(path.join(lakeDir, victim), { force: true });
    });
    await writeDatasetLandingExport({ dataset: dataset('orders'), day, rows: 50, seed: 9 }, store);
    const before = (await readPublished(store)).index.days[day]?.version;
    const failed = await runStateMachine(machine, { day, dataset: 'orders' }, vanishing.host);
    expect(failed).toMatchObject({ status: 'FAILED', error: 'BatchDayFailed' });
    expect((failed as { cause: string }).cause).toContain(victim);
    expect(vanishing.calls.filter((c) => c.step === 'merge')).toHaveLength(0);
    expect((await readPublished(store)).index.days[day]?.version).toBe(before);
  }, 120_000);

  it('keeps one function for a day under the threshold (the Choice)', async () => {
    const dir = tempDir();
    await landOrders(dir);
    process.env['LAKE_DIR'] = dir;
    process.env['BATCH_FAN_OUT_THRESHOLD_BYTES'] = String(1e12);
    // The env is read at cold start: a fresh module instance is a new container.
    const { vi } = await import('vitest');
    vi.resetModules();
    const cold = (await import('../../functions/batch-fan-out/handler.ts')).handler as unknown as Handler;
    const calls: string[] = [];
    const h: StateMachineHost = {
      invoke: async (_id, payload) => {
        calls.push((payload as { step: string }).step);
        return cold(payload, lambdaContext('batch-fan-out'), () => {});
      },
      getObject: async () => '[]',
    };
    const result = await runStateMachine(machine, { day: DAY, dataset: 'orders' }, h);
    expect(result).toMatchObject({
      status: 'SUCCEEDED',
      output: { plan: { mode: 'single' }, result: { status: 'published' } },
    });
    expect(calls).toEqual(['plan', 'single']);
  }, 120_000);
});

describe('the local state machine interpreter', () => {
  it("fails an execution that runs past the machine's TimeoutSeconds with States.Timeout, as AWS does", async () => {
    // Prepare: one task that takes 3 s in a machine allowed 1 s
    const machine: AslMachine = {
      StartAt: 'Slow',
      TimeoutSeconds: 1,
      States: {
        Slow: { Type: 'Task', Resource: 'arn:aws:lambda:local:000000000000:function:Slow', End: true },
      },
    };
    const host: StateMachineHost = {
      invoke: () => new Promise((resolve) => setTimeout(() => resolve({}), 3000)),
      getObject: async () => '[]',
    };
    // Act
    const t0 = Date.now();
    const result = await runStateMachine(machine, {}, host);
    // Assess
    expect(result).toMatchObject({ status: 'FAILED', error: 'States.Timeout' });
    expect(result.status === 'FAILED' && result.cause).toContain('TimeoutSeconds (1 s)');
    expect(Date.now() - t0).toBeLessThan(2500);
  });
});
