import { Duration } from 'aws-cdk-lib';
import * as cw from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { LEGACY_INGEST_DATASET } from '../../functions/ingest-orders/dataset.ts';

/** Custom metrics the functions emit through Powertools (namespace `Twinflow`, dimension `service`). */
export const PIPELINE_METRICS = {
  batchDayPublished: 'batchDayPublished',
  deviationRatio: 'deviationRatio',
  realtimeFreshnessSeconds: 'realtimeFreshnessSeconds',
} as const;

/** A streamed dataset's queue and DLQ: a backlog and a dead-letter alarm each, and their dashboard graphs. */
export interface MonitoredStream {
  /** The dataset's name, as alarm descriptions and the dashboard say it. */
  readonly dataset: string;
  /** The dataset's construct id (`StockMoves`): its alarms are `StockMovesQueueBacklog`, `StockMovesDeadLetterQueueNotEmpty`. */
  readonly id: string;
  readonly queue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  /**
   * Set when the dataset ingests from Kafka: an alarm and a graph on its ingest function's `OffsetLag` (AWS/Lambda,
   * dimension FunctionName: how far its consumer group trails the topic, in records) replace the queue graph. The
   * queue's backlog alarm stays: nothing reads the queue then, so an event still sent there alarms.
   */
  readonly kafka?: { readonly function: lambda.IFunction; readonly topic: string };
}

export interface PipelineMonitoringProps {
  /** Functions by short name (`ingestOrders`…): an errors and a throttles alarm each. */
  readonly functions: Readonly<Record<string, lambda.IFunction>>;
  /** One per streamed dataset. */
  readonly streams: readonly MonitoredStream[];
  readonly alertTopic: sns.ITopic;
  readonly metricsNamespace: string;
  /** Powertools adds `service=<POWERTOOLS_SERVICE_NAME>` to every custom metric; alarms must match it. */
  readonly serviceName: string;
  readonly oldestMessageAlarmSeconds: number;
  /** Alarm when a Kafka dataset's consumer group trails its topic by more than this many records. */
  readonly offsetLagAlarmRecords: number;
  /** Fraction, e.g. 0.1. */
  readonly deviationThreshold: number;
  readonly realtimeFreshnessSeconds: number;
  /** Slack after the daily batch schedule before a missing publish alarms. */
  readonly batchPublishDeadlineHours: number;
}

/** How a stream's alarms and graphs are named; orders' keep the ids and words they were deployed with. */
function streamLabels(stream: MonitoredStream, oldestMessageAlarmSeconds: number) {
  if (stream.dataset === LEGACY_INGEST_DATASET) {
    return {
      deadLetterAlarmId: 'DeadLetterQueueNotEmpty',
      deadLetterDescription:
        'Order events were dead-lettered: find the cause, then redrive the DLQ (see README).',
      backlogAlarmId: 'OrdersQueueBacklog',
      backlogDescription: `The oldest queued order is older than ${oldestMessageAlarmSeconds} s: the stream is falling behind.`,
      queueTitle: 'Orders queue',
      deadLetterTitle: 'Dead-letter queue',
    };
  }
  return {
    deadLetterAlarmId: `${stream.id}DeadLetterQueueNotEmpty`,
    deadLetterDescription: `${stream.dataset} events were dead-lettered: find the cause, then redrive the DLQ (see README).`,
    backlogAlarmId: `${stream.id}QueueBacklog`,
    backlogDescription: `The oldest queued ${stream.dataset} event is older than ${oldestMessageAlarmSeconds} s: the stream is falling behind.`,
    queueTitle: `${stream.dataset} queue`,
    deadLetterTitle: `${stream.dataset} dead-letter queue`,
  };
}

/**
 * Alarms (all notify the alert topic) and one dashboard for the whole pipeline: each stream's health (queue age,
 * DLQ), every function's errors and throttles, and the business signals — batch published on time, batch vs
 * realtime deviation, realtime freshness.
 */
export class PipelineMonitoring extends Construct {
  readonly alarms: cw.Alarm[] = [];
  readonly dashboard: cw.Dashboard;

  constructor(scope: Construct, id: string, props: PipelineMonitoringProps) {
    super(scope, id);
    const notify = new actions.SnsAction(props.alertTopic);
    const alarm = (alarmId: string, alarmProps: cw.AlarmProps): cw.Alarm => {
      const created = new cw.Alarm(this, alarmId, alarmProps);
      created.addAlarmAction(notify);
      created.addOkAction(notify);
      this.alarms.push(created);
      return created;
    };
    const custom = (metricName: string, statistic: string, period: Duration) =>
      new cw.Metric({
        namespace: props.metricsNamespace,
        metricName,
        dimensionsMap: { service: props.serviceName },
        statistic,
        period,
      });

    // Orders' stream first: its graphs keep the row they were deployed in, beside freshness (streams otherwise come
    // in name order, and clicks sorts before orders).
    const streams = [...props.streams].sort(
      (a, b) => Number(b.dataset === LEGACY_INGEST_DATASET) - Number(a.dataset === LEGACY_INGEST_DATASET),
    );
    const streamGraphs = streams.map((stream) => {
      const labels = streamLabels(stream, props.oldestMessageAlarmSeconds);
      const deadLetters = stream.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        statistic: cw.Stats.MAXIMUM,
        period: Duration.minutes(1),
      });
      alarm(labels.deadLetterAlarmId, {
        alarmDescription: labels.deadLetterDescription,
        metric: deadLetters,
        threshold: 0,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cw.TreatMissingData.NOT_BREACHING,
      });
      const oldestMessage = stream.queue.metricApproximateAgeOfOldestMessage({
        statistic: cw.Stats.MAXIMUM,
        period: Duration.minutes(1),
      });
      alarm(labels.backlogAlarmId, {
        alarmDescription: labels.backlogDescription,
        metric: oldestMessage,
        threshold: props.oldestMessageAlarmSeconds,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: cw.TreatMissingData.NOT_BREACHING,
      });
      const deadLetterGraph = new cw.GraphWidget({
        title: labels.deadLetterTitle,
        width: 8,
        left: [deadLetters.with({ label: 'visible' })],
      });
      if (stream.kafka) {
        // Lambda's OffsetLag: latest offset of the topic minus the group's committed one, topic-level.
        const offsetLag = stream.kafka.function.metric('OffsetLag', {
          statistic: cw.Stats.MAXIMUM,
          period: Duration.minutes(1),
        });
        alarm(`${stream.id}OffsetLag`, {
          alarmDescription: `The ${stream.dataset} consumer group trails topic ${stream.kafka.topic} by more than ${props.offsetLagAlarmRecords} records: the stream is falling behind.`,
          metric: offsetLag,
          threshold: props.offsetLagAlarmRecords,
          comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 3,
          treatMissingData: cw.TreatMissingData.NOT_BREACHING,
        });
        return [
          new cw.GraphWidget({
            title: `${stream.dataset} topic ${stream.kafka.topic}`,
            width: 8,
            left: [offsetLag.with({ label: 'offset lag (records)' })],
            leftAnnotations: [{ value: props.offsetLagAlarmRecords, label: 'alarm' }],
          }),
          deadLetterGraph,
        ];
      }
      return [
        new cw.GraphWidget({
          title: labels.queueTitle,
          width: 8,
          left: [stream.queue.metricApproximateNumberOfMessagesVisible({ label: 'visible' })],
          right: [oldestMessage.with({ label: 'oldest message age (s)' })],
        }),
        deadLetterGraph,
      ];
    });

    for (const [name, fn] of Object.entries(props.functions)) {
      const title = name.charAt(0).toUpperCase() + name.slice(1);
      alarm(`${title}Errors`, {
        alarmDescription: `${name} failed invocations.`,
        metric: fn.metricErrors({ statistic: cw.Stats.SUM, period: Duration.minutes(5) }),
        threshold: 1,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cw.TreatMissingData.NOT_BREACHING,
      });
      alarm(`${title}Throttles`, {
        alarmDescription: `${name} invocations were throttled.`,
        metric: fn.metricThrottles({ statistic: cw.Stats.SUM, period: Duration.minutes(5) }),
        threshold: 1,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cw.TreatMissingData.NOT_BREACHING,
      });
    }

    // No publish for a full day plus the deadline slack. Missing data is the failure itself, so it breaches.
    const publishWindowHours = 24 + props.batchPublishDeadlineHours;
    const batchPublished = custom(PIPELINE_METRICS.batchDayPublished, cw.Stats.SUM, Duration.hours(1));
    alarm('BatchDayNotPublished', {
      alarmDescription: `No batch day published for ${publishWindowHours} h (daily run + ${props.batchPublishDeadlineHours} h deadline).`,
      metric: batchPublished,
      threshold: 1,
      comparisonOperator: cw.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: publishWindowHours,
      datapointsToAlarm: publishWindowHours,
      treatMissingData: cw.TreatMissingData.BREACHING,
    });

    const deviation = custom(PIPELINE_METRICS.deviationRatio, cw.Stats.MAXIMUM, Duration.hours(1));
    alarm('BatchRealtimeDeviation', {
      alarmDescription: `Batch and realtime views deviate by more than ${props.deviationThreshold * 100} % (reconciliation).`,
      metric: deviation,
      threshold: props.deviationThreshold,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });

    const freshness = custom(
      PIPELINE_METRICS.realtimeFreshnessSeconds,
      cw.Stats.MAXIMUM,
      Duration.minutes(5),
    );
    alarm('RealtimeStale', {
      alarmDescription: `Realtime view older than ${props.realtimeFreshnessSeconds} s.`,
      metric: freshness,
      threshold: props.realtimeFreshnessSeconds,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });

    const functions = Object.entries(props.functions);
    const perFunction = (label: string, metric: (fn: lambda.IFunction) => cw.Metric) =>
      new cw.GraphWidget({
        title: label,
        width: 8,
        left: functions.map(([name, fn]) => metric(fn).with({ label: name })),
      });

    this.dashboard = new cw.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(24),
      widgets: [
        [new cw.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24 })],
        // The first stream's graphs share a row with freshness; every further stream gets a row of its own.
        [
          ...(streamGraphs[0] ?? []),
          new cw.GraphWidget({
            title: 'Realtime freshness (s)',
            width: 8,
            left: [freshness],
            leftAnnotations: [{ value: props.realtimeFreshnessSeconds, label: 'alarm' }],
          }),
        ],
        ...streamGraphs.slice(1),
        [
          new cw.GraphWidget({
            title: 'Batch vs realtime deviation (ratio)',
            width: 12,
            left: [deviation],
            leftAnnotations: [{ value: props.deviationThreshold, label: 'alarm' }],
          }),
          new cw.GraphWidget({ title: 'Batch days published', width: 12, left: [batchPublished] }),
        ],
        [
          perFunction('Invocations', (fn) => fn.metricInvocations({ statistic: cw.Stats.SUM })),
          perFunction('Errors', (fn) => fn.metricErrors({ statistic: cw.Stats.SUM })),
          perFunction('Duration p99 (ms)', (fn) => fn.metricDuration({ statistic: cw.Stats.p(99) })),
        ],
      ],
    });
  }
}
