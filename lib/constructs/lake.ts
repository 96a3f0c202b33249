import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { StageConfig } from '../stage-config.ts';

/**
 * Lifecycle and retention of the lake: the stage's `lake` settings (the prefix scopes the lifecycle rules) and
 * `retainData` (RETAIN keeps the data when the stack goes; DESTROY also empties the buckets, dev only).
 */
export type LakeProps = StageConfig['lake'] & Pick<StageConfig, 'retainData'>;

/**
 * The data lake bucket (all layers' data, Hive-partitioned Parquet) and its server access log bucket.
 * Private, SSL-only, versioned: views are overwritten in place, so a bad run can be rolled back.
 */
export class Lake extends Construct {
  readonly bucket: s3.Bucket;
  readonly accessLogs: s3.Bucket;

  constructor(scope: Construct, id: string, props: LakeProps) {
    super(scope, id);
    const removalPolicy = props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const autoDeleteObjects = !props.retainData;
    const under = (path: string) => (props.prefix ? `${props.prefix.replace(/\/+$/, '')}/${path}` : path);

    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(365) }],
      removalPolicy,
      autoDeleteObjects,
    });

    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'lake/',
      lifecycleRules: [
        {
          id: 'stream-archive',
          prefix: under('stream/'),
          transitions: [
            {
              storageClass: s3.StorageClass.INFREQUENT_ACCESS,
              transitionAfter: Duration.days(props.streamArchiveInfrequentAccessAfterDays),
            },
            {
              storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
              transitionAfter: Duration.days(props.streamArchiveGlacierAfterDays),
            },
          ],
          expiration: Duration.days(props.streamArchiveExpireAfterDays),
        },
        {
          id: 'quarantine',
          prefix: under('quarantine/'),
          expiration: Duration.days(props.quarantineExpireAfterDays),
        },
        {
          id: 'noncurrent-versions-and-uploads',
          noncurrentVersionExpiration: Duration.days(props.noncurrentVersionExpireAfterDays),
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
      ],
      removalPolicy,
      autoDeleteObjects,
    });
  }
}
