import type { Message } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import type { StreamMessage } from './micro-batch.ts';

/**
 * The one mapping between SQS and the consumer core. Messages reach the core only as Lambda SQS event records:
 * the Lambda handler gets them from the event source mapping, and every consumer in this repo that receives
 * with the SDK itself (the local event source emulation, DLQ peeks) first builds the record Lambda would have
 * built, then maps that record to a `StreamMessage` here.
 */

/** A Lambda SQS event record as the consumer core's message: `SentTimestamp` → `sentAt`, receive count. */
export function streamMessageOf(record: SQSRecord): StreamMessage {
  const sent = Number(record.attributes?.SentTimestamp);
  const receiveCount = Number(record.attributes?.ApproximateReceiveCount);
  return {
    messageId: record.messageId,
    body: record.body,
    ...(Number.isFinite(sent) && sent > 0 ? { sentAt: new Date(sent) } : {}),
    ...(Number.isFinite(receiveCount) && receiveCount > 0 ? { receiveCount } : {}),
  };
}

/** The region of an SQS queue ARN (`arn:aws:sqs:<region>:<account>:<name>`); us-east-1 if it has none. */
function regionOf(queueArn: string): string {
  return queueArn.split(':')[3] || 'us-east-1';
}

/**
 * An SDK `ReceiveMessage` message as Lambda's event source mapping puts it in the event: system attributes in
 * `attributes`, message attributes with lower-case keys and base64 binaries, the queue's ARN and region.
 * Emulators that omit system attributes get Lambda's defaults (sent and first received now, one receive).
 */
export function sqsRecordOf(message: Message, queueArn: string): SQSRecord {
  const attributes = message.Attributes ?? {};
  const messageAttributes: SQSRecord['messageAttributes'] = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    messageAttributes[name] = {
      dataType: value.DataType ?? 'String',
      ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
      ...(value.BinaryValue !== undefined
        ? { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }
        : {}),
      stringListValues: [],
      binaryListValues: [],
    };
  }
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes['ApproximateReceiveCount'] ?? '1',
      SentTimestamp: attributes['SentTimestamp'] ?? String(Date.now()),
      SenderId: attributes['SenderId'] ?? 'local',
      ApproximateFirstReceiveTimestamp: attributes['ApproximateFirstReceiveTimestamp'] ?? String(Date.now()),
    },
    messageAttributes,
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: regionOf(queueArn),
  };
}

/** The partial batch response (ReportBatchItemFailures) that makes SQS redeliver exactly `failedMessageIds`. */
export function batchResponseOf(failedMessageIds: readonly string[]): SQSBatchResponse {
  return { batchItemFailures: failedMessageIds.map((itemIdentifier) => ({ itemIdentifier })) };
}
