import { type Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface DatasetQueueProps {
  /** Receives before a message is dead-lettered. */
  readonly maxReceiveCount: number;
  /** At least 6x the consumer's timeout; `MicroBatchConsumer` checks it. */
  readonly visibilityTimeout: Duration;
  readonly retentionPeriod: Duration;
  readonly deadLetterRetentionPeriod: Duration;
  readonly retainData: boolean;
}

/**
 * A streamed dataset's event queue (SQS standard) and its dead-letter queue. Records the consumer could not write
 * after `maxReceiveCount` receives land in the DLQ, to be redriven once the cause is fixed: nothing is lost
 * silently. Its construct id is the dataset's (`Orders`, `StockMoves`), so its logical ids never change.
 */
export class DatasetQueue extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly visibilityTimeout: Duration;

  constructor(scope: Construct, id: string, props: DatasetQueueProps) {
    super(scope, id);
    const removalPolicy = props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    this.visibilityTimeout = props.visibilityTimeout;

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: props.deadLetterRetentionPeriod,
      removalPolicy,
    });

    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: props.visibilityTimeout,
      retentionPeriod: props.retentionPeriod,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
      removalPolicy,
    });
  }
}
