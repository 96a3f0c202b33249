import type { SNSClient } from '@aws-sdk/client-sns';
import type { RuleAlertSink } from './rules.ts';
import { publishAlert } from './sns-publish.ts';

/** Publishes each rule alert to the SNS topic: the subject says what crossed, the message is the alert JSON. */
export function snsRuleAlertSink(client: SNSClient, topicArn: string): RuleAlertSink {
  return {
    publish: (alert) =>
      publishAlert(client, topicArn, {
        subject: `Twinflow alert ${alert.message}`,
        body: alert,
        attributes: { day: alert.where.day, kind: alert.kind, rule: alert.rule },
      }),
  };
}
