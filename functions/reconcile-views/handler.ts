import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import { scheduledTime } from '../lambda/event-input.ts';
import { log, logger, metrics } from '../lambda/observability.ts';
import { fanOutAlerts, lakeAlertSink, snsAlertSink } from '../reconcile/alert-sinks.ts';
import { sqsDlqProbe } from '../reconcile/dlq-probe.ts';
import type { ReconcileDeps } from '../reconcile/ports.ts';
import { reconcile } from '../reconcile/reconcile.ts';
import { env } from './env.ts';

// SDK clients live at module scope (reused while warm); endpoints follow AWS_ENDPOINT_URL_SNS/SQS locally.
const sns = env.alertTopicArn ? new SNSClient({}) : undefined;
const sqs = env.dlqUrl ? new SQSClient({}) : undefined;

const deps: ReconcileDeps = {
  store: env.store,
  clock: () => new Date(),
  log,
  timeZone: env.timeZone,
  alerts: fanOutAlerts(
    lakeAlertSink(env.store, log),
    ...(sns && env.alertTopicArn ? [snsAlertSink(sns, env.alertTopicArn)] : []),
  ),
  ...(sqs && env.dlqUrl ? { dlq: sqsDlqProbe(sqs, env.dlqUrl) } : {}),
};

/** Reconciliation (EventBridge hourly): compare, correct, explain, alert; emits `deviationRatio`. */
async function reconcileViews(event: unknown) {
  const { record, key, deviationRatio } = await reconcile(
    {
      // The hourly schedule's time is the run's logical time, so a fixture replays any hour.
      now: scheduledTime(event),
      lookbackDays: env.lookbackDays,
      threshold: env.threshold,
      batchThresholds: { spikeFactor: env.spikeFactor, maxMalformedShare: env.maxMalformedShare },
      policy: env.policy,
    },
    deps,
  );
  metrics.addMetric('deviationRatio', MetricUnit.NoUnit, deviationRatio);
  metrics.addMetric('reconciliationAlerts', MetricUnit.Count, record.alerts.length);
  metrics.addMetric('reconciliationCorrections', MetricUnit.Count, record.corrections.length);
  return {
    runId: record.run_id,
    key,
    status: record.status,
    maxAbsDeviation: record.max_abs_deviation,
    days: record.days.map((d) => ({ day: d.day, maxAbsDeviation: d.after.max_abs_deviation })),
    skippedDays: record.skipped_days,
    corrections: record.corrections.map((c) => ({ kind: c.kind, day: c.day, status: c.status })),
    alerts: record.alerts.map((a) => a.alert_id),
  };
}

export const handler = middy(reconcileViews)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
