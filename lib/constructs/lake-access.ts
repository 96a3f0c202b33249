import { type CfnElement, Stack, Validations } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';

/**
 * A function's view of the lake, by key prefix (`'views/'`, `'state/stream/'`, relative to the lake prefix).
 * - `read`: get and list.
 * - `write`: put only (append-style outputs: the stream archive, partials, quarantine files).
 * - `readWrite`: get, put and delete (outputs the function replaces or cleans up, e.g. superseded views).
 */
export interface LakeGrants {
  readonly read?: readonly string[];
  readonly write?: readonly string[];
  readonly readWrite?: readonly string[];
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
   * The cdk-nag IAM5 findings these grants raise are acknowledged here, one per granted prefix, so any other
   * wildcard on the function still fails the check.
   */
  connect(fn: lambda.Function, grants: LakeGrants): void {
    fn.addEnvironment('LAKE_BUCKET', this.bucket.bucketName);
    fn.addEnvironment('LAKE_PREFIX', this.prefix);
    const readable = [...(grants.read ?? []), ...(grants.readWrite ?? [])];
    const writable = [...(grants.write ?? []), ...(grants.readWrite ?? [])];
    const deletable = grants.readWrite ?? [];
    for (const prefix of readable) this.bucket.grantRead(fn, this.keyPattern(prefix));
    for (const prefix of writable) this.bucket.grantPut(fn, this.keyPattern(prefix));
    for (const prefix of deletable) this.bucket.grantDelete(fn, this.keyPattern(prefix));
    this.acknowledgeWildcards(fn, { readable, writable, deletable });
  }

  private acknowledgeWildcards(
    fn: lambda.Function,
    granted: { readable: readonly string[]; writable: readonly string[]; deletable: readonly string[] },
  ): void {
    const validations = Validations.of(fn);
    const bucketArn = this.nagBucketArn(fn);
    for (const prefix of new Set([...granted.readable, ...granted.writable, ...granted.deletable])) {
      validations.acknowledge({
        id: `AwsSolutions-IAM5[Resource::${bucketArn}/${this.keyPattern(prefix)}]`,
        reason: `Object-key wildcard limited to the lake prefix "${prefix}" this function owns per the IAM contract; no other keys.`,
      });
    }
    const actionReasons: [string, boolean, string][] = [
      [
        's3:GetObject*',
        granted.readable.length > 0,
        'GetObject and its version/ACL/tagging variants, on the granted prefixes only.',
      ],
      [
        's3:GetBucket*',
        granted.readable.length > 0,
        'Bucket metadata reads (location, versioning) the S3 client needs; no object data.',
      ],
      [
        's3:List*',
        granted.readable.length > 0,
        'Listing partitions (dt=/hour=) needs bucket-level ListBucket; object reads stay prefix-scoped.',
      ],
      [
        's3:Abort*',
        granted.writable.length > 0,
        'Aborting its own multipart uploads of large Parquet files under the granted prefixes.',
      ],
      [
        's3:DeleteObject*',
        granted.deletable.length > 0,
        'Replacing superseded view/state files under the granted read-write prefixes only.',
      ],
    ];
    for (const [action, applies, reason] of actionReasons) {
      if (applies) validations.acknowledge({ id: `AwsSolutions-IAM5[Action::${action}]`, reason });
    }
  }

  /** How cdk-nag prints the bucket ARN in a finding: `<LogicalId.Arn>` in-stack, the export name cross-stack. */
  private nagBucketArn(consumer: lambda.Function): string {
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
