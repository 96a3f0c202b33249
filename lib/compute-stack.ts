import { Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { LakeAccess } from './constructs/lake-access.ts';
import { MicroBatchConsumer } from './constructs/micro-batch-consumer.ts';
import { PipelineMonitoring } from './constructs/pipeline-monitoring.ts';
import { QueryApi } from './constructs/query-api.ts';
import { ScheduledJob } from './constructs/scheduled-job.ts';
import { type FunctionDefaults, TwinflowFunction } from './constructs/twinflow-function.ts';
import { type StageConfig, settingsEnvironment } from './stage-config.ts';
import {
  FUNCTION_NAMES,
  TWINFLOW_FUNCTIONS,
  type TwinflowFunctionName,
  type TwinflowFunctionSpec,
  timeoutSecondsOf,
} from './twinflow-functions.ts';

export const METRICS_NAMESPACE = 'Twinflow';

export interface ComputeStackProps extends StackProps {
  readonly config: StageConfig;
  readonly lakeBucket: s3.IBucket;
  readonly ordersQueue: sqs.IQueue;
  readonly ordersQueueVisibilityTimeout: Duration;
  readonly ordersDeadLetterQueue: sqs.IQueue;
  readonly alertTopic: sns.ITopic;
}

/**
 * The stateless half: the functions (lib/twinflow-functions.ts) and their triggers (queue, schedules, HTTP API), alarms and the
 * dashboard. Safe to destroy and redeploy; every piece of data lives in the storage stack.
 */
export class ComputeStack extends Stack {
  readonly queryApi: QueryApi;

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
    const functions = {} as Record<TwinflowFunctionName, nodejs.NodejsFunction>;
    for (const name of FUNCTION_NAMES) {
      const spec: TwinflowFunctionSpec = TWINFLOW_FUNCTIONS[name];
      functions[name] = new TwinflowFunction(this, spec.id, {
        entry: spec.entry,
        description: spec.description,
        memorySize: spec.memorySize,
        timeout: Duration.seconds(timeoutSecondsOf(spec, config)),
        defaults,
        environment: settingsEnvironment(spec.settings, config),
      }).function;
    }
    const {
      'run-batch': runBatch,
      'ingest-orders': ingestOrders,
      'compact-realtime': compactRealtime,
      'query-sales': querySales,
      'reconcile-views': reconcileViews,
    } = functions;

    // Deletes only superseded view versions; quarantine files and run reports are kept.
    lake.connect(runBatch, {
      read: ['landing/', 'views/batch/', 'state/batch/'],
      write: ['views/batch/', 'quarantine/', 'state/batch/'],
      delete: ['views/batch/'],
    });
    new ScheduledJob(this, 'RunBatchDaily', {
      function: runBatch,
      schedule: config.batch.schedule,
      description: 'Daily batch run for yesterday (the last ended day of the reporting time zone)',
    });

    // Append-only: every output is a new key or a conditional overwrite of the watermark, never a delete.
    lake.connect(ingestOrders, {
      read: ['state/stream/'],
      write: ['stream/', 'views/realtime/', 'quarantine/', 'state/stream/'],
    });
    new MicroBatchConsumer(this, 'OrdersConsumer', {
      function: ingestOrders,
      queue: props.ordersQueue,
      queueVisibilityTimeout: props.ordersQueueVisibilityTimeout,
      batchSize: config.stream.batchSize,
      maxBatchingWindow: Duration.seconds(config.stream.maxBatchingWindowSeconds),
      maxConcurrency: config.stream.maxConcurrency,
    });

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

    lake.connect(querySales, { read: ['views/', 'reconciliation/', 'alerts/', 'quarantine/', 'state/'] });
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
    reconcileViews.addEnvironment('ORDERS_DLQ_URL', props.ordersDeadLetterQueue.queueUrl);
    props.ordersDeadLetterQueue.grant(reconcileViews, 'sqs:GetQueueAttributes');
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

    new PipelineMonitoring(this, 'Monitoring', {
      functions: { runBatch, ingestOrders, compactRealtime, querySales, reconcileViews },
      ordersQueue: props.ordersQueue,
      deadLetterQueue: props.ordersDeadLetterQueue,
      alertTopic: props.alertTopic,
      metricsNamespace: METRICS_NAMESPACE,
      serviceName: config.serviceName,
      oldestMessageAlarmSeconds: config.stream.oldestMessageAlarmSeconds,
      deviationThreshold: config.reconcile.deviationThreshold,
      realtimeFreshnessSeconds: config.alarms.realtimeFreshnessSeconds,
      batchPublishDeadlineHours: config.batch.publishDeadlineHours,
    });
  }
}
