import type { SNSClient } from '@aws-sdk/client-sns';
import { publishAlert } from '../alerts/sns-publish.ts';
import { lake } from '../pipeline/lake-layout.ts';
import { type ObjectStore, putJson } from '../pipeline/object-store.ts';
import type { LogPort } from '../pipeline/ports.ts';
import type { AlertSink } from './ports.ts';
import type { ReconciliationAlert } from './run-record.ts';

/** Writes each alert to `alerts/dt=D/<alert_id>.json` (the dashboard reads them) and logs a warning line. */
export function lakeAlertSink(store: ObjectStore, log: LogPort): AlertSink {
  return {
    async publish(alert) {
      await putJson(store, lake.alert(alert.where.day, alert.alert_id), alert);
      log.warn('reconciliation alert', {
        alertId: alert.alert_id,
        where: alert.where,
        maxAbsDeviation: alert.how_much.max_abs_deviation,
        summary: alert.message,
      });
    },
  };
}

/** Where and how much, for the SNS subject. */
function subjectOf(alert: ReconciliationAlert): string {
  const { day, hour, product_id } = alert.where;
  const where = [day, hour === null ? '' : `hour ${hour}`, product_id === null ? '' : `product ${product_id}`]
    .filter(Boolean)
    .join(' ');
  const percent = (Number(alert.how_much.max_abs_deviation) * 100).toFixed(1);
  return `Twinflow batch/realtime deviation ${percent}% on ${where}`;
}

/** Publishes each alert to the SNS topic: the subject says where and how much, the message is the alert JSON. */
export function snsAlertSink(client: SNSClient, topicArn: string): AlertSink {
  return {
    publish: (alert) =>
      publishAlert(client, topicArn, {
        subject: subjectOf(alert),
        body: alert,
        attributes: { day: alert.where.day, kind: alert.kind },
      }),
  };
}

/** Publishes to every sink; one failing sink does not stop the others, but the failure is raised afterwards. */
export function fanOutAlerts(...sinks: AlertSink[]): AlertSink {
  return {
    async publish(alert) {
      const results = await Promise.allSettled(sinks.map((sink) => sink.publish(alert)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}
