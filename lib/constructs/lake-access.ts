import { type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { IConstruct } from 'constructs';

/**
 * A function's view of the lake, by key prefix (`'views/'`, `'state/stream/'`, relative to the lake prefix).
 * Each list maps to exactly the S3 calls functions/pipeline/s3-store.ts makes, and nothing more:
 * - `read`: ListObjectsV2 under the prefix (`s3:ListBucket` with an `s3:prefix` condition), GetObject and
 *   HeadObject (`s3:GetObject`).
 * - `write`: PutObject, conditional or not (`s3:PutObject`). The store never uploads in parts, so no
 *   `s3:AbortMultipartUpload`.
 * - `delete`: DeleteObjects on current objects (`s3:DeleteObject`). The bucket is versioned, so this only adds a
 *   delete marker; object versions stay for rollback and no function may remove them (`s3:DeleteObjectVersion`).
 */
export interface LakeGrants {
  readonly read?: readonly string[];
  readonly write?: readonly string[];
  readonly delete?: readonly string[];
}

/**
 * Connects functions to the lake: ONE call grants exactly the listed prefixes and sets `LAKE_BUCKET` and
 * `LAKE_PREFIX`, so a function can never know the bucket without also having a reviewed grant on it.
 */
export class LakeAccess {
  readonly bucket: s3.IBucket;
  readonly prefix: string;

  constructor(bucket: s3.IBucket, prefix = '') {
    this.bucket = bucket;
    this.prefix = prefix.replace(/^\/+|\/+$/g, '');
  }

  /**
   * Grants `fn` the prefixes in `grants` (object-key patterns, never the whole bucket) and sets its lake env.
   * Explicit statements instead of `bucket.grantRead/grantPut/grantDelete`: those add `s3:List*` and
   * `s3:GetBucket*` on the whole bucket, object version and ACL reads, `PutObjectRetention`/`PutObjectLegalHold`
   * and `DeleteObjectVersion`, none of which the store uses.
   */
  connect(fn: lambda.Function, grants: LakeGrants): void {
    fn.addEnvironment('LAKE_BUCKET', this.bucket.bucketName);
    fn.addEnvironment('LAKE_PREFIX', this.prefix);
    const readable = grants.read ?? [];
    const writable = grants.write ?? [];
    const deletable = grants.delete ?? [];
    if (readable.length > 0) {
      // Also what lets S3 answer a missing key under these prefixes with 404 rather than 403: the store reads
      // "not found" (no watermark yet, no published index yet) as an answer, not a failure.
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [this.bucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': readable.map((prefix) => this.keyPattern(prefix)) } },
        }),
      );
    }
    const objectGrants: [string, readonly string[]][] = [
      ['s3:GetObject', readable],
      ['s3:PutObject', writable],
      ['s3:DeleteObject', deletable],
    ];
    for (const [action, prefixes] of objectGrants) {
      if (prefixes.length === 0) continue;
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: [action],
          resources: prefixes.map((prefix) => this.bucket.arnForObjects(this.keyPattern(prefix))),
        }),
      );
    }
    this.acknowledgeWildcards(fn, [...readable, ...writable, ...deletable]);
  }

  /**
   * The cdk-nag IAM5 findings these grants raise are the object-key wildcards, acknowledged one per granted
   * prefix, so any other wildcard on the function still fails the check. Actions are never wildcards.
   */
  private acknowledgeWildcards(fn: lambda.Function, granted: readonly string[]): void {
    const validations = Validations.of(fn);
    const bucketArn = this.nagBucketArn(fn);
    for (const prefix of new Set(granted)) {
      validations.acknowledge({
        id: `AwsSolutions-IAM5[Resource::${bucketArn}/${this.keyPattern(prefix)}]`,
        reason: `Object-key wildcard limited to the lake prefix "${prefix}" this function owns per the IAM contract; no other keys.`,
      });
    }
  }

  /** How cdk-nag prints the bucket ARN in a finding: `<LogicalId.Arn>` in-stack, the export name cross-stack. */
  nagBucketArn(consumer: IConstruct): string {
    const producer = Stack.of(this.bucket);
    const bucketResource = this.bucket.node.defaultChild as CfnElement | undefined;
    if (!bucketResource) return this.bucket.bucketArn;
    if (producer === Stack.of(consumer)) return `<${producer.getLogicalId(bucketResource)}.Arn>`;
    // The same export CDK creates for the cross-stack reference; resolving it yields its name.
    const imported = producer.resolve(producer.exportValue(this.bucket.bucketArn)) as {
      'Fn::ImportValue': string;
    };
    return imported['Fn::ImportValue'];
  }

  /** `'views/'` → `'<lake prefix>/views/*'`. */
  keyPattern(prefix: string): string {
    if (!/^[a-z0-9_=-]+(\/[a-z0-9_=-]+)*\/$/.test(prefix)) {
      throw new Error(`Lake grant prefix "${prefix}" must be a relative folder ending in "/", e.g. "views/"`);
    }
    return `${this.prefix ? `${this.prefix}/` : ''}${prefix}*`;
  }
}
