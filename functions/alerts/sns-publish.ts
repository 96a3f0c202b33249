import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';

/**
 * The one shape of an alert on the SNS topic, for every kind of alert (rule alerts, reconciliation deviations): the
 * subject says what happened — SNS allows 100 printable ASCII characters, others become `?` —, the message is the
 * alert as JSON, and string attributes let subscriptions filter (`day`, `kind`, …).
 */
export async function publishAlert(
  client: SNSClient,
  topicArn: string,
  alert: { subject: string; body: unknown; attributes: Record<string, string> },
): Promise<void> {
  await client.send(
    new PublishCommand({
      TopicArn: topicArn,
      Subject: alert.subject.replace(/[^\x20-\x7e]/g, '?').slice(0, 100),
      Message: JSON.stringify(alert.body, null, 2),
      MessageAttributes: Object.fromEntries(
        Object.entries(alert.attributes).map(([name, value]) => [
          name,
          { DataType: 'String', StringValue: value },
        ]),
      ),
    }),
  );
}
