import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { RuleAlert, RuleAlertSink } from './rules.ts';

/** SNS subjects are limited to 100 printable ASCII characters. */
function subjectOf(alert: RuleAlert): string {
  return `Twinflow alert ${alert.message}`.replace(/[^\x20-\x7e]/g, '?').slice(0, 100);
}

/** Publishes each rule alert to the SNS topic: the subject says what crossed, the message is the alert JSON. */
export function snsRuleAlertSink(client: SNSClient, topicArn: string): RuleAlertSink {
  return {
    async publish(alert) {
      await client.send(
        new PublishCommand({
          TopicArn: topicArn,
          Subject: subjectOf(alert),
          Message: JSON.stringify(alert, null, 2),
          MessageAttributes: {
            day: { DataType: 'String', StringValue: alert.where.day },
            kind: { DataType: 'String', StringValue: alert.kind },
            rule: { DataType: 'String', StringValue: alert.rule },
          },
        }),
      );
    },
  };
}
