import type { Message } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { batchResponseOf, sqsRecordOf, streamMessageOf } from '../../functions/stream/sqs-records.ts';
import { fixture } from '../support/lambda-context.ts';

const SQS_FIXTURES = ['sqs-orders.json', 'sqs-mixed.json', 'sqs-producer-retry.json', 'sqs-redelivery.json'];
const QUEUE_ARN = 'arn:aws:sqs:eu-west-1:123456789012:twinflow-orders';

describe('SQS record → consumer message', () => {
  it.each(SQS_FIXTURES)(
    '%s: every record maps to its id, body, SentTimestamp as sentAt and receive count',
    async (name) => {
      // Prepare
      const event = (await fixture(name)) as SQSEvent;

      // Act
      const messages = event.Records.map(streamMessageOf);

      // Assess
      expect(messages).toEqual(
        event.Records.map((record) => ({
          messageId: record.messageId,
          body: record.body,
          sentAt: new Date(Number(record.attributes.SentTimestamp)),
          receiveCount: Number(record.attributes.ApproximateReceiveCount),
        })),
      );
    },
  );

  it('sqs-redelivery.json: a redelivery keeps the first delivery sent time and counts as the 2nd receive', async () => {
    const [first] = ((await fixture('sqs-orders.json')) as SQSEvent).Records.map(streamMessageOf);
    const [again] = ((await fixture('sqs-redelivery.json')) as SQSEvent).Records.map(streamMessageOf);

    expect(again?.sentAt).toEqual(first?.sentAt);
    expect(again?.sentAt?.toISOString()).toBe('2026-11-21T10:01:07.500Z');
    expect([first?.receiveCount, again?.receiveCount]).toEqual([1, 2]);
  });

  it('a record without a usable SentTimestamp or receive count maps to a message without them', async () => {
    const [record] = ((await fixture('sqs-orders.json')) as SQSEvent).Records;
    const bare = {
      ...record!,
      attributes: { ...record!.attributes, SentTimestamp: '', ApproximateReceiveCount: 'x' },
    };

    expect(streamMessageOf(bare)).toEqual({ messageId: record!.messageId, body: record!.body });
  });
});

describe('SDK message → Lambda SQS record (what the event source mapping builds)', () => {
  const received: Message = {
    MessageId: 'm-1',
    ReceiptHandle: 'rh-1',
    Body: '{"order_id":"o1"}',
    MD5OfBody: 'md5',
    Attributes: {
      ApproximateReceiveCount: '3',
      SentTimestamp: '1795255267500',
      SenderId: 'AIDAEXAMPLE',
      ApproximateFirstReceiveTimestamp: '1795255267600',
    },
    MessageAttributes: {
      source: { DataType: 'String', StringValue: 'shop' },
      blob: { DataType: 'Binary', BinaryValue: Buffer.from('hi') },
    },
  };

  it('has the shape of a Lambda record: attributes, lower-case message attributes, base64 binaries, ARN, region', () => {
    expect(sqsRecordOf(received, QUEUE_ARN)).toEqual({
      messageId: 'm-1',
      receiptHandle: 'rh-1',
      body: '{"order_id":"o1"}',
      attributes: received.Attributes,
      messageAttributes: {
        source: { dataType: 'String', stringValue: 'shop', stringListValues: [], binaryListValues: [] },
        blob: { dataType: 'Binary', binaryValue: 'aGk=', stringListValues: [], binaryListValues: [] },
      },
      md5OfBody: 'md5',
      eventSource: 'aws:sqs',
      eventSourceARN: QUEUE_ARN,
      awsRegion: 'eu-west-1',
    });
  });

  it('maps to the same consumer message as the Lambda record would', () => {
    expect(streamMessageOf(sqsRecordOf(received, QUEUE_ARN))).toEqual({
      messageId: 'm-1',
      body: '{"order_id":"o1"}',
      sentAt: new Date('2026-11-21T10:01:07.500Z'),
      receiveCount: 3,
    });
  });

  it('failed message ids become the partial batch response', () => {
    expect(batchResponseOf(['a', 'b'])).toEqual({
      batchItemFailures: [{ itemIdentifier: 'a' }, { itemIdentifier: 'b' }],
    });
  });
});
