import { Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { LEGACY_INGEST_DATASET } from '../functions/ingest-orders/dataset.ts';
import { type Dataset, listBalances, listDatasets } from '../functions/pipeline/datasets.ts';
import { microBatchModelsOf } from '../functions/pipeline/realtime-view.ts';
import { BatchFanOut } from './constructs/batch-fan-out.ts';
import { KafkaConsumer } from './constructs/kafka-consumer.ts';
import { LakeAccess, type LakeGrants } from './constructs/lake-access.ts';
import { MicroBatchConsumer } from './constructs/micro-batch-consumer.ts';
import { PipelineMonitoring } from './constructs/pipeline-monitoring.ts';
import { QueryApi } from './constructs/query-api.ts';
import { ScheduledJob } from './constructs/scheduled-job.ts';
import { type FunctionDefaults, TwinflowFunction } from './constructs/twinflow-function.ts';
import {
  checkStreamSources,
  ingestSourceOf,
  kafkaConsumerGroupOf,
  kafkaTopicOf,
  type StageConfig,
  settingsEnvironment,
} from './stage-config.ts';
import type { DatasetStream } from './storage-stack.ts';
import {
  datasetConstructId,
  datasetVariable,
  ingestFunctionName,
  type TwinflowFunctionName,
  timeoutSecondsOf,
  twinflowFunctions,
} from './twinflow-functions.ts';

export const METRICS_NAMESPACE = 'Twinflow';

export interface ComputeStackProps extends StackProps {
  readonly config: StageConfig;
  /** The declared datasets: the function list follows them (one ingest function per streamed dataset). */
  readonly datasets: readonly Dataset[];
  readonly lakeBucket: s3.IBucket;
  /** The streamed datasets' queues and DLQs (storage stack), one consumer each. */
  readonly streams: readonly DatasetStream[];
  readonly alertTopic: sns.ITopic;
}

/**
 * What a dataset's ingest function may touch: append its stream archive, the realtime partials of the minute
 * models a micro-batch computes and its quarantine; read and write its own stream state. Never a delete. A
 * `realtime: compaction` model has no partials: only compaction writes its folder. Orders' function keeps the
 * grants it was deployed with (the whole stream/, views/realtime/ and quarantine/ prefixes, and state/stream/,
 * where the core keeps orders' stream state at its original keys).
 */
export function ingestGrants(ds: Dataset, datasets: readonly Dataset[] = listDatasets()): LakeGrants {
  if (ds.name === LEGACY_INGEST_DATASET) {
    return { read: ['state/stream/'], write: ['stream/', 'views/realtime/', 'quarantine/', 'state/stream/'] };
  }
  const state = `state/stream/${ds.name}/`;
  const partials = microBatchModelsOf(ds).map((m) => `views/realtime/${m.name}/`);
  const grants = {
    read: [state],
    write: [`stream/${ds.name}/`, ...partials, `quarantine/${ds.name}/`, state],
  };
  return hasBalanceAlerts(ds) ? withAlertGrants(grants, datasets) : grants;
}

/** Whether a dataset's ingest function evaluates alert rules after each micro-batch (its balances' rules). */
export function hasBalanceAlerts(ds: Dataset): boolean {
  return ds.alerts.some((rule) => rule.balance !== undefined);
}

/**
 * The stream archives levels read: exact to the event, a level reads the events of the minute its opening or its
 * instant falls in, from the movements' archives while that day is not published.
 */
function balanceArchives(datasets: readonly Dataset[]): string[] {
  return [...new Set(listBalances(datasets).map((b) => `stream/${b.dataset}/`))];
}

/** What evaluating alert rules reads (levels: views, archives, reference tables, alert state) and writes. */
function withAlertGrants(grants: LakeGrants, datasets: readonly Dataset[]): LakeGrants {
  return {
    read: [
      ...new Set([
        ...(grants.read ?? []),
        'views/',
        ...balanceArchives(datasets),
        'tables/',
        'state/alerts/',
      ]),
    ],
    write: [...(grants.write ?? []), 'state/alerts/', 'alerts/'],
  };
}

/** `IngestStockMoves` → `ingestStockMoves`: how alarms and dashboard widgets name a function. */
function monitoringName(constructId: string): string {
  return `${constructId.charAt(0).toLowerCase()}${constructId.slice(1)}`;
}

/**
 * The stateless half: the functions (lib/twinflow-functions.ts) and their triggers (one queue per streamed dataset,
 * schedules, HTTP API), alarms and the dashboard. Safe to destroy and redeploy; every piece of data lives in the
 * storage stack.
 */
export class ComputeStack extends Stack {
  readonly queryApi: QueryApi;
  readonly batchFanOut: BatchFanOut;

  constructor(scope: Construct, id: string, props: ComputeStackProps) {
    super(scope, id, props);
    const { config } = props;
    const lake = new LakeAccess(props.lakeBucket, config.lake.prefix);
    const defaults: FunctionDefaults = {
      serviceName: config.serviceName,
      metricsNamespace: METRICS_NAMESPACE,
      logLevel: config.logLevel,
      logRetentionDays: config.logRetentionDays,
      retainData: config.retainData,
    };
    const specs = twinflowFunctions(props.datasets);
    const functions = new Map<TwinflowFunctionName, nodejs.NodejsFunction>();
    for (const spec of specs) {
      const fn = new TwinflowFunction(this, spec.id, {
        entry: spec.entry,
        description: spec.description,
        memorySize: spec.memorySize,
        ...(spec.ephemeralStorageMb ? { ephemeralStorageMb: spec.ephemeralStorageMb } : {}),
        timeout: Duration.seconds(timeoutSecondsOf(spec, config)),
        defaults,
        environment: { ...settingsEnvironment(spec.settings, config), ...spec.environment },
      }).function;
      functions.set(spec.name, fn);
    }
    const functionNamed = (name: TwinflowFunctionName): nodejs.NodejsFunction => {
      const fn = functions.get(name);
      if (!fn) throw new Error(`the function list has no ${name}`);
      return fn;
    };
    const runBatch = functionNamed('run-batch');
    const compactRealtime = functionNamed('compact-realtime');
    const querySales = functionNamed('query-sales');
    const reconcileViews = functionNamed('reconcile-views');
    const evaluateAlerts = functionNamed('evaluate-alerts');
    const publishesAlerts = (fn: nodejs.NodejsFunction) => {
      fn.addEnvironment('ALERT_TOPIC_ARN', props.alertTopic.topicArn);
      props.alertTopic.grantPublish(fn);
      Validations.of(fn).acknowledge({
        id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
        reason:
          'Publishing to the KMS-encrypted alert topic needs GenerateDataKey* on that one key (SNS grantPublish).',
      });
    };

    // Deletes only superseded view versions; quarantine files and run reports are kept.
    // A balance's batch close and count discrepancies are levels: they read realtime views and the movements'
    // archives of days batch has not published.
    const balanceReads =
      listBalances(props.datasets).length > 0 ? ['views/realtime/', ...balanceArchives(props.datasets)] : [];
    lake.connect(runBatch, {
      read: ['landing/', 'views/batch/', 'state/batch/', ...balanceReads],
      write: ['views/batch/', 'quarantine/', 'state/batch/'],
      delete: ['views/batch/'],
    });
    // A day past one function: the same grants, its steps on the fan-out state machine.
    const batchFanOut = functionNamed('batch-fan-out');
    lake.connect(batchFanOut, {
      read: ['landing/', 'views/batch/', 'state/batch/', ...balanceReads],
      write: ['views/batch/', 'quarantine/', 'state/batch/'],
      delete: ['views/batch/'],
    });
    this.batchFanOut = new BatchFanOut(this, 'BatchFanOutDay', {
      function: batchFanOut,
      lake,
      maxConcurrency: config.batch.fanOutMaxConcurrency,
      logRetentionDays: config.logRetentionDays,
      retainData: config.retainData,
    });
    // run-batch hands a day from the threshold on to the state machine: it may start executions of it, nothing
    // more (no describe, stop or other state machine). One way only: the state machine knows the fan-out
    // function, not run-batch.
    runBatch.addEnvironment('BATCH_FAN_OUT_STATE_MACHINE_ARN', this.batchFanOut.stateMachine.stateMachineArn);
    this.batchFanOut.stateMachine.grantStartExecution(runBatch);
    new ScheduledJob(this, 'RunBatchDaily', {
      function: runBatch,
      schedule: config.batch.schedule,
      description: 'Daily batch run for yesterday (the last ended day of the reporting time zone)',
    });

    checkStreamSources(
      config,
      props.streams.map((stream) => stream.dataset.name),
    );
    // Append-only: every output is a new key or a conditional overwrite of the watermark, never a delete.
    for (const stream of props.streams) {
      const ingest = functionNamed(ingestFunctionName(stream.dataset.name));
      lake.connect(ingest, ingestGrants(stream.dataset, props.datasets));
      if (hasBalanceAlerts(stream.dataset)) publishesAlerts(ingest);
      // A dataset on Kafka reads its topic instead of its queue; the queue and DLQ stay (the DLQ takes the records
      // of failed batches), so the dataset can switch back.
      if (ingestSourceOf(config, stream.dataset.name) === 'kafka') {
        new KafkaConsumer(this, `${datasetConstructId(stream.dataset.name)}KafkaConsumer`, {
          function: ingest,
          cluster: config.kafka.cluster,
          topic: kafkaTopicOf(config, stream.dataset.name),
          consumerGroupId: kafkaConsumerGroupOf(config, stream.dataset.name),
          startingPosition: config.kafka.startingPosition,
          batchSize: config.stream.batchSize,
          maxBatchingWindow: Duration.seconds(config.stream.maxBatchingWindowSeconds),
          retryAttempts: config.kafka.retryAttempts,
          maxRecordAgeSeconds: config.kafka.maxRecordAgeSeconds,
          minimumPollers: config.kafka.minimumPollers,
          maximumPollers: config.kafka.maximumPollers,
          deadLetterQueue: stream.deadLetterQueue,
        });
        continue;
      }
      new MicroBatchConsumer(this, `${datasetConstructId(stream.dataset.name)}Consumer`, {
        function: ingest,
        queue: stream.queue,
        queueVisibilityTimeout: stream.visibilityTimeout,
        batchSize: config.stream.batchSize,
        maxBatchingWindow: Duration.seconds(config.stream.maxBatchingWindowSeconds),
        maxConcurrency: config.stream.maxConcurrency,
      });
    }

    // Reads the watermark for the realtime-freshness metric; deletes the partials a manifest covers.
    lake.connect(compactRealtime, {
      read: ['stream/', 'views/realtime/', 'state/stream/'],
      write: ['views/realtime/'],
      delete: ['views/realtime/'],
    });
    new ScheduledJob(this, 'CompactRealtimeSchedule', {
      function: compactRealtime,
      schedule: config.compaction.schedule,
      description: 'Realtime partial compaction',
      maxEventAge: Duration.minutes(5),
    });

    // Levels exact to the event read the stream archives of the minute an instant falls in, and reference tables.
    lake.connect(querySales, {
      read: [
        'views/',
        ...balanceArchives(props.datasets),
        'tables/',
        'reconciliation/',
        'alerts/',
        'quarantine/',
        'state/',
      ],
    });
    this.queryApi = new QueryApi(this, 'QueryApi', {
      function: querySales,
      authMode: config.api.authMode,
      corsOrigins: config.api.corsOrigins,
      throttling: config.api.throttling,
      logRetentionDays: config.logRetentionDays,
      retainData: config.retainData,
    });

    // Reconciliation re-runs batch days (batch's grants, superseded views deleted) and recomputes realtime hours
    // in-process (rewrites, never deletes), reading every layer and its own trend; alerts it only writes.
    lake.connect(reconcileViews, {
      read: ['landing/', 'stream/', 'views/', 'quarantine/', 'state/', 'reconciliation/'],
      write: ['views/batch/', 'views/realtime/', 'quarantine/', 'state/batch/', 'reconciliation/', 'alerts/'],
      delete: ['views/batch/'],
    });
    reconcileViews.addEnvironment('ALERT_TOPIC_ARN', props.alertTopic.topicArn);
    // Each streamed dataset's DLQ depth explains what its realtime view is missing: `<DATASET>_DLQ_URL`.
    for (const stream of props.streams) {
      reconcileViews.addEnvironment(
        datasetVariable(stream.dataset.name, 'DLQ_URL'),
        stream.deadLetterQueue.queueUrl,
      );
      stream.deadLetterQueue.grant(reconcileViews, 'sqs:GetQueueAttributes');
    }
    props.alertTopic.grantPublish(reconcileViews);
    Validations.of(reconcileViews).acknowledge({
      id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
      reason:
        'Publishing to the KMS-encrypted alert topic needs GenerateDataKey* on that one key (SNS grantPublish).',
    });
    new ScheduledJob(this, 'ReconcileViewsHourly', {
      function: reconcileViews,
      schedule: config.reconcile.schedule,
      description: 'Hourly batch vs realtime reconciliation',
    });

    lake.connect(evaluateAlerts, withAlertGrants({}, props.datasets));
    publishesAlerts(evaluateAlerts);
    new ScheduledJob(this, 'EvaluateAlertsSchedule', {
      function: evaluateAlerts,
      schedule: config.alerts.schedule,
      description: 'Evaluates the declared alert rules',
      maxEventAge: Duration.minutes(5),
    });

    new PipelineMonitoring(this, 'Monitoring', {
      functions: Object.fromEntries(specs.map((spec) => [monitoringName(spec.id), functionNamed(spec.name)])),
      streams: props.streams.map((stream) => ({
        dataset: stream.dataset.name,
        id: datasetConstructId(stream.dataset.name),
        queue: stream.queue,
        deadLetterQueue: stream.deadLetterQueue,
        ...(ingestSourceOf(config, stream.dataset.name) === 'kafka'
          ? {
              kafka: {
                function: functionNamed(ingestFunctionName(stream.dataset.name)),
                topic: kafkaTopicOf(config, stream.dataset.name),
              },
            }
          : {}),
      })),
      alertTopic: props.alertTopic,
      metricsNamespace: METRICS_NAMESPACE,
      serviceName: config.serviceName,
      oldestMessageAlarmSeconds: config.stream.oldestMessageAlarmSeconds,
      offsetLagAlarmRecords: config.kafka.offsetLagAlarmRecords,
      deviationThreshold: config.reconcile.deviationThreshold,
      realtimeFreshnessSeconds: config.alarms.realtimeFreshnessSeconds,
      batchPublishDeadlineHours: config.batch.publishDeadlineHours,
    });
  }
}
