import { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface MicroBatchConsumerProps {
  readonly function: lambda.Function;
  readonly queue: sqs.IQueue;
  /** The queue's visibility timeout (an imported `IQueue` does not expose it). */
  readonly queueVisibilityTimeout: Duration;
  readonly batchSize: number;
  readonly maxBatchingWindow: Duration;
  /** Upper bound of concurrent invocations the event source may drive. */
  readonly maxConcurrency: number;
}

/**
 * Feeds a queue to a function in micro-batches with partial batch failure: the function reports the records
 * it could not write (`batchItemFailures`) and only those are retried, then dead-lettered.
 *
 * Refuses a queue whose visibility timeout is below 6x the function timeout (AWS guidance), because a shorter
 * one lets SQS redeliver a batch that is still being processed and counts it against `maxReceiveCount`.
 */
export class MicroBatchConsumer extends Construct {
  constructor(scope: Construct, id: string, props: MicroBatchConsumerProps) {
    super(scope, id);
    const timeout = props.function.timeout ?? Duration.seconds(3);
    const minimum = 6 * timeout.toSeconds();
    if (props.queueVisibilityTimeout.toSeconds() < minimum) {
      throw new Error(
        `Queue visibility timeout ${props.queueVisibilityTimeout.toSeconds()} s must be >= 6x the consumer timeout ` +
          `(${timeout.toSeconds()} s), i.e. >= ${minimum} s`,
      );
    }
    props.function.addEventSource(
      new sources.SqsEventSource(props.queue, {
        batchSize: props.batchSize,
        maxBatchingWindow: props.maxBatchingWindow,
        maxConcurrency: props.maxConcurrency,
        reportBatchItemFailures: true,
      }),
    );
  }
}
