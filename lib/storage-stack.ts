import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { AlertTopic } from './constructs/alert-topic.ts';
import { Lake } from './constructs/lake.ts';
import { OrdersQueue } from './constructs/orders-queue.ts';
import type { StageConfig } from './stage-config.ts';

export interface StorageStackProps extends StackProps {
  readonly config: StageConfig;
}

/**
 * The stateful half: data and messages that outlive any deployment of the functions.
 * Logical IDs here are pinned by test/infra/storage-stack.test.ts; renaming a construct would replace the resource.
 */
export class StorageStack extends Stack {
  readonly lakeBucket: s3.IBucket;
  readonly ordersQueue: sqs.IQueue;
  readonly ordersDeadLetterQueue: sqs.IQueue;
  /** The orders queue's visibility timeout, for the consumer's 6x-timeout check. */
  readonly ordersQueueVisibilityTimeout: Duration;
  readonly alertTopic: sns.ITopic;

  constructor(scope: Construct, id: string, props: StorageStackProps) {
    super(scope, id, props);
    const { config } = props;

    const lake = new Lake(this, 'Lake', { retainData: config.retainData, ...config.lake });
    const orders = new OrdersQueue(this, 'Orders', {
      maxReceiveCount: config.stream.maxReceiveCount,
      visibilityTimeout: Duration.seconds(config.stream.queueVisibilityTimeoutSeconds),
      retentionPeriod: Duration.days(config.stream.queueRetentionDays),
      deadLetterRetentionPeriod: Duration.days(config.stream.deadLetterRetentionDays),
      retainData: config.retainData,
    });
    const alerts = new AlertTopic(this, 'Alerts', { retainData: config.retainData });

    this.lakeBucket = lake.bucket;
    this.ordersQueue = orders.queue;
    this.ordersDeadLetterQueue = orders.deadLetterQueue;
    this.ordersQueueVisibilityTimeout = orders.visibilityTimeout;
    this.alertTopic = alerts.topic;
  }
}
