import { Annotations, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sources from 'aws-cdk-lib/aws-lambda-event-sources';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { KafkaCluster } from '../stage-config.ts';

export interface KafkaConsumerProps {
  readonly function: lambda.Function;
  readonly cluster: KafkaCluster;
  readonly topic: string;
  readonly consumerGroupId: string;
  readonly startingPosition: 'TRIM_HORIZON' | 'LATEST';
  readonly batchSize: number;
  readonly maxBatchingWindow: Duration;
  /** Retries of a failed batch before its record goes to `deadLetterQueue`. */
  readonly retryAttempts: number;
  /** Records older than this go to `deadLetterQueue` unprocessed; -1: any age. */
  readonly maxRecordAgeSeconds: number;
  readonly minimumPollers: number;
  readonly maximumPollers: number;
  /**
   * The dataset's DLQ (storage stack): Lambda sends it the record of a batch that kept failing (topic, partition,
   * offsets), to replay from the topic.
   */
  readonly deadLetterQueue: sqs.IQueue;
}

/**
 * MSK: `arn:<partition>:kafka:<region>:<account>:cluster/<name>/<uuid>` → the ARN of one of its topics or consumer
 * groups (`…:topic/<name>/<uuid>/<topic>`), as MSK IAM access control names them.
 */
export function mskResourceArn(clusterArn: string, kind: 'topic' | 'group', name: string): string {
  const match = /^(arn:[^:]+:kafka:[^:]+:\d{12}:)cluster\/([^/]+\/[^/]+)$/.exec(clusterArn);
  if (!match)
    throw new Error(`"${clusterArn}" is not an MSK cluster ARN (arn:…:kafka:…:cluster/<name>/<uuid>)`);
  return `${match[1]}${kind}/${match[2]}/${name}`;
}

/**
 * Feeds a Kafka topic to a function in micro-batches, the Kafka counterpart of `MicroBatchConsumer`: consumer group
 * per dataset, partial batch failure (`batchItemFailures` of `<topic>-<partition>-<offset>`), `retryAttempts` retries
 * of a failing batch, then its record to the dataset's DLQ and on past it. Lambda allows these error-handling
 * controls on Kafka mappings only in provisioned mode, so the mapping always has provisioned pollers.
 *
 * Grants: the secret (read) when the cluster authenticates with one; sending to the DLQ; for MSK the cluster's
 * describe actions (CDK) and, with IAM authentication (no secret), `kafka-cluster:*` data-plane actions on that
 * cluster, that one topic and that one consumer group only.
 */
export class KafkaConsumer extends Construct {
  readonly eventSourceMapping: lambda.CfnEventSourceMapping;

  constructor(scope: Construct, id: string, props: KafkaConsumerProps) {
    super(scope, id);
    const fn = props.function;
    const { cluster } = props;
    // A secret under a customer managed key (MSK's SCRAM secrets always are): reading it grants decrypt with that
    // key, through Secrets Manager only.
    const secret =
      cluster.secretArn === undefined
        ? undefined
        : secretsmanager.Secret.fromSecretCompleteArn(this, 'Secret', cluster.secretArn);
    if (cluster.secretKmsKeyArn !== undefined) {
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['kms:Decrypt'],
          resources: [cluster.secretKmsKeyArn],
          conditions: {
            StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` },
          },
        }),
      );
    }
    const options = {
      topic: props.topic,
      consumerGroupId: props.consumerGroupId,
      startingPosition: lambda.StartingPosition[props.startingPosition],
      batchSize: props.batchSize,
      maxBatchingWindow: props.maxBatchingWindow,
      reportBatchItemFailures: true,
      retryAttempts: props.retryAttempts,
      ...(props.maxRecordAgeSeconds === -1
        ? {}
        : { maxRecordAge: Duration.seconds(props.maxRecordAgeSeconds) }),
      onFailure: new sources.SqsDlq(props.deadLetterQueue),
      provisionedPollerConfig: {
        minimumPollers: props.minimumPollers,
        maximumPollers: props.maximumPollers,
      },
    };
    const before = new Set(fn.node.children);

    if (cluster.type === 'msk') {
      fn.addEventSource(
        new sources.ManagedKafkaEventSource({ ...options, clusterArn: cluster.clusterArn, secret }),
      );
      // CDK grants kafka:DescribeCluster; MSK Serverless clusters are described only by DescribeClusterV2.
      fn.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['kafka:DescribeClusterV2'], resources: [cluster.clusterArn] }),
      );
      if (secret === undefined) this.grantMskIamAccess(fn, cluster.clusterArn, props);
      Validations.of(fn).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaMSKExecutionRole]',
        reason:
          'CDK attaches AWSLambdaMSKExecutionRole to every MSK mapping: the ENI and cluster-describe actions Lambda needs to poll the cluster.',
      });
    } else if (secret !== undefined) {
      // The stage config refuses a secret without its method; no default stands in for it here either.
      if (cluster.authentication === undefined) {
        throw new Error('kafka.cluster.authentication must say how the secret authenticates');
      }
      fn.addEventSource(
        new sources.SelfManagedKafkaEventSource({
          ...options,
          bootstrapServers: [...cluster.bootstrapServers],
          secret,
          authenticationMethod: sources.AuthenticationMethod[cluster.authentication],
        }),
      );
    } else {
      // CDK's SelfManagedKafkaEventSource refuses a cluster without a secret or a VPC (Lambda cannot authenticate
      // to it over the internet). Such a cluster is the local runtime's broker: the same mapping, built directly.
      fn.addEventSourceMapping(`KafkaEventSource:${props.topic}`, {
        kafkaBootstrapServers: [...cluster.bootstrapServers],
        kafkaTopic: options.topic,
        kafkaConsumerGroupId: options.consumerGroupId,
        startingPosition: options.startingPosition,
        batchSize: options.batchSize,
        maxBatchingWindow: options.maxBatchingWindow,
        reportBatchItemFailures: true,
        retryAttempts: options.retryAttempts,
        maxRecordAge: options.maxRecordAge,
        onFailure: options.onFailure,
        provisionedPollerConfig: options.provisionedPollerConfig,
      });
      Annotations.of(this).addWarningV2(
        'twinflow:kafka-unauthenticated',
        `Kafka cluster ${cluster.bootstrapServers.join(',')} has no authentication: only the local runtime can consume ` +
          'it; a deployed mapping needs kafka.cluster.secretArn (and authentication).',
      );
    }

    const mapping = fn.node.children.find(
      (child): child is lambda.EventSourceMapping =>
        !before.has(child) && child instanceof lambda.EventSourceMapping,
    );
    if (!mapping) throw new Error(`no Kafka event source mapping was added to ${fn.node.path}`);
    this.eventSourceMapping = mapping.node.defaultChild as lambda.CfnEventSourceMapping;
  }

  /**
   * IAM access control on MSK: connect to the cluster and read its dynamic configuration, describe and read the
   * one topic, describe and commit offsets of the one consumer group.
   */
  private grantMskIamAccess(fn: lambda.Function, clusterArn: string, props: KafkaConsumerProps): void {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kafka-cluster:Connect', 'kafka-cluster:DescribeClusterDynamicConfiguration'],
        resources: [clusterArn],
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
        resources: [mskResourceArn(clusterArn, 'topic', props.topic)],
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup'],
        resources: [mskResourceArn(clusterArn, 'group', props.consumerGroupId)],
      }),
    );
  }
}
