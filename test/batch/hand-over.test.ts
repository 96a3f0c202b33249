import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SFNClient } from '@aws-sdk/client-sfn';
import type { Handler } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dayInputs } from '../../functions/batch/landing-files.ts';
import { fanOutExecutionName, runBatchRange } from '../../functions/batch/run-batch.ts';
import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { readPublished } from '../../functions/pipeline/batch-published.ts';
import { dataset } from '../../functions/pipeline/datasets.ts';
import { lake } from '../../functions/pipeline/lake-layout.ts';
import { writeDatasetLandingExport } from '../../local/landing-export.ts';
import { stateMachinesOf, TaskFailure } from '../../local/state-machine.ts';
import { type LocalStepFunctions, startLocalStepFunctions } from '../../local/step-functions.ts';
import type { CfnTemplate } from '../../local/template-plan.ts';
import { synthStage } from '../infra/helpers.ts';
import { parquetRows, testDeps } from '../support/lake.ts';
import { lambdaContext } from '../support/lambda-context.ts';
import { executionEnded } from '../support/step-functions.ts';

/**
 * run-batch hands a day from the fan-out threshold on to the fan-out state machine: the real run-batch handler
 * starts an execution through the real SFN client on the local Step Functions API, which runs the template's
 * definition with the real batch-fan-out handler; the day ends up published exactly as one function publishes it.
 * A re-run does not start a second execution; a day under the threshold stays in run-batch.
 */

const BIG = '2026-11-20';
const SMALL = '2026-11-21';
const FAILING = '2026-11-18';

let lakeDir: string;
let singleDir: string;
let server: LocalStepFunctions;
let sfn: SFNClient;
let runBatch: Handler;
let fanOut: Handler;
let stateMachineArn: string;
let threshold: number;
/** The plan step waits for this, so a test can hold an execution RUNNING. */
let hold: Promise<void> = Promise.resolve();
const steps: string[] = [];

type Result = {
  published: number;
  skipped: number;
  failed: number;
  handedOver: number;
  days: { day: string; status: string; detail: string; executionArn?: string }[];
};
const invokeRunBatch = (event: unknown) =>
  runBatch(event, lambdaContext('run-batch'), () => {}) as Promise<Result>;
const dayOf = (result: Result, day: string) => result.days.find((d) => d.day === day);

async function rowsOf(dir: string, day: string) {
  const entry = (await readPublished(testDeps(dir).store)).index.days[day];
  if (!entry) return undefined;
  const views: Record<string, unknown[]> = {};
  for (const [view, key] of Object.entries(entry.files))
    views[view] = await parquetRows(path.join(dir, key), 'all');
  return views;
}

/** DescribeExecution until it ends (at most 120 s). */
const ended = (executionArn: string) =>
  executionEnded(sfn, executionArn, { timeoutMs: 120_000, pollMs: 100 });

beforeAll(async () => {
  lakeDir = await mkdtemp(path.join(os.tmpdir(), 'twinflow-hand-over-'));
  singleDir = await mkdtemp(path.join(os.tmpdir(), 'twinflow-hand-over-single-'));
  const { store } = testDeps(lakeDir);
  const orders = dataset('orders');
  // The big day: four exports; the small one: one small export; the failing one: big, and it will fail.
  for (const seed of [1, 2, 3, 4]) {
    await writeDatasetLandingExport(
      { dataset: orders, day: BIG, rows: 400, seed, duplicateShare: 0.05, malformedShare: 0.02 },
      store,
    );
  }
  await writeDatasetLandingExport({ dataset: orders, day: SMALL, rows: 40, seed: 7 }, store);
  for (const seed of [8, 9, 10, 11]) {
    await writeDatasetLandingExport({ dataset: orders, day: FAILING, rows: 400, seed }, store);
  }
  const bytes = async (day: string) =>
    (await store.list(lake.landingPrefix(day))).reduce((n, f) => n + f.size, 0);
  threshold = Math.min(await bytes(BIG), await bytes(FAILING));
  expect(await bytes(SMALL)).toBeLessThan(threshold);
  await cp(lakeDir, singleDir, { recursive: true });

  const template = synthStage('dev', {
    batch: { fanOutMaxConcurrency: 2 },
  }).computeTemplate.toJSON() as CfnTemplate;
  server = await startLocalStepFunctions({
    machines: stateMachinesOf(template),
    host: {
      async invoke(_functionId, payload) {
        const p = payload as { step: string; day?: string; job?: { day: string } };
        steps.push(p.step);
        if (p.step === 'plan') await hold;
        if (p.step === 'merge' && p.job?.day === FAILING)
          throw new TaskFailure('Error', 'the merge worker died');
        try {
          return await fanOut(payload, lambdaContext('batch-fan-out'), () => {});
        } catch (error) {
          const e = error as Error;
          throw new TaskFailure(e.name, e.message);
        }
      },
      async getObject(_bucket, key) {
        const object = await testDeps(lakeDir).store.get(key);
        if (!object) throw new TaskFailure('S3.NoSuchKey', key);
        return object.body.toString('utf8');
      },
      sleep: async () => {},
    },
  });
  [stateMachineArn = ''] = Object.values(server.stateMachineArns);
  // Both handlers read their environment at cold start, as in Lambda.
  Object.assign(process.env, {
    LAKE_DIR: lakeDir,
    BATCH_FAN_OUT_THRESHOLD_BYTES: String(threshold),
    BATCH_FAN_OUT_BUCKETS: '3',
    BATCH_FAN_OUT_STATE_MACHINE_ARN: stateMachineArn,
    AWS_ENDPOINT_URL_SFN: server.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    POWERTOOLS_METRICS_DISABLED: 'true',
  });
  runBatch = (await import('../../functions/run-batch/handler.ts')).handler as unknown as Handler;
  fanOut = (await import('../../functions/batch-fan-out/handler.ts')).handler as unknown as Handler;
  sfn = new SFNClient({ endpoint: server.endpoint, region: 'us-east-1' });
}, 120_000);

afterAll(async () => {
  sfn?.destroy();
  await server?.close();
  await rm(lakeDir, { recursive: true, force: true });
  await rm(singleDir, { recursive: true, force: true });
});

describe('run-batch hands a day above the fan-out threshold to the state machine', () => {
  it('hands the big day over (neither published nor failed), keeps the small one, and a re-run starts no second execution', async () => {
    // Arrange: the execution holds at its plan until both runs have asked for it.
    let release = () => {};
    hold = new Promise<void>((resolve) => {
      release = resolve;
    });

    // Act
    const first = await invokeRunBatch({ startDate: BIG, endDate: SMALL });
    const again = await invokeRunBatch({ startDate: BIG, endDate: SMALL });
    release();
    const executionArn = dayOf(first, BIG)?.executionArn ?? '';
    const done = await ended(executionArn);

    // Assess: handed over, named after the inputs, counted apart; the small day published by run-batch itself.
    expect(first).toMatchObject({ published: 1, failed: 0, handedOver: 1 });
    expect(dayOf(first, SMALL)?.status).toBe('published');
    expect(dayOf(first, BIG)).toMatchObject({
      status: 'handed-over',
      detail: expect.stringContaining(`handed over to the fan-out state machine, execution ${executionArn}`),
    });
    const { version } = await dayInputs(testDeps(lakeDir).store, BIG);
    expect(executionArn).toBe(
      `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${fanOutExecutionName('orders', BIG, version)}`,
    );
    expect(again).toMatchObject({
      handedOver: 1,
      days: expect.arrayContaining([expect.objectContaining({ day: SMALL, status: 'skipped' })]),
    });
    expect(dayOf(again, BIG)?.executionArn).toBe(executionArn);
    expect(server.executions()).toHaveLength(1);
    expect(steps.filter((s) => s === 'plan')).toHaveLength(1);
    expect(done.status).toBe('SUCCEEDED');
    expect(JSON.parse(done.output ?? '{}')).toMatchObject({
      plan: { mode: 'fan-out' },
      result: { status: 'published' },
    });
    expect(steps.filter((s) => s === 'map')).toHaveLength(4);
  }, 180_000);

  it('publishes the big day exactly as one function does, and later runs find it done', async () => {
    // One function, for both days, in the copy of the lake.
    for (const day of [BIG, SMALL]) await runBatchDay({ day }, testDeps(singleDir));

    expect(await rowsOf(lakeDir, BIG)).toEqual(await rowsOf(singleDir, BIG));
    expect(await rowsOf(lakeDir, SMALL)).toEqual(await rowsOf(singleDir, SMALL));
    const scheduled = await invokeRunBatch({ startDate: BIG, endDate: SMALL });
    expect(scheduled).toMatchObject({ skipped: 2, handedOver: 0 });
    // `{date}` always re-runs; the fan-out already published these inputs, so no second execution.
    const forced = await invokeRunBatch({ date: BIG });
    expect(dayOf(forced, BIG)).toMatchObject({
      status: 'skipped',
      detail: expect.stringContaining('already published from these inputs by fan-out execution'),
    });
    expect(server.executions()).toHaveLength(1);
  }, 180_000);

  it('a day whose execution failed is reported failed by the next run, naming the execution, not handed over again', async () => {
    const first = await invokeRunBatch({ date: FAILING });
    const executionArn = dayOf(first, FAILING)?.executionArn ?? '';
    const done = await ended(executionArn);

    expect(dayOf(first, FAILING)?.status).toBe('handed-over');
    expect(done).toMatchObject({ status: 'FAILED', error: 'BatchDayFailed' });
    expect(done.cause).toContain('the merge worker died');
    expect((await readPublished(testDeps(lakeDir).store)).index.days[FAILING]).toBeUndefined();
    await expect(invokeRunBatch({ startDate: FAILING, endDate: FAILING })).rejects.toThrow(
      `fan-out execution ${executionArn} for these inputs ended without publishing them`,
    );
    expect(server.executions().filter((e) => e.executionArn === executionArn)).toHaveLength(1);
  }, 180_000);
});

describe('without a state machine (the CLI), a day above the threshold runs its fan-out in this process', () => {
  it('publishes what one function publishes, and says it fanned out', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'twinflow-in-process-'));
    const single = await mkdtemp(path.join(os.tmpdir(), 'twinflow-in-process-single-'));
    try {
      await cp(path.join(singleDir, 'landing'), path.join(dir, 'landing'), { recursive: true });
      await cp(path.join(singleDir, 'landing'), path.join(single, 'landing'), { recursive: true });

      const result = await runBatchRange(
        { days: [SMALL, BIG], fanOut: { thresholdBytes: threshold, buckets: 3 } },
        testDeps(dir),
      );
      const one = await runBatchRange({ days: [SMALL, BIG] }, testDeps(single));

      expect(result).toMatchObject({ published: 2, failed: 0, handedOver: 0 });
      expect(result.outcomes.find((o) => o.day === BIG)?.detail).toContain(
        '(fan-out in this process: 4 files',
      );
      expect(one.outcomes.map((o) => o.detail).join()).not.toContain('fan-out');
      for (const day of [SMALL, BIG]) expect(await rowsOf(dir, day)).toEqual(await rowsOf(single, day));
    } finally {
      await rm(dir, { recursive: true, force: true });
      await rm(single, { recursive: true, force: true });
    }
  }, 180_000);
});
