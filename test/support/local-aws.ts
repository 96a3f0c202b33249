import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll } from 'vitest';
import type { ObjectStore } from '../../functions/pipeline/object-store.ts';
import { openStore } from '../../functions/pipeline/open-store.ts';
import { type LocalS3, type LocalSqs, startLocalS3, startLocalSqs } from '../../local/aws-servers.ts';

/** Dummy credentials: the local servers do not check signatures, but the SDK insists on signing. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

export interface LocalS3Fixture {
  server: LocalS3;
  client: S3Client;
  bucket: string;
  /** A lake on the local S3 under a fresh prefix (isolates tests sharing the server). */
  store(prefix?: string): ObjectStore;
}

/** Starts s3rver on loopback for the test file (beforeAll/afterAll). Read the fixture inside tests. */
export function useLocalS3(bucket = 'twinflow-lake'): LocalS3Fixture {
  const fixture = { bucket } as LocalS3Fixture;
  let counter = 0;
  beforeAll(async () => {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'twinflow-s3rver-'));
    fixture.server = await startLocalS3({ directory, buckets: [bucket] });
    fixture.client = new S3Client({
      region: 'us-east-1',
      endpoint: fixture.server.endpoint,
      forcePathStyle: true,
      credentials: LOCAL_CREDENTIALS,
    });
    fixture.store = (prefix = `t${++counter}-${Math.random().toString(16).slice(2, 8)}`) =>
      openStore(`s3://${bucket}/${prefix}`, {
        client: fixture.client,
        cacheDir: mkdtempSync(path.join(os.tmpdir(), 'twinflow-s3cache-')),
      });
  });
  afterAll(async () => {
    fixture.client?.destroy();
    await fixture.server?.close();
  });
  return fixture;
}

export interface LocalSqsFixture {
  server: LocalSqs;
  client: SQSClient;
  /** Creates a queue with a DLQ (redrive policy); returns both URLs and the DLQ's ARN. */
  queueWithDlq(options?: {
    maxReceiveCount?: number;
    visibilityTimeoutSeconds?: number;
  }): Promise<{ queueUrl: string; dlqUrl: string; dlqArn: string; queueArn: string }>;
  /** ApproximateNumberOfMessages + NotVisible of a queue. */
  depth(queueUrl: string): Promise<{ visible: number; inFlight: number }>;
}

/** Starts local-aws-sqs on loopback for the test file. */
export function useLocalSqs(): LocalSqsFixture {
  const fixture = {} as LocalSqsFixture;
  let counter = 0;
  beforeAll(async () => {
    fixture.server = await startLocalSqs();
    fixture.client = new SQSClient({
      region: 'us-east-1',
      endpoint: fixture.server.endpoint,
      credentials: LOCAL_CREDENTIALS,
    });
    fixture.queueWithDlq = async ({ maxReceiveCount = 3, visibilityTimeoutSeconds = 30 } = {}) => {
      const name = `orders-${++counter}-${Math.random().toString(16).slice(2, 8)}`;
      const dlq = await fixture.client.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
      const dlqArn = `arn:aws:sqs:us-east-1:123456789012:${name}-dlq`;
      const queue = await fixture.client.send(
        new CreateQueueCommand({
          QueueName: name,
          Attributes: {
            VisibilityTimeout: String(visibilityTimeoutSeconds),
            RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount }),
          },
        }),
      );
      return {
        queueUrl: queue.QueueUrl!,
        dlqUrl: dlq.QueueUrl!,
        dlqArn,
        queueArn: `arn:aws:sqs:us-east-1:123456789012:${name}`,
      };
    };
    fixture.depth = async (queueUrl) => {
      const out = await fixture.client.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      return {
        visible: Number(out.Attributes?.ApproximateNumberOfMessages ?? 0),
        inFlight: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
      };
    };
  });
  afterAll(async () => {
    fixture.client?.destroy();
    await fixture.server?.close();
  });
  return fixture;
}

/**
 * One SQS request over the query protocol (form-encoded `Action=…`, what awscli v1 and older SDKs speak),
 * posted to the queue URL; returns the XML answer.
 */
export async function sqsQuery(queueUrl: string, action: string, params: Record<string, string> = {}) {
  const response = await fetch(queueUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ Action: action, Version: '2012-11-05', QueueUrl: queueUrl, ...params }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${action}: HTTP ${response.status} ${text}`);
  return text;
}
