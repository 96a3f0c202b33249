import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { SNSClient } from '@aws-sdk/client-sns';
import middy from '@middy/core';
import { alertRulesOf, evaluateAlerts } from '../alerts/rules.ts';
import { snsRuleAlertSink } from '../alerts/sns-sink.ts';
import { scheduledTime } from '../lambda/event-input.ts';
import { log, logger, metrics } from '../lambda/observability.ts';
import { env } from './env.ts';

// Module scope: reused while warm; the endpoint follows AWS_ENDPOINT_URL_SNS locally.
const sns = env.alertTopicArn ? new SNSClient({}) : undefined;
const sinks = sns && env.alertTopicArn ? [snsRuleAlertSink(sns, env.alertTopicArn)] : [];

/**
 * Every declared alert rule (EventBridge, every minute), at the schedule's time: model rules (which no event may
 * trigger, e.g. no orders for an hour) and balance rules (a count or a corrected batch moves a level too). The
 * ingest functions also evaluate their dataset's balance rules after each micro-batch, within seconds.
 */
async function evaluate(event: unknown) {
  const now = scheduledTime(event);
  const { results, failed } = await evaluateAlerts(alertRulesOf(), {
    store: env.store,
    clock: () => now,
    log,
    timeZone: env.timeZone,
    sinks,
  });
  metrics.addMetric(
    'alertsRaised',
    MetricUnit.Count,
    results.reduce((n, r) => n + r.fired.length, 0),
  );
  metrics.addMetric(
    'alertsOpen',
    MetricUnit.Count,
    results.reduce((n, r) => n + r.firing, 0),
  );
  metrics.addMetric('alertRulesFailed', MetricUnit.Count, failed.length);
  const summary = {
    at: now.toISOString(),
    rules: results.map((r) => ({
      rule: r.rule,
      keys: r.keys,
      firing: r.firing,
      raised: r.fired.map((a) => a.alert_id),
      resolved: r.resolved.map((a) => a.alert_id),
    })),
    failed,
  };
  // A rule that cannot be evaluated (e.g. an unreadable reorder table) fails the run, after the others ran.
  if (failed.length > 0)
    throw new Error(`alert rules failed: ${failed.map((f) => `${f.rule}: ${f.error}`).join('; ')}`);
  return summary;
}

export const handler = middy(evaluate)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }));
