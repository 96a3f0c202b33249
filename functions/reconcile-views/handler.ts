import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import { scheduledTime } from '../lambda/event-input.ts';
import { log, logger, metrics } from '../lambda/observability.ts';
import { listDatasets } from '../pipeline/datasets.ts';
import { fanOutAlerts, lakeAlertSink, snsAlertSink } from '../reconcile/alert-sinks.ts';
import { sqsDlqProbe } from '../reconcile/dlq-probe.ts';
import type { ReconcileDeps } from '../reconcile/ports.ts';
import { reconcile } from '../reconcile/reconcile.ts';
import { env } from './env.ts';

// SDK clients live at module scope (reused while warm); endpoints follow AWS_ENDPOINT_URL_SNS/SQS locally.
const sns = env.alertTopicArn ? new SNSClient({}) : undefined;
const sqs = new SQSClient({});

const deps: ReconcileDeps = {
  store: env.store,
  clock: () => new Date(),
  log,
  timeZone: env.timeZone,
  alerts: fanOutAlerts(
    lakeAlertSink(env.store, log),
    ...(sns && env.alertTopicArn ? [snsAlertSink(sns, env.alertTopicArn)] : []),
  ),
};

/** The dataset whose (first) run the response has always carried at its top level. */
const TOP_LEVEL_DATASET = 'orders';

/** Every minute model of every dataset with both a batch and a stream: what the hourly run compares. */
export function reconciledModels(): { dataset: string; model: string }[] {
  return listDatasets()
    .filter((ds) => ds.source === 'stream+batch')
    .flatMap((ds) =>
      ds.models.filter((m) => m.grain === 'minute').map((m) => ({ dataset: ds.name, model: m.name })),
    );
}

/**
 * Reconciliation (EventBridge hourly): compare, correct, explain, alert, for each reconciled model; emits
 * `deviationRatio` (the largest over the models). Orders' first minute model's run (sales_minute) is also the
 * response's top level, as before datasets: picked by name, since datasets run in name order (clicks first).
 */
async function reconcileViews(event: unknown) {
  // The hourly schedule's time is the run's logical time, so a fixture replays any hour.
  const now = scheduledTime(event);
  const runs = [];
  for (const { dataset, model } of reconciledModels()) {
    const dlqUrl = env.dlqUrlOf(dataset);
    const { record, key, deviationRatio } = await reconcile(
      {
        now,
        model,
        lookbackDays: env.lookbackDays,
        threshold: env.threshold,
        batchThresholds: { spikeFactor: env.spikeFactor, maxMalformedShare: env.maxMalformedShare },
        policy: env.policy,
      },
      { ...deps, ...(dlqUrl ? { dlq: sqsDlqProbe(sqs, dlqUrl) } : {}) },
    );
    runs.push({
      dataset,
      model,
      deviationRatio,
      runId: record.run_id,
      key,
      status: record.status,
      maxAbsDeviation: record.max_abs_deviation,
      days: record.days.map((d) => ({ day: d.day, maxAbsDeviation: d.after.max_abs_deviation })),
      skippedDays: record.skipped_days,
      corrections: record.corrections.map((c) => ({ kind: c.kind, day: c.day, status: c.status })),
      alerts: record.alerts.map((a) => a.alert_id),
    });
  }
  metrics.addMetric('deviationRatio', MetricUnit.NoUnit, Math.max(0, ...runs.map((r) => r.deviationRatio)));
  metrics.addMetric(
    'reconciliationAlerts',
    MetricUnit.Count,
    runs.reduce((n, r) => n + r.alerts.length, 0),
  );
  metrics.addMetric(
    'reconciliationCorrections',
    MetricUnit.Count,
    runs.reduce((n, r) => n + r.corrections.length, 0),
  );
  const first = runs.find((run) => run.dataset === TOP_LEVEL_DATASET) ?? runs[0];
  const { dataset: _dataset, model: _model, deviationRatio: _ratio, ...top } = first ?? {};
  return { ...top, runs };
}

export const handler = middy(reconcileViews)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
