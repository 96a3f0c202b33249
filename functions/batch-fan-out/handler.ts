import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { type FanOutJob, mapFile, mergeDay, planFanOut, reduceBucket } from '../batch/fan-out.ts';
import { runBatchDay } from '../batch/run-batch-day.ts';
import { parseEvent } from '../lambda/event-input.ts';
import { log, logger } from '../lambda/observability.ts';
import { env } from '../run-batch/env.ts';

/** The bucket an item list names when the lake is a local directory (`LAKE_DIR`). */
export const LOCAL_DIRECTORY_BUCKET = 'lake-directory';

const deps = { store: env.store, clock: () => new Date(), log, timeZone: env.timeZone };
const thresholds = { spikeFactor: env.spikeFactor, maxMalformedShare: env.maxMalformedShare };

const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be YYYY-MM-DD');
const datasetName = z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be a dataset name');
const job = z.strictObject({
  dataset: datasetName,
  day,
  version: z.string().min(1),
  runId: z.string().min(1),
  startedAt: z.iso.datetime({ offset: true }),
  buckets: z.number().int().min(1).max(1024),
});
const file = z.strictObject({
  index: z.number().int().min(0),
  key: z.string().min(1),
  etag: z.string(),
  size: z.number().int().min(0),
  format: z.enum(['parquet', 'csv', 'jsonl']),
});

/** The steps of the fan-out state machine (lib/constructs/batch-fan-out.ts), one function for all of them. */
const stepSchema = z.discriminatedUnion('step', [
  z.strictObject({ step: z.literal('plan'), day, dataset: datasetName.optional() }),
  z.strictObject({ step: z.literal('single'), day, dataset: datasetName.optional() }),
  z.strictObject({ step: z.literal('map'), item: z.strictObject({ job, file }) }),
  z.strictObject({
    step: z.literal('reduce'),
    item: z.strictObject({ job, bucket: z.number().int().min(0) }),
  }),
  z.strictObject({ step: z.literal('merge'), job }),
]);

export type FanOutStep = z.infer<typeof stepSchema>;

/** What a run of a day says back to the state machine: small (a state's output is at most 256 KB). */
const dayResult = (report: Awaited<ReturnType<typeof runBatchDay>>) => ({
  day: report.day,
  status: report.status,
  version: report.version,
  runId: report.runId,
  counts: report.counts,
  durationsMs: report.durationsMs,
});

/** Runs a worker's part; its error names the part (the execution's failure names the item that failed the day). */
async function naming<T>(part: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    const e = error as Error;
    e.message = `${part}: ${e.message}`;
    throw e;
  }
}

/**
 * Batch fan-out: `plan` a day (fan out from `BATCH_FAN_OUT_THRESHOLD_BYTES` on, into `BATCH_FAN_OUT_BUCKETS` key
 * buckets), `map` one export file, `reduce` one bucket, `merge` and publish, or run the day in this one function
 * (`single`). Every step is idempotent: a retried step finds its finished parts.
 */
async function fanOutStep(event: unknown) {
  const step = parseEvent(stepSchema, event, 'a fan-out step: {step: plan|single|map|reduce|merge, …}');
  logger.appendKeys({ step: step.step });
  switch (step.step) {
    case 'plan': {
      const plan = await planFanOut(
        {
          day: step.day,
          ...(step.dataset ? { dataset: step.dataset } : {}),
          thresholdBytes: env.fanOutThresholdBytes,
          buckets: env.fanOutBuckets,
        },
        deps,
      );
      // The Map's ItemReader reads the item list from S3 itself: the bucket and the key with the lake's prefix (a
      // lake in a local directory has no bucket: the local state machine reads the key from the directory).
      const items = plan.itemsKey
        ? {
            bucket: env.lakeBucket ?? LOCAL_DIRECTORY_BUCKET,
            key: env.lakePrefix ? `${env.lakePrefix}/${plan.itemsKey}` : plan.itemsKey,
          }
        : undefined;
      return { ...plan, ...(items ? { items } : {}) };
    }
    case 'single':
      return dayResult(
        await runBatchDay(
          {
            day: step.day,
            ...(step.dataset ? { dataset: step.dataset } : {}),
            thresholds,
            policy: env.policy,
          },
          deps,
        ),
      );
    case 'map': {
      const { item } = step;
      const summary = await naming(`item ${item.file.index} (${item.file.key})`, () =>
        mapFile(item, deps, env.policy),
      );
      return { key: summary.key, received: summary.received, valid: summary.valid };
    }
    case 'reduce':
      return naming(`bucket ${step.item.bucket}`, () => reduceBucket(step.item, deps, env.policy));
    case 'merge':
      return dayResult(await mergeDay({ job: step.job as FanOutJob, thresholds, policy: env.policy }, deps));
  }
}

export const handler = middy(fanOutStep).use(injectLambdaContext(logger, { clearState: true }));
