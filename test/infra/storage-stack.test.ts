import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { synthStage } from './helpers.ts';

type Synth = ReturnType<typeof synthStage>;
let dev: Synth;
let prod: Synth;

beforeAll(() => {
  dev = synthStage('dev');
  prod = synthStage('prod');
});

describe('storage stack', () => {
  it('keeps the logical IDs of every stateful resource (renaming would replace them and lose data)', () => {
    const ids = (synth: Synth) =>
      Object.fromEntries(
        Object.entries(synth.storageTemplate.toJSON().Resources as Record<string, { Type: string }>)
          .filter(([, resource]) =>
            ['AWS::S3::Bucket', 'AWS::SQS::Queue', 'AWS::SNS::Topic', 'AWS::KMS::Key'].includes(
              resource.Type,
            ),
          )
          .map(([id, resource]) => [id, resource.Type]),
      );

    const pinned = {
      LakeAccessLogs4431AB8D: 'AWS::S3::Bucket',
      LakeBucketB1D32E10: 'AWS::S3::Bucket',
      OrdersDeadLetterQueueA73944CE: 'AWS::SQS::Queue',
      OrdersQueueC538DD4C: 'AWS::SQS::Queue',
      ClicksDeadLetterQueue0819E0C9: 'AWS::SQS::Queue',
      ClicksQueueEC57A6EC: 'AWS::SQS::Queue',
      InventoryDeadLetterQueue48A59105: 'AWS::SQS::Queue',
      InventoryQueue4D3B3B9B: 'AWS::SQS::Queue',
      AlertsKey9E1197AF: 'AWS::KMS::Key',
      AlertsTopicCF7C81C9: 'AWS::SNS::Topic',
    };
    expect(ids(dev)).toEqual(pinned);
    expect(ids(prod)).toEqual(pinned);
  });

  it('lake bucket is private, encrypted, versioned and SSL-only', () => {
    dev.storageTemplate.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      VersioningConfiguration: { Status: 'Enabled' },
      LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'lake/' }),
    });
    dev.storageTemplate.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: 'LakeBucketB1D32E10' },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  it('archives the stream and expires quarantine by lifecycle rules', () => {
    dev.storageTemplate.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Id: 'stream-archive',
            Prefix: 'stream/',
            Status: 'Enabled',
            ExpirationInDays: 180,
            Transitions: [
              { StorageClass: 'STANDARD_IA', TransitionInDays: 30 },
              { StorageClass: 'GLACIER_IR', TransitionInDays: 90 },
            ],
          }),
          Match.objectLike({ Id: 'quarantine', Prefix: 'quarantine/', ExpirationInDays: 90 }),
          Match.objectLike({ NoncurrentVersionExpiration: { NoncurrentDays: 7 } }),
        ]),
      },
    });
  });

  it('the orders, clicks and inventory queues dead-letter after maxReceiveCount receives into an encrypted 14-day DLQ', () => {
    const resources = dev.storageTemplate.toJSON().Resources;
    for (const [queue, deadLetterQueue] of [
      ['OrdersQueueC538DD4C', 'OrdersDeadLetterQueueA73944CE'],
      ['ClicksQueueEC57A6EC', 'ClicksDeadLetterQueue0819E0C9'],
      ['InventoryQueue4D3B3B9B', 'InventoryDeadLetterQueue48A59105'],
    ] as const) {
      expect(resources[queue], queue).toMatchObject({
        Properties: {
          SqsManagedSseEnabled: true,
          VisibilityTimeout: 360,
          RedrivePolicy: {
            deadLetterTargetArn: { 'Fn::GetAtt': [deadLetterQueue, 'Arn'] },
            maxReceiveCount: 3,
          },
        },
      });
      expect(resources[deadLetterQueue], deadLetterQueue).toMatchObject({
        Properties: { SqsManagedSseEnabled: true, MessageRetentionPeriod: 14 * 24 * 3600 },
      });
      expect(resources[deadLetterQueue]?.Properties).not.toHaveProperty('RedrivePolicy');
    }
    // Every queue (two per streamed dataset) refuses non-TLS access.
    dev.storageTemplate.resourcePropertiesCountIs(
      'AWS::SQS::QueuePolicy',
      {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      },
      6,
    );
  });

  it('maxReceiveCount follows the stage config', () => {
    const synth = synthStage('dev', { stream: { maxReceiveCount: 7 } });

    synth.storageTemplate.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: Match.objectLike({ maxReceiveCount: 7 }),
    });
  });

  it('alert topic is encrypted with a rotating KMS key CloudWatch may use, and SSL-only', () => {
    dev.storageTemplate.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': ['AlertsKey9E1197AF', 'Arn'] },
    });
    dev.storageTemplate.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    dev.storageTemplate.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('prod retains every stateful resource and never auto-deletes objects', () => {
    for (const type of ['AWS::S3::Bucket', 'AWS::SQS::Queue', 'AWS::KMS::Key']) {
      const resources = prod.storageTemplate.findResources(type);
      for (const resource of Object.values(resources)) {
        expect(resource).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
      }
    }
    prod.storageTemplate.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
    expect(prod.storage.terminationProtection).toBe(true);
  });

  it('dev destroys its resources and empties its buckets on stack deletion', () => {
    const buckets = dev.storageTemplate.findResources('AWS::S3::Bucket');
    for (const bucket of Object.values(buckets)) expect(bucket).toMatchObject({ DeletionPolicy: 'Delete' });
    dev.storageTemplate.resourceCountIs('Custom::S3AutoDeleteObjects', 2);
  });

  it('uses generated physical names only', () => {
    const resources = dev.storageTemplate.toJSON().Resources as Record<
      string,
      { Type: string; Properties?: object }
    >;
    // The auto-delete custom resource references the bucket's generated name; it names nothing itself.
    for (const resource of Object.values(resources).filter((r) => !r.Type.startsWith('Custom::'))) {
      expect(resource.Properties ?? {}).not.toHaveProperty('BucketName');
      expect(resource.Properties ?? {}).not.toHaveProperty('QueueName');
      expect(resource.Properties ?? {}).not.toHaveProperty('TopicName');
    }
  });
});
