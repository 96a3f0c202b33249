import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DlqProbe } from './ports.ts';

/** Reads the DLQ depth with `GetQueueAttributes` (needs sqs:GetQueueAttributes on the queue). */
export function sqsDlqProbe(client: SQSClient, queueUrl: string): DlqProbe {
  return {
    async approximateMessages() {
      const out = await client.send(
        new GetQueueAttributesCommand({
          QueueUrl: queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages'],
        }),
      );
      const value = Number(out.Attributes?.['ApproximateNumberOfMessages']);
      if (!Number.isFinite(value))
        throw new Error(`queue ${queueUrl} did not report ApproximateNumberOfMessages`);
      return value;
    },
  };
}
