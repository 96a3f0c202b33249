import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { LEGACY_INGEST_DATASET } from '../functions/ingest-orders/dataset.ts';
import { readPublished } from '../functions/pipeline/batch-published.ts';
import { listBalances } from '../functions/pipeline/datasets.ts';
import { lake } from '../functions/pipeline/lake-layout.ts';
import { type ObjectStore, putJson } from '../functions/pipeline/object-store.ts';
import { openStore } from '../functions/pipeline/open-store.ts';
import { silentLog } from '../functions/pipeline/ports.ts';
import { computeLevels } from '../functions/serving/balances.ts';
import { datasetVariable } from '../lib/twinflow-functions.ts';
import { type LocalS3, startLocalS3 } from './aws-servers.ts';
import { type DurableQueue, type DurableSqs, startDurableSqs } from './durable-sqs.ts';
import { type EventSink, kafkaSink, sqsSink } from './event-sinks.ts';
import { describeOutcome, FunctionHost, formatMs, type InvocationOutcome } from './function-host.ts';
import { type HttpApi, startHttpApi } from './http-api.ts';
import { type KafkaBroker, startKafkaBroker } from './kafka-broker.ts';
import { KafkaEventSource, type PartitionLag } from './kafka-event-source.ts';
import {
  functionEnvironment,
  LOCAL_ACCOUNT_ID,
  LOCAL_REGION,
  type LocalEndpoints,
  localAwsEnvironment,
  queueArn,
} from './local-resources.ts';
import { CLICKS_PER_ORDER, type OrderGeneratorFeed, replayFile, startOrderGenerator } from './order-feed.ts';
import { createScaledClock, type ScaledClock } from './scaled-clock.ts';
import { Scheduler } from './scheduler.ts';
import { type SeedReport, seedHistory } from './seed.ts';
import { SqsEventSource } from './sqs-event-source.ts';
import { stateMachinesOf, TaskFailure } from './state-machine.ts';
import { type LocalExecution, type LocalStepFunctions, startLocalStepFunctions } from './step-functions.ts';
import {
  type CfnTemplate,
  type FunctionPlan,
  type KafkaEventSourcePlan,
  planFromTemplate,
  type RuntimePlan,
} from './template-plan.ts';

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
  /** The Step Functions API's port (0: a free one), when the template has state machines. */
  stepFunctionsPort?: number;
  /** Generated orders per second, and `CLICKS_PER_ORDER` clicks per order with a clicks stream (0: none). */
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
  /** Each streamed dataset's queue and DLQ, by dataset name (from the template's event source mappings). */
  streams: Record<string, StreamEndpoint>;
  /** The orders queue (where the order generator, replay and seed send), when the template has one. */
  ordersQueueUrl: string | undefined;
  /** The local Kafka broker, when a dataset ingests from Kafka. */
  kafkaBootstrapServers: string | undefined;
  /** The local Step Functions API, when the template has state machines (their executions, ARNs, endpoint). */
  stepFunctions: LocalStepFunctions | undefined;
  /** Each Kafka dataset's consumer lag per partition. */
  kafkaLag(): Promise<Record<string, PartitionLag[]>>;
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

/** Closers of what the runtime started, run in reverse order on stop (or when a start fails halfway). */
type CleanupStack = (() => Promise<void>)[];

/** DLQs before the queues that name them (local-aws-sqs checks the target exists). */
function queueCreationOrder(plan: RuntimePlan): RuntimePlan['queues'] {
  return [...plan.queues].sort((a, b) => Number(Boolean(a.redrive)) - Number(Boolean(b.redrive)));
}

/** The template's queues as the durable SQS creates them: visibility, retention and redrive policy. */
function durableQueues(plan: RuntimePlan): DurableQueue[] {
  return queueCreationOrder(plan).map((q) => ({
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
  }));
}

interface LocalAws {
  s3: LocalS3;
  sqs: DurableSqs;
  endpoints: LocalEndpoints;
  sqsClient: SQSClient;
  /** Queue URL by logical id. */
  queueUrls: Record<string, string>;
}

/** S3 (s3rver) and SQS (local-aws-sqs behind its journal) on loopback, with the template's buckets and queues. */
async function startLocalAws(
  plan: RuntimePlan,
  options: RuntimeOptions,
  dataDir: string,
  stack: CleanupStack,
): Promise<LocalAws> {
  const s3 = await startLocalS3({
    directory: path.join(dataDir, 's3'),
    port: options.s3Port ?? 0,
    buckets: plan.buckets.map((b) => b.name),
  });
  stack.push(() => s3.close());
  const sqs = await startDurableSqs({
    dataDir: path.join(dataDir, 'sqs'),
    port: options.sqsPort ?? 0,
    queues: durableQueues(plan),
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
  return { s3, sqs, endpoints, sqsClient, queueUrls };
}

/** An execution as the console prints it: started, or how it ended and why. */
function describeExecution(e: LocalExecution): string {
  if (e.status === 'RUNNING') return `step functions: ${e.name} started (${e.input})`;
  const took = formatMs((e.stopDate ?? new Date()).getTime() - e.startDate.getTime());
  if (e.status === 'SUCCEEDED') return `step functions: ${e.name} SUCCEEDED (${took})`;
  return `step functions: ${e.name} ${e.status} ${e.error}: ${e.cause} (${took})`;
}

/**
 * The Step Functions API for the template's state machines, started before the functions so their environment
 * can name it (`AWS_ENDPOINT_URL_SFN`). Its executions invoke the functions of `functions()` (the hosts, once
 * started) and read item lists from the local S3. When the runtime stops, running executions are aborted.
 */
async function startStepFunctions(
  plan: RuntimePlan,
  options: RuntimeOptions,
  aws: LocalAws,
  functions: () => FunctionDirectory | undefined,
  print: (line: string) => void,
  stack: CleanupStack,
): Promise<{ stepFunctions: LocalStepFunctions; stop: () => void } | undefined> {
  if (plan.stateMachines.length === 0) return undefined;
  const s3 = new S3Client({
    region: LOCAL_REGION,
    endpoint: aws.s3.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  stack.push(async () => s3.destroy());
  let stopping = false;
  const wakers = new Set<() => void>();
  const stepFunctions = await startLocalStepFunctions({
    machines: stateMachinesOf(options.template),
    port: options.stepFunctionsPort ?? 0,
    host: {
      async invoke(functionId, payload) {
        const directory = functions();
        if (stopping || !directory) throw new Error('the local runtime is stopping');
        const outcome = await directory.hostOf(functionId).invoke(payload);
        if (stopping) throw new Error('the local runtime is stopping');
        if (outcome.ok) return outcome.result;
        // As Lambda reports a function error to Step Functions: its type is the error Retry/Catch match.
        throw new TaskFailure(outcome.error?.name ?? 'Error', outcome.error?.message ?? 'no reply');
      },
      async getObject(bucket, key) {
        const object = await s3
          .send(new GetObjectCommand({ Bucket: bucket, Key: key }))
          .catch((error: Error) => {
            throw new TaskFailure('States.ItemReaderFailed', `s3://${bucket}/${key}: ${error.message}`);
          });
        return (await object.Body?.transformToString('utf8')) ?? '';
      },
      sleep: (ms) =>
        new Promise<void>((resolve) => {
          if (stopping) return resolve();
          const wake = () => {
            clearTimeout(timer);
            wakers.delete(wake);
            resolve();
          };
          const timer = setTimeout(wake, ms);
          wakers.add(wake);
        }),
    },
    onExecution: (execution) => print(describeExecution(execution)),
  });
  stack.push(() => stepFunctions.close());
  aws.endpoints.stepFunctions = stepFunctions.endpoint;
  return {
    stepFunctions,
    stop: () => {
      stopping = true;
      for (const wake of [...wakers]) wake();
    },
  };
}

/** Where a function's logs go: `<logsDir>/<name>.log`, and stderr too when verbose. */
function functionLogSink(logsDir: string, name: string, isVerbose: boolean | undefined) {
  const log = createWriteStream(path.join(logsDir, `${name}.log`), { flags: 'a' });
  const sink = new PassThrough();
  sink.pipe(log);
  if (isVerbose) sink.on('data', (chunk: Buffer) => process.stderr.write(`[${name}] ${chunk}`));
  return { log, sink };
}

/** The plan's functions by logical id, and the two other names they go by. */
interface FunctionDirectory {
  hostOf(functionId: string): FunctionHost;
  nameOf(functionId: string): string;
  byName(name: string): FunctionPlan;
}

/**
 * One host per function of the plan, each with the template's environment pointed at the local endpoints; the
 * stream function may run as many containers as its mapping's max concurrency.
 */
function startFunctionHosts(
  plan: RuntimePlan,
  options: RuntimeOptions,
  endpoints: LocalEndpoints,
  logsDir: string,
  stack: CleanupStack,
): FunctionDirectory {
  const hosts = new Map<string, FunctionHost>();
  const logs: WriteStream[] = [];
  for (const fn of plan.functions) {
    const mapping =
      plan.eventSources.find((e) => e.functionId === fn.logicalId) ??
      plan.kafkaEventSources.find((e) => e.functionId === fn.logicalId);
    const { log, sink } = functionLogSink(logsDir, fn.name, options.verbose);
    logs.push(log);
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
  return {
    hostOf: (functionId) => {
      const host = hosts.get(functionId);
      if (!host) throw new Error(`no function ${functionId}`);
      return host;
    },
    nameOf: (functionId) => plan.functions.find((f) => f.logicalId === functionId)?.name ?? functionId,
    byName: (name) => {
      const fn = plan.functions.find((f) => f.name === name);
      if (!fn) throw new Error(`the template has no ${name} function`);
      return fn;
    },
  };
}

/** One event source emulation per enabled SQS event source mapping of the template (not started). */
function eventSourcesOf(
  plan: RuntimePlan,
  aws: LocalAws,
  functions: FunctionDirectory,
  print: (line: string) => void,
): SqsEventSource[] {
  return plan.eventSources
    .filter((mapping) => mapping.enabled)
    .map((mapping) => {
      const queue = plan.queues.find((q) => q.logicalId === mapping.queueId);
      const name = functions.nameOf(mapping.functionId);
      return new SqsEventSource({
        client: aws.sqsClient,
        queueUrl: aws.queueUrls[mapping.queueId] ?? '',
        queueArn: queueArn(queue?.name ?? mapping.queueId),
        batchSize: mapping.batchSize,
        maxBatchingWindowSeconds: mapping.maxBatchingWindowSeconds,
        reportBatchItemFailures: mapping.reportBatchItemFailures,
        maxConcurrency: mapping.maxConcurrency ?? 5,
        invoke: (event) => functions.hostOf(mapping.functionId).invoke(event),
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
}

/** The local Kafka broker, a producer for the local feeds, and one event source per enabled Kafka mapping. */
interface LocalKafka {
  broker: KafkaBroker;
  producer: Producer;
  sources: { mapping: KafkaEventSourcePlan; source: KafkaEventSource }[];
}

/**
 * With Kafka mappings in the template: the broker (kafka-broker.ts; the cluster the template names, e.g.
 * `localhost:9092`, is this broker locally, as its buckets and queues are the local ones), and each mapping's
 * consumer group running. Started before the feeds, so with TRIM_HORIZON nothing produced after the banner is missed.
 */
async function startLocalKafka(
  plan: RuntimePlan,
  aws: LocalAws,
  functions: FunctionDirectory,
  dataDir: string,
  print: (line: string) => void,
  stack: CleanupStack,
): Promise<LocalKafka | undefined> {
  if (plan.kafkaEventSources.length === 0) return undefined;
  const broker = await startKafkaBroker({ dataDir });
  // A clean stop ends the broker; a crash leaves it running for the next start to attach to.
  stack.push(() => broker.stop());
  const kafka = new Kafka({
    clientId: 'twinflow-local',
    brokers: [broker.bootstrapServers],
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer();
  await producer.connect();
  stack.push(() => producer.disconnect());
  const sources = plan.kafkaEventSources
    .filter((mapping) => mapping.enabled)
    .map((mapping) => {
      const name = functions.nameOf(mapping.functionId);
      const deadLetterQueueUrl = mapping.onFailureQueueId
        ? aws.queueUrls[mapping.onFailureQueueId]
        : undefined;
      const source = new KafkaEventSource({
        bootstrapServers: broker.bootstrapServers,
        topic: mapping.topic,
        groupId: mapping.consumerGroupId,
        startingPosition: mapping.startingPosition,
        batchSize: mapping.batchSize,
        maxBatchingWindowSeconds: mapping.maxBatchingWindowSeconds,
        reportBatchItemFailures: mapping.reportBatchItemFailures,
        retryAttempts: mapping.retryAttempts,
        maxRecordAgeSeconds: mapping.maxRecordAgeSeconds,
        maxConcurrency: mapping.maxConcurrency ?? 4,
        functionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${name}`,
        invoke: (event) => functions.hostOf(mapping.functionId).invoke(event),
        ...(deadLetterQueueUrl
          ? {
              onFailure: async (record) => {
                await aws.sqsClient.send(
                  new SendMessageCommand({
                    QueueUrl: deadLetterQueueUrl,
                    MessageBody: JSON.stringify(record),
                  }),
                );
              },
            }
          : {}),
        onBatch: (report) =>
          print(
            `${name}: kafka batch of ${report.size} ` +
              describeOutcome(
                report.outcome,
                (report.attempts > 1 ? `, ${report.attempts} attempts` : '') +
                  (report.failed > 0 ? `, ${report.failed} sent to the DLQ` : '') +
                  (report.batchFailure ? ` [${report.batchFailure}]` : ''),
              ),
          ),
        onError: (error) => print(`${name}: kafka consumer: ${error.message}`),
      });
      return { mapping, source };
    });
  await Promise.all(sources.map(({ source }) => source.start()));
  stack.push(() => Promise.all(sources.map(({ source }) => source.stop())).then(() => undefined));
  return { broker, producer, sources };
}

/** The consumer lag of each Kafka dataset's group, per partition (the `OffsetLag` metric in AWS). */
export async function kafkaLag(
  kafka: LocalKafka | undefined,
  plan: RuntimePlan,
): Promise<Record<string, PartitionLag[]>> {
  const lag: Record<string, PartitionLag[]> = {};
  for (const { mapping, source } of kafka?.sources ?? []) {
    const dataset = plan.functions.find((f) => f.logicalId === mapping.functionId)?.dataset;
    if (dataset) lag[dataset] = await source.lag();
  }
  return lag;
}

const LAG_REPORT_MS = 5000;

/**
 * Every few seconds, each Kafka dataset's consumer lag per partition into the lake
 * (`state/stream/<dataset>/kafka-lag.json`), where `GET /ops/summary` and the dashboard read it: locally what the
 * `OffsetLag` metric is in AWS.
 */
function reportKafkaLag(
  kafka: LocalKafka | undefined,
  plan: RuntimePlan,
  store: ObjectStore | undefined,
  print: (line: string) => void,
  stack: CleanupStack,
): void {
  if (!kafka || !store) return;
  let running: Promise<void> = Promise.resolve();
  let failing = false;
  const report = async () => {
    for (const [dataset, partitions] of Object.entries(await kafkaLag(kafka, plan))) {
      const mapping = kafka.sources.find(
        (s) => plan.functions.find((f) => f.logicalId === s.mapping.functionId)?.dataset === dataset,
      )?.mapping;
      await putJson(store, lake.kafkaLag(dataset), {
        dataset,
        topic: mapping?.topic ?? '',
        group: mapping?.consumerGroupId ?? '',
        total: partitions.reduce((n, p) => n + p.lag, 0),
        partitions,
        measured_at: new Date().toISOString(),
      });
    }
  };
  const timer = setInterval(() => {
    running = running.then(report).then(
      () => {
        failing = false;
      },
      (error: Error) => {
        if (!failing) print(`kafka: could not report consumer lag: ${error.message}`);
        failing = true;
      },
    );
  }, LAG_REPORT_MS);
  stack.push(async () => {
    clearInterval(timer);
    await running;
  });
}

/** The template's EventBridge schedules on the runtime's clock (not started). */
function schedulerOf(
  plan: RuntimePlan,
  clock: ScaledClock,
  functions: FunctionDirectory,
  print: (line: string) => void,
): Scheduler {
  return new Scheduler(plan.schedules, {
    clock,
    invoke: (functionId, event) => functions.hostOf(functionId).invoke(event),
    onFire: (report) =>
      print(
        `${functions.nameOf(report.functionId)}: scheduled ${report.time} (${report.ruleId}) ` +
          (report.outcome ? describeOutcome(report.outcome) : `dropped: ${report.dropped}`),
      ),
  });
}

/** The template's HTTP API routes on `options.port`. */
async function startHttpRoutes(
  plan: RuntimePlan,
  options: RuntimeOptions,
  functions: FunctionDirectory,
  print: (line: string) => void,
  stack: CleanupStack,
): Promise<HttpApi> {
  const http = await startHttpApi({
    routes: plan.routes,
    ...(plan.cors ? { cors: plan.cors } : {}),
    port: options.port,
    invoke: (functionId, event) => functions.hostOf(functionId).invoke(event),
    ...(options.verbose
      ? {
          onRequest: (r: { method: string; path: string; status: number; ms: number }) =>
            print(`http: ${r.method} ${r.path} ${r.status} ${formatMs(r.ms)}`),
        }
      : {}),
  });
  stack.push(() => http.close());
  return http;
}

/** A streamed dataset's local queue (or Kafka topic) and DLQ, and where the local feeds send its events. */
export interface StreamEndpoint {
  dataset: string;
  /** The queue its SQS mapping reads (absent when it ingests from Kafka). */
  queueUrl?: string;
  /** The topic its Kafka mapping reads. */
  topic?: string;
  deadLetterQueueUrl?: string;
  sink: EventSink;
}

/** What other tools need from the plan: every dataset's queue and DLQ, the lake, the stage's zone. */
interface Wiring {
  streams: StreamEndpoint[];
  /** The local broker, when a dataset ingests from Kafka. */
  kafkaBootstrapServers: string | undefined;
  bucket: RuntimePlan['buckets'][number] | undefined;
  /** The stage's reporting zone as the template gives it to the functions. */
  timeZone: string;
}

/**
 * Each event source mapping that feeds a dataset's ingest function is that dataset's stream: its queue, and the
 * DLQ of the queue's redrive policy. Read from the plan alone, so a declared dataset needs no code here.
 */
function streamsOf(plan: RuntimePlan, aws: LocalAws, kafka: LocalKafka | undefined): StreamEndpoint[] {
  const { queueUrls } = aws;
  const datasetOf = (functionId: string) => plan.functions.find((f) => f.logicalId === functionId)?.dataset;
  const streams: StreamEndpoint[] = [];
  for (const mapping of plan.eventSources) {
    const dataset = datasetOf(mapping.functionId);
    const queueUrl = queueUrls[mapping.queueId];
    if (dataset === undefined || queueUrl === undefined) continue;
    const dlqId = plan.queues.find((q) => q.logicalId === mapping.queueId)?.redrive?.deadLetterQueueId;
    const deadLetterQueueUrl = dlqId ? queueUrls[dlqId] : undefined;
    streams.push({
      dataset,
      queueUrl,
      ...(deadLetterQueueUrl ? { deadLetterQueueUrl } : {}),
      sink: sqsSink(aws.sqsClient, queueUrl),
    });
  }
  for (const { mapping, source } of kafka?.sources ?? []) {
    const dataset = datasetOf(mapping.functionId);
    if (dataset === undefined || !kafka) continue;
    const deadLetterQueueUrl = mapping.onFailureQueueId ? queueUrls[mapping.onFailureQueueId] : undefined;
    streams.push({
      dataset,
      topic: mapping.topic,
      ...(deadLetterQueueUrl ? { deadLetterQueueUrl } : {}),
      sink: kafkaSink({
        producer: kafka.producer,
        bootstrapServers: kafka.broker.bootstrapServers,
        topic: mapping.topic,
        lag: async () => (await source.lag()).reduce((n, p) => n + p.lag, 0),
      }),
    });
  }
  return streams;
}

function wiringOf(plan: RuntimePlan, aws: LocalAws, kafka: LocalKafka | undefined): Wiring {
  return {
    streams: streamsOf(plan, aws, kafka),
    kafkaBootstrapServers: kafka?.broker.bootstrapServers,
    bucket: plan.buckets.find((b) => /^lakebucket/.test(b.name)) ?? plan.buckets[0],
    timeZone: String(
      plan.functions.find((f) => f.environment['REPORTING_TIME_ZONE'] !== undefined)?.environment[
        'REPORTING_TIME_ZONE'
      ] ?? 'UTC',
    ),
  };
}

/**
 * `ORDERS_QUEUE_URL`, `ORDERS_DLQ_URL`, `STOCK_MOVES_QUEUE_URL` …: each streamed dataset's queues for other tools;
 * `KAFKA_TOPIC_ORDERS` … for a dataset that ingests from Kafka.
 */
export function streamVariables(streams: readonly Omit<StreamEndpoint, 'sink'>[]): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const stream of streams) {
    if (stream.queueUrl) variables[datasetVariable(stream.dataset, 'QUEUE_URL')] = stream.queueUrl;
    if (stream.topic) variables[`KAFKA_TOPIC_${stream.dataset.toUpperCase()}`] = stream.topic;
    if (stream.deadLetterQueueUrl) {
      variables[datasetVariable(stream.dataset, 'DLQ_URL')] = stream.deadLetterQueueUrl;
    }
  }
  return variables;
}

/**
 * `BATCH_FAN_OUT_STATE_MACHINE_ARN`: the state machine the template hands run-batch (its environment), by its local
 * ARN, for `twinflow invoke run-batch` and `aws stepfunctions …` against the local API.
 */
function stateMachineVariables(
  plan: RuntimePlan,
  endpoints: LocalEndpoints,
  stepFunctions: LocalStepFunctions | undefined,
): Record<string, string> {
  const runBatch = plan.functions.find((f) => f.name === 'run-batch');
  const wired = runBatch?.environment['BATCH_FAN_OUT_STATE_MACHINE_ARN'];
  if (!stepFunctions || !runBatch || wired === undefined) return {};
  const arn = functionEnvironment(plan, runBatch, endpoints)['BATCH_FAN_OUT_STATE_MACHINE_ARN'];
  return arn ? { BATCH_FAN_OUT_STATE_MACHINE_ARN: arn } : {};
}

/** `<dataDir>/endpoints.env`: where other tools (the CLI) find the local endpoints, queues, lake and zone. */
async function writeEndpointsEnv(
  plan: RuntimePlan,
  dataDir: string,
  endpoints: LocalEndpoints,
  wiring: Wiring,
  httpUrl: string,
  stepFunctions: LocalStepFunctions | undefined,
): Promise<void> {
  const { bucket, streams, timeZone } = wiring;
  const endpointsEnv: Record<string, string> = {
    ...localAwsEnvironment(endpoints),
    ...(bucket ? { LAKE_BUCKET: bucket.name } : {}),
    ...stateMachineVariables(plan, endpoints, stepFunctions),
    ...(wiring.kafkaBootstrapServers ? { KAFKA_BOOTSTRAP_SERVERS: wiring.kafkaBootstrapServers } : {}),
    ...streamVariables(streams),
    TWINFLOW_API_URL: httpUrl,
    REPORTING_TIME_ZONE: timeZone,
  };
  await writeFile(
    path.join(dataDir, 'endpoints.env'),
    Object.entries(endpointsEnv)
      .map(([name, value]) => `${name}=${value}\n`)
      .join(''),
  );
}

/** The lake on the local S3, as the seed and the time zone check read it. */
function openLakeStore(
  s3: LocalS3,
  bucket: Wiring['bucket'],
  dataDir: string,
  stack: CleanupStack,
): ObjectStore | undefined {
  const s3Client = new S3Client({
    region: LOCAL_REGION,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  stack.push(async () => s3Client.destroy());
  return bucket
    ? openStore(`s3://${bucket.name}`, { client: s3Client, cacheDir: path.join(dataDir, 'seed-cache') })
    : undefined;
}

/** Warns when the data directory's published batch days are days of another zone than the stage's. */
async function warnOnLakeZone(
  lakeStore: ObjectStore,
  timeZone: string,
  print: (line: string) => void,
): Promise<void> {
  const lakeZone = (await readPublished(lakeStore)).index.timeZone;
  if (lakeZone !== undefined && lakeZone !== timeZone) {
    print(
      `warning: this data directory's batch days are days in ${lakeZone}, but the stage reports in ${timeZone}: ` +
        `batch runs will be refused. Start with --set reporting.timeZone=${lakeZone}, or use a fresh --data.`,
    );
  }
}

/** Seeds a first start's history through the real functions; never rejects (a failure is printed). */
function startSeed(
  context: {
    lakeStore: ObjectStore;
    orders: EventSink;
    streamsClicks: boolean;
    clock: ScaledClock;
    functions: FunctionDirectory;
    timeZone: string;
    print: (line: string) => void;
  },
  stack: CleanupStack,
): Promise<SeedReport | undefined> {
  const { functions, print } = context;
  const seeded = seedHistory({
    store: context.lakeStore,
    orders: context.orders,
    streamsClicks: context.streamsClicks,
    clock: context.clock,
    invoke: (name, event) => functions.hostOf(functions.byName(name).logicalId).invoke(event),
    print,
    timeZone: context.timeZone,
  }).catch((error: Error) => {
    print(`seed: stopped: ${error.message} (the platform runs on; start with a fresh --data to seed again)`);
    return undefined;
  });
  // The producer is stopped first; an unfinished seed is awaited so no function is cut off mid-write.
  stack.push(async () => {
    await seeded;
  });
  return seeded;
}

/**
 * The producer — a replayed file, or the order generator at `options.rate` — once `mayStart` settles: a
 * first-start seed waits for a drained orders queue, which a running feed never leaves. Resolves to the count of
 * replayed lines (0 without a replay). On stop the producer stops first, so the pollers drain what it sent.
 */
/**
 * The lake's stock levels now (the declared `stock` balance), and a writer of the reorder points the live feed
 * restocks at into `tables/reorder_points.csv` — unless the team already keeps one there.
 */
async function liveStockOpening(store: ObjectStore, clock: ScaledClock, timeZone: string) {
  const balance = listBalances().find((b) => b.name === 'stock');
  if (!balance) return undefined;
  const { levels } = await computeLevels(
    balance,
    { filters: {} },
    { store, clock: () => clock.now(), log: silentLog, timeZone },
  );
  const table = balance.threshold ? lake.table(balance.threshold) : undefined;
  return {
    levels: levels.map((l) => ({
      product_id: l.key[0] as string,
      warehouse_id: l.key[1] as string,
      on_hand: l.value,
    })),
    writeReorderPoints: async (csv: string) => {
      if (table && !(await store.head(table))) await store.put(table, csv, { contentType: 'text/csv' });
    },
  };
}

function startProducer(
  context: {
    options: RuntimeOptions;
    orders: EventSink | undefined;
    clicks: EventSink | undefined;
    inventory: EventSink | undefined;
    /** The lake, for the stock the live inventory opens from (its levels when the feed starts). */
    lakeStore: ObjectStore | undefined;
    timeZone: string;
    clock: ScaledClock;
    mayStart: Promise<unknown>;
    isStopping: () => boolean;
    print: (line: string) => void;
  },
  stack: CleanupStack,
): Promise<number> {
  const { options, orders, print } = context;
  let feed: OrderGeneratorFeed | undefined;
  let replayed: Promise<number> = Promise.resolve(0);
  if (orders && options.replayFile) {
    const file = options.replayFile;
    replayed = context.mayStart
      .then(() => replayFile(orders, file))
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
  } else if (orders && options.rate > 0) {
    const feedStarted = context.mayStart.then(async () => {
      if (context.isStopping()) return;
      const stock =
        context.inventory && context.lakeStore
          ? await liveStockOpening(context.lakeStore, context.clock, context.timeZone).catch(
              (error: Error) => {
                print(
                  `order generator: could not read the lake's stock (${error.message}); movements start fresh`,
                );
                return undefined;
              },
            )
          : undefined;
      feed = startOrderGenerator({
        ...(stock ? { stock } : {}),
        orders,
        rate: options.rate,
        clock: context.clock,
        ...(context.clicks ? { clicks: context.clicks } : {}),
        ...(context.inventory ? { inventory: context.inventory } : {}),
        onError: (error) => print(`order generator: ${error.message}`),
      });
    });
    stack.push(async () => {
      await feedStarted;
    });
  }
  stack.push(async () => {
    await feed?.stop();
    await replayed;
  });
  return replayed;
}

export async function startRuntime(options: RuntimeOptions): Promise<Runtime> {
  const print = options.print ?? ((line: string) => console.log(line));
  const plan = planFromTemplate(options.template);
  const dataDir = path.resolve(options.dataDir);
  const logsDir = path.join(dataDir, 'logs');
  await mkdir(logsDir, { recursive: true });
  const clock = createScaledClock(options.clockSpeed ?? 1);
  const isFirstStart = (await readdir(path.join(dataDir, 's3')).catch(() => [])).length === 0;
  const stack: CleanupStack = [];
  const cleanup = async () => {
    for (const close of stack.splice(0).reverse()) await close().catch(() => undefined);
  };
  let stopping: Promise<void> | undefined;

  try {
    const aws = await startLocalAws(plan, options, dataDir, stack);
    let directory: FunctionDirectory | undefined;
    const states = await startStepFunctions(plan, options, aws, () => directory, print, stack);
    const functions = startFunctionHosts(plan, options, aws.endpoints, logsDir, stack);
    directory = functions;
    // Before the functions stop: running executions end as aborted instead of retrying stopped functions.
    if (states) {
      const running = states.stepFunctions;
      stack.push(async () => {
        states.stop();
        await running.idle();
      });
    }
    const sources = eventSourcesOf(plan, aws, functions, print);
    const scheduler = schedulerOf(plan, clock, functions, print);
    const http = await startHttpRoutes(plan, options, functions, print, stack);
    for (const source of sources) source.start();
    stack.push(() => Promise.all(sources.map((s) => s.stop())).then(() => undefined));
    scheduler.start();
    stack.push(() => scheduler.stop());
    const kafka = await startLocalKafka(plan, aws, functions, dataDir, print, stack);

    const wiring = wiringOf(plan, aws, kafka);
    const { bucket, timeZone } = wiring;
    const streamOf = (dataset: string) => wiring.streams.find((s) => s.dataset === dataset);
    // The order generator, replay and seed produce orders: they feed the orders stream when there is one.
    const orders = streamOf(LEGACY_INGEST_DATASET)?.sink;
    // Clicks come beside the orders (local/click-generator.ts) when the template streams them.
    const clicks = streamOf('clicks')?.sink;
    // So do the stock movements of the orders (local/inventory-generator.ts) when it streams inventory.
    const inventory = streamOf('inventory')?.sink;
    await writeEndpointsEnv(plan, dataDir, aws.endpoints, wiring, http.url, states?.stepFunctions);
    const willSeed = options.seed !== false && isFirstStart && orders !== undefined && bucket !== undefined;
    printSummary(print, {
      plan,
      dataDir,
      s3: aws.s3,
      sqs: aws.sqs,
      stepFunctions: states?.stepFunctions,
      http,
      scheduler,
      clock,
      options,
      orders,
      clicks,
      inventory,
      kafka,
      nameOf: functions.nameOf,
      seed: willSeed ? 'first start: seeding 7 days of history (--no-seed to skip)' : undefined,
    });
    const lakeStore = openLakeStore(aws.s3, bucket, dataDir, stack);
    if (lakeStore && !isFirstStart) await warnOnLakeZone(lakeStore, timeZone, print);
    reportKafkaLag(kafka, plan, lakeStore, print, stack);
    const seeded: Promise<SeedReport | undefined> =
      willSeed && orders && lakeStore
        ? startSeed(
            {
              lakeStore,
              orders,
              streamsClicks: clicks !== undefined,
              clock,
              functions,
              timeZone,
              print,
            },
            stack,
          )
        : Promise.resolve(undefined);
    const replayed = startProducer(
      {
        options,
        orders,
        clicks,
        inventory,
        lakeStore,
        timeZone,
        clock,
        mayStart: seeded,
        isStopping: () => stopping !== undefined,
        print,
      },
      stack,
    );

    return {
      plan,
      endpoints: aws.endpoints,
      httpUrl: http.url,
      clock,
      queueUrls: aws.queueUrls,
      streams: Object.fromEntries(wiring.streams.map((stream) => [stream.dataset, stream])),
      ordersQueueUrl: streamOf(LEGACY_INGEST_DATASET)?.queueUrl,
      kafkaBootstrapServers: wiring.kafkaBootstrapServers,
      stepFunctions: states?.stepFunctions,
      kafkaLag: () => kafkaLag(kafka, plan),
      replayed,
      seeded,
      invoke: (name, event) => functions.hostOf(functions.byName(name).logicalId).invoke(event),
      fireSchedules: (name) =>
        scheduler.fireAll((rule) => rule.targets.some((t) => functions.nameOf(t.functionId) === name)),
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
    stepFunctions: LocalStepFunctions | undefined;
    http: HttpApi;
    scheduler: Scheduler;
    clock: ScaledClock;
    options: RuntimeOptions;
    orders: EventSink | undefined;
    clicks: EventSink | undefined;
    inventory: EventSink | undefined;
    kafka: LocalKafka | undefined;
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
  const { stepFunctions } = context;
  if (stepFunctions) {
    print(
      `  SFN   ${stepFunctions.endpoint}  state machines: ${Object.keys(stepFunctions.stateMachineArns).join(', ')} (run from the template's definitions)`,
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
  const { kafka } = context;
  if (kafka) {
    print(
      `  Kafka ${kafka.broker.bootstrapServers}  librdkafka mock cluster (kcat, pid ${kafka.broker.pid}` +
        `${kafka.broker.reused ? ', still running from the last start' : ''}); the template's cluster is this broker`,
    );
    for (const { mapping } of kafka.sources) {
      const dlq = plan.queues.find((q) => q.logicalId === mapping.onFailureQueueId)?.name;
      print(
        `  read  ${mapping.topic} → ${nameOf(mapping.functionId)}: group ${mapping.consumerGroupId}, ${mapping.startingPosition}, ` +
          `batch ${mapping.batchSize}, window ${mapping.maxBatchingWindowSeconds} s` +
          `${mapping.reportBatchItemFailures ? ', ReportBatchItemFailures' : ''}, ${mapping.retryAttempts} retries` +
          (dlq ? `, then → ${dlq}` : ''),
      );
    }
  }
  if (options.replayFile) print(`  feed  replaying ${options.replayFile} into ${context.orders?.target}`);
  else if (options.rate > 0) {
    print(`  feed  ${options.rate} generated orders/s into ${context.orders?.target}`);
    if (context.clicks) {
      print(
        `        ${options.rate * CLICKS_PER_ORDER} generated clicks/s (${CLICKS_PER_ORDER} per order) into ${context.clicks.target}`,
      );
    }
    if (context.inventory) {
      print(
        `        a sale movement per order (and the receipts that restock) into ${context.inventory.target}`,
      );
    }
  }
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
