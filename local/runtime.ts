import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { readPublished } from '../functions/pipeline/batch-published.ts';
import { openStore } from '../functions/pipeline/open-store.ts';
import { type LocalS3, startLocalS3 } from './aws-servers.ts';
import { type DurableSqs, startDurableSqs } from './durable-sqs.ts';
import { describeOutcome, FunctionHost, formatMs, type InvocationOutcome } from './function-host.ts';
import { type HttpApi, startHttpApi } from './http-api.ts';
import {
  functionEnvironment,
  LOCAL_REGION,
  type LocalEndpoints,
  localAwsEnvironment,
  queueArn,
} from './local-resources.ts';
import { type OrderGeneratorFeed, replayFile, startOrderGenerator } from './order-feed.ts';
import { createScaledClock, type ScaledClock } from './scaled-clock.ts';
import { Scheduler } from './scheduler.ts';
import { type SeedReport, seedHistory } from './seed.ts';
import { SqsEventSource } from './sqs-event-source.ts';
import { type CfnTemplate, type FunctionPlan, planFromTemplate, type RuntimePlan } from './template-plan.ts';

/**
 * The whole platform on one machine: S3 (s3rver) and SQS (local-aws-sqs behind a journal) on loopback, every
 * function of the template in its own worker threads, and the template's triggers — SQS event source mappings,
 * EventBridge schedules, HTTP API routes — emulated. State lives under `dataDir`, so a restart continues.
 */

export const REPO_ROOT = path.resolve(fileURLToPath(new URL('../', import.meta.url)));

export interface RuntimeOptions {
  template: CfnTemplate;
  dataDir: string;
  /** HTTP API port (0: a free one). */
  port: number;
  s3Port?: number;
  sqsPort?: number;
  /** Generated orders per second (0: none). */
  rate: number;
  replayFile?: string;
  clockSpeed?: number;
  /** Echo function logs to stderr (they always go to `<dataDir>/logs/<function>.log`). */
  verbose?: boolean;
  /** Where the runtime reports what it does (stdout in the CLI). */
  print?: (line: string) => void;
  /** Handler sources by function name, e.g. a fake handler in tests; default the template's entry. */
  entryOverrides?: Partial<Record<string, string>>;
  hostEnv?: NodeJS.ProcessEnv;
  /**
   * On a first start (no S3 data in `dataDir` yet), seed a recent history through the real functions (default
   * true; `twinflow start --no-seed` turns it off). See `local/seed.ts`.
   */
  seed?: boolean;
}

export interface Runtime {
  plan: RuntimePlan;
  endpoints: LocalEndpoints;
  httpUrl: string;
  clock: ScaledClock;
  /** Queue URL by logical id. */
  queueUrls: Record<string, string>;
  /** The queue the stream function consumes (where orders go). */
  ordersQueueUrl: string | undefined;
  /** Invokes a function of the plan by name, as `twinflow invoke` would but inside the runtime. */
  invoke(name: string, event: unknown): Promise<InvocationOutcome>;
  /** Fires the schedules whose target is `name` now. */
  fireSchedules(name: string): Promise<void>;
  /** Resolves once a replay file (if any) is fully sent; the count of accepted lines. */
  replayed: Promise<number>;
  /** Resolves when the first-start seed finished (undefined when it did not run; rejects never: it prints). */
  seeded: Promise<SeedReport | undefined>;
  stop(): Promise<void>;
}

/** DLQs before the queues that name them (local-aws-sqs checks the target exists). */
function queueCreationOrder(plan: RuntimePlan): RuntimePlan['queues'] {
  return [...plan.queues].sort((a, b) => Number(Boolean(a.redrive)) - Number(Boolean(b.redrive)));
}

export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const print = options.print ?? ((line: string) => console.log(line));
  const plan = planFromTemplate(options.template);
  const dataDir = path.resolve(options.dataDir);
  const logsDir = path.join(dataDir, 'logs');
  await mkdir(logsDir, { recursive: true });
  const clock = createScaledClock(options.clockSpeed ?? 1);
  const s3Dir = path.join(dataDir, 's3');
  const isFirstStart = (await readdir(s3Dir).catch(() => [])).length === 0;
  const stack: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const close of stack.splice(0).reverse()) await close().catch(() => undefined);
  };

  try {
    const s3: LocalS3 = await startLocalS3({
      directory: s3Dir,
      port: options.s3Port ?? 0,
      buckets: plan.buckets.map((b) => b.name),
    });
    stack.push(() => s3.close());
    const sqs: DurableSqs = await startDurableSqs({
      dataDir: path.join(dataDir, 'sqs'),
      port: options.sqsPort ?? 0,
      queues: queueCreationOrder(plan).map((q) => ({
        QueueName: q.name,
        Attributes: {
          VisibilityTimeout: String(q.visibilityTimeoutSeconds),
          MessageRetentionPeriod: String(Math.max(60, q.messageRetentionSeconds)),
          ...(q.redrive
            ? {
                RedrivePolicy: JSON.stringify({
                  deadLetterTargetArn: queueArn(
                    plan.queues.find((d) => d.logicalId === q.redrive?.deadLetterQueueId)?.name ?? '',
                  ),
                  maxReceiveCount: q.redrive.maxReceiveCount,
                }),
              }
            : {}),
        },
      })),
    });
    stack.push(() => sqs.close());
    const endpoints: LocalEndpoints = { s3: s3.endpoint, sqs: sqs.endpoint };
    const sqsClient = new SQSClient({
      region: LOCAL_REGION,
      endpoint: sqs.endpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    stack.push(async () => sqsClient.destroy());
    const queueUrls = Object.fromEntries(plan.queues.map((q) => [q.logicalId, sqs.queueUrl(q.name)]));

    // One host per function; the stream function may run as many containers as its mapping's max concurrency.
    const hosts = new Map<string, FunctionHost>();
    const logs: WriteStream[] = [];
    for (const fn of plan.functions) {
      const mapping = plan.eventSources.find((e) => e.functionId === fn.logicalId);
      const log = createWriteStream(path.join(logsDir, `${fn.name}.log`), { flags: 'a' });
      logs.push(log);
      const sink = new PassThrough();
      sink.pipe(log);
      if (options.verbose) sink.on('data', (chunk: Buffer) => process.stderr.write(`[${fn.name}] ${chunk}`));
      const entry = options.entryOverrides?.[fn.name] ?? fn.entry;
      hosts.set(
        fn.logicalId,
        new FunctionHost({
          name: fn.name,
          entryPath: path.resolve(REPO_ROOT, entry),
          handlerExport: fn.handlerExport,
          environment: functionEnvironment(plan, fn, endpoints, options.hostEnv ?? process.env),
          timeoutSeconds: fn.timeoutSeconds,
          memoryMb: fn.memoryMb,
          maxInstances: mapping ? (mapping.maxConcurrency ?? 5) : fn.name === 'query-sales' ? 4 : 1,
          logSink: sink,
        }),
      );
    }
    stack.push(async () => {
      await Promise.all([...hosts.values()].map((h) => h.close()));
      for (const log of logs) log.end();
    });
    const hostOf = (functionId: string): FunctionHost => {
      const host = hosts.get(functionId);
      if (!host) throw new Error(`no function ${functionId}`);
      return host;
    };
    const nameOf = (functionId: string) =>
      plan.functions.find((f) => f.logicalId === functionId)?.name ?? functionId;
    const byName = (name: string): FunctionPlan => {
      const fn = plan.functions.find((f) => f.name === name);
      if (!fn) throw new Error(`the template has no ${name} function`);
      return fn;
    };

    const sources = plan.eventSources
      .filter((mapping) => mapping.enabled)
      .map((mapping) => {
        const queue = plan.queues.find((q) => q.logicalId === mapping.queueId);
        const name = nameOf(mapping.functionId);
        return new SqsEventSource({
          client: sqsClient,
          queueUrl: queueUrls[mapping.queueId] ?? '',
          queueArn: queueArn(queue?.name ?? mapping.queueId),
          batchSize: mapping.batchSize,
          maxBatchingWindowSeconds: mapping.maxBatchingWindowSeconds,
          reportBatchItemFailures: mapping.reportBatchItemFailures,
          maxConcurrency: mapping.maxConcurrency ?? 5,
          invoke: (event) => hostOf(mapping.functionId).invoke(event),
          onBatch: (report) =>
            print(
              `${name}: batch of ${report.size} ` +
                describeOutcome(
                  report.outcome,
                  (report.retried > 0 ? `, ${report.retried} left for redelivery` : '') +
                    (report.batchFailure ? ` [${report.batchFailure}]` : ''),
                ),
            ),
          onError: (error) => print(`${name}: poller error: ${error.message}`),
        });
      });

    const scheduler = new Scheduler(plan.schedules, {
      clock,
      invoke: (functionId, event) => hostOf(functionId).invoke(event),
      onFire: (report) =>
        print(
          `${nameOf(report.functionId)}: scheduled ${report.time} (${report.ruleId}) ` +
            (report.outcome ? describeOutcome(report.outcome) : `dropped: ${report.dropped}`),
        ),
    });

    const http: HttpApi = await startHttpApi({
      routes: plan.routes,
      ...(plan.cors ? { cors: plan.cors } : {}),
      port: options.port,
      invoke: (functionId, event) => hostOf(functionId).invoke(event),
      ...(options.verbose
        ? {
            onRequest: (r: { method: string; path: string; status: number; ms: number }) =>
              print(`http: ${r.method} ${r.path} ${r.status} ${formatMs(r.ms)}`),
          }
        : {}),
    });
    stack.push(() => http.close());

    for (const source of sources) source.start();
    stack.push(() => Promise.all(sources.map((s) => s.stop())).then(() => undefined));
    scheduler.start();
    stack.push(() => scheduler.stop());

    const ordersMapping =
      plan.eventSources.find((e) => nameOf(e.functionId) === 'ingest-orders') ?? plan.eventSources[0];
    const ordersQueueUrl = ordersMapping ? queueUrls[ordersMapping.queueId] : undefined;
    const ordersDlqId = plan.queues.find((q) => q.logicalId === ordersMapping?.queueId)?.redrive
      ?.deadLetterQueueId;
    const bucket = plan.buckets.find((b) => /^lakebucket/.test(b.name)) ?? plan.buckets[0];
    // The stage's reporting zone as the template gives it to the functions; the CLI reads it from endpoints.env.
    const timeZone = String(
      plan.functions.find((f) => f.environment['REPORTING_TIME_ZONE'] !== undefined)?.environment[
        'REPORTING_TIME_ZONE'
      ] ?? 'UTC',
    );
    const endpointsEnv: Record<string, string> = {
      ...localAwsEnvironment(endpoints),
      ...(bucket ? { LAKE_BUCKET: bucket.name } : {}),
      ...(ordersQueueUrl ? { ORDERS_QUEUE_URL: ordersQueueUrl } : {}),
      ...(ordersDlqId ? { ORDERS_DLQ_URL: queueUrls[ordersDlqId] ?? '' } : {}),
      TWINFLOW_API_URL: http.url,
      REPORTING_TIME_ZONE: timeZone,
    };
    await writeFile(
      path.join(dataDir, 'endpoints.env'),
      Object.entries(endpointsEnv)
        .map(([name, value]) => `${name}=${value}\n`)
        .join(''),
    );

    const willSeed =
      options.seed !== false && isFirstStart && ordersQueueUrl !== undefined && bucket !== undefined;
    printSummary(print, {
      plan,
      dataDir,
      s3,
      sqs,
      http,
      scheduler,
      clock,
      options,
      ordersQueueUrl,
      nameOf,
      seed: willSeed ? 'first start: seeding 7 days of history (--no-seed to skip)' : undefined,
    });
    const s3Client = new S3Client({
      region: LOCAL_REGION,
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    stack.push(async () => s3Client.destroy());
    const lakeStore = bucket
      ? openStore(`s3://${bucket.name}`, { client: s3Client, cacheDir: path.join(dataDir, 'seed-cache') })
      : undefined;
    const lakeZone = lakeStore && !isFirstStart ? (await readPublished(lakeStore)).index.timeZone : undefined;
    if (lakeZone !== undefined && lakeZone !== timeZone) {
      print(
        `warning: this data directory's batch days are days in ${lakeZone}, but the stage reports in ${timeZone}: ` +
          `batch runs will be refused. Start with --set reporting.timeZone=${lakeZone}, or use a fresh --data.`,
      );
    }
    let seeded: Promise<SeedReport | undefined> = Promise.resolve(undefined);
    if (willSeed && ordersQueueUrl && lakeStore) {
      seeded = seedHistory({
        store: lakeStore,
        sqs: sqsClient,
        ordersQueueUrl,
        clock,
        invoke: (name, event) => hostOf(byName(name).logicalId).invoke(event),
        print,
        timeZone,
      }).catch((error: Error) => {
        print(
          `seed: stopped: ${error.message} (the platform runs on; start with a fresh --data to seed again)`,
        );
        return undefined;
      });
      // The producer is stopped first; an unfinished seed is awaited so no function is cut off mid-write.
      stack.push(async () => {
        await seeded;
      });
    }

    // The producer (live feed or replayed file) starts once a first-start seed has drained the orders queue: the
    // seed waits for an empty queue, which a running feed never leaves.
    let feed: OrderGeneratorFeed | undefined;
    const producerMayStart: Promise<unknown> = seeded;
    let replayed: Promise<number> = Promise.resolve(0);
    if (ordersQueueUrl && options.replayFile) {
      const file = options.replayFile;
      replayed = producerMayStart
        .then(() => replayFile(sqsClient, ordersQueueUrl, file))
        .then(
          (count) => {
            print(`replay: sent ${count} lines of ${file}`);
            return count;
          },
          (error: Error) => {
            print(`replay: ${error.message}`);
            return 0;
          },
        );
    } else if (ordersQueueUrl && options.rate > 0) {
      const feedStarted = producerMayStart.then(() => {
        if (stopping) return;
        feed = startOrderGenerator({
          client: sqsClient,
          queueUrl: ordersQueueUrl,
          rate: options.rate,
          clock,
          onError: (error) => print(`order generator: ${error.message}`),
        });
      });
      stack.push(async () => {
        await feedStarted;
      });
    }
    // Stop the producer first, so the pollers can drain what was accepted.
    stack.push(async () => {
      await feed?.stop();
      await replayed;
    });

    let stopping: Promise<void> | undefined;
    return {
      plan,
      endpoints,
      httpUrl: http.url,
      clock,
      queueUrls,
      ordersQueueUrl,
      replayed,
      seeded,
      invoke: (name, event) => hostOf(byName(name).logicalId).invoke(event),
      fireSchedules: (name) =>
        scheduler.fireAll((rule) => rule.targets.some((t) => nameOf(t.functionId) === name)),
      stop() {
        stopping ??= cleanup();
        return stopping;
      },
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

function printSummary(
  print: (line: string) => void,
  context: {
    plan: RuntimePlan;
    dataDir: string;
    s3: LocalS3;
    sqs: DurableSqs;
    http: HttpApi;
    scheduler: Scheduler;
    clock: ScaledClock;
    options: RuntimeOptions;
    ordersQueueUrl: string | undefined;
    nameOf: (functionId: string) => string;
    seed: string | undefined;
  },
): void {
  const { plan, s3, sqs, http, scheduler, clock, options, nameOf } = context;
  const queueName = (id: string) => plan.queues.find((q) => q.logicalId === id)?.name ?? id;
  print(
    `Twinflow local runtime — data in ${context.dataDir}${clock.speed !== 1 ? `, clock ×${clock.speed}` : ''}`,
  );
  print(`  S3    ${s3.endpoint}  buckets: ${plan.buckets.map((b) => b.name).join(', ')}`);
  print(`  SQS   ${sqs.endpoint}`);
  for (const q of plan.queues) {
    const restored = sqs.restored[q.name];
    print(
      `        ${q.name}: visibility ${q.visibilityTimeoutSeconds} s` +
        (q.redrive
          ? `, → ${queueName(q.redrive.deadLetterQueueId)} after ${q.redrive.maxReceiveCount} receives`
          : '') +
        (restored ? `, ${restored} messages restored` : ''),
    );
  }
  for (const e of plan.eventSources) {
    print(
      `  poll  ${queueName(e.queueId)} → ${nameOf(e.functionId)}: batch ${e.batchSize}, window ${e.maxBatchingWindowSeconds} s` +
        `${e.reportBatchItemFailures ? ', ReportBatchItemFailures' : ''}, max concurrency ${e.maxConcurrency ?? 'default'}` +
        (e.enabled ? '' : ' (disabled)'),
    );
  }
  for (const { rule, next } of scheduler.upcoming()) {
    const targets = rule.targets.map((t) => nameOf(t.functionId)).join(', ');
    print(
      `  cron  ${rule.expression} → ${targets}  next ${next?.toISOString() ?? 'never'}  (${rule.logicalId})`,
    );
  }
  for (const r of plan.routes) {
    print(
      `  http  ${r.routeKey.padEnd(24)} → ${nameOf(r.functionId)}  ${http.url}${r.routeKey.split(' ')[1] ?? ''}`,
    );
  }
  if (plan.routes.some((r) => r.authorizationType !== 'NONE')) {
    print('        (route authorization such as AWS_IAM is not checked locally)');
  }
  if (options.replayFile) print(`  feed  replaying ${options.replayFile} into ${context.ordersQueueUrl}`);
  else if (options.rate > 0)
    print(`  feed  ${options.rate} generated orders/s into ${context.ordersQueueUrl}`);
  const notEmulated = new Map<string, { count: number; reason: string }>();
  for (const n of plan.notEmulated) {
    const entry = notEmulated.get(n.type) ?? { count: 0, reason: n.reason };
    entry.count += 1;
    notEmulated.set(n.type, entry);
  }
  if (notEmulated.size > 0) {
    print('  not emulated:');
    for (const [type, { count, reason }] of notEmulated) print(`        ${count} × ${type}: ${reason}`);
  }
  if (context.seed) print(`  seed  ${context.seed}`);
  print(`  endpoints for other tools: ${path.join(context.dataDir, 'endpoints.env')}`);
}
