import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { Dataset } from '../functions/pipeline/datasets.ts';
import { AlertTopic } from './constructs/alert-topic.ts';
import { DatasetQueue } from './constructs/dataset-queue.ts';
import { Lake } from './constructs/lake.ts';
import type { StageConfig } from './stage-config.ts';
import { datasetConstructId, streamedDatasets } from './twinflow-functions.ts';

export interface StorageStackProps extends StackProps {
  readonly config: StageConfig;
  /** The declared datasets: each one whose source includes a stream gets a queue and a DLQ. */
  readonly datasets: readonly Dataset[];
}

/** A streamed dataset's queue and DLQ, as the compute stack consumes, alarms on and reconciles them. */
export interface DatasetStream {
  readonly dataset: Dataset;
  readonly queue: sqs.IQueue;
  readonly deadLetterQueue: sqs.IQueue;
  /** The queue's visibility timeout, for the consumer's 6x-timeout check (an `IQueue` does not expose it). */
  readonly visibilityTimeout: Duration;
}

/** Construct ids of the stack's other resources, which a dataset's queue must not take. */
const RESERVED_IDS = ['Lake', 'Alerts'];

/**
 * The stateful half: data and messages that outlive any deployment of the functions.
 * Logical IDs here are pinned by test/infra/storage-stack.test.ts; renaming a construct would replace the resource.
 * A dataset's queue is named after the dataset (`Orders` → `OrdersQueue…`), so adding a dataset only adds.
 */
export class StorageStack extends Stack {
  readonly lakeBucket: s3.IBucket;
  /** One per streamed dataset, in declaration order. */
  readonly streams: readonly DatasetStream[];
  readonly alertTopic: sns.ITopic;

  constructor(scope: Construct, id: string, props: StorageStackProps) {
    super(scope, id, props);
    const { config } = props;

    const lake = new Lake(this, 'Lake', { retainData: config.retainData, ...config.lake });
    this.streams = streamedDatasets(props.datasets).map((dataset) => {
      const queueId = datasetConstructId(dataset.name);
      if (RESERVED_IDS.includes(queueId)) {
        throw new Error(
          `dataset "${dataset.name}": its queue's construct id "${queueId}" is taken by the storage stack's ${queueId}`,
        );
      }
      const queue = new DatasetQueue(this, queueId, {
        maxReceiveCount: config.stream.maxReceiveCount,
        visibilityTimeout: Duration.seconds(config.stream.queueVisibilityTimeoutSeconds),
        retentionPeriod: Duration.days(config.stream.queueRetentionDays),
        deadLetterRetentionPeriod: Duration.days(config.stream.deadLetterRetentionDays),
        retainData: config.retainData,
      });
      return {
        dataset,
        queue: queue.queue,
        deadLetterQueue: queue.deadLetterQueue,
        visibilityTimeout: queue.visibilityTimeout,
      };
    });
    const alerts = new AlertTopic(this, 'Alerts', { retainData: config.retainData });

    this.lakeBucket = lake.bucket;
    this.alertTopic = alerts.topic;
  }
}
