import {
  ChangeMessageVisibilityCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { useLocalS3, useLocalSqs } from '../support/local-aws.ts';
import { describeObjectStoreContract } from '../support/store-contract.ts';

const s3 = useLocalS3();
const sqs = useLocalSqs();

describeObjectStoreContract('S3 (s3rver on loopback)', () => s3.store());

describe('local-aws-sqs on loopback', () => {
  it('moves a message to the DLQ after maxReceiveCount and back with StartMessageMoveTask', async () => {
    const { queueUrl, dlqUrl, dlqArn } = await sqs.queueWithDlq({ maxReceiveCount: 2 });
    await sqs.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: '{"a":1}' }));
    for (let i = 0; i < 3; i++) {
      const got = await sqs.client.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }),
      );
      for (const m of got.Messages ?? []) {
        await sqs.client.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: queueUrl,
            ReceiptHandle: m.ReceiptHandle,
            VisibilityTimeout: 0,
          }),
        );
      }
    }
    expect(await sqs.depth(dlqUrl)).toEqual({ visible: 1, inFlight: 0 });
    await sqs.client.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn }));
    for (let i = 0; i < 50 && (await sqs.depth(dlqUrl)).visible > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await sqs.depth(dlqUrl)).toEqual({ visible: 0, inFlight: 0 });
    expect((await sqs.depth(queueUrl)).visible).toBe(1);
  });
});
