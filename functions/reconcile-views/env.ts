import { lakeStoreFromEnv } from '../lambda/lake-from-env.ts';
import { validationPolicy } from '../pipeline/validation-policy.ts';
import { settingsFromEnv } from '../settings/setting.ts';
import { RECONCILE_VIEWS_SETTINGS } from '../settings/settings.ts';

function optional(name: string): string | undefined {
  const value = process.env[name]?.trim();
  return value ? value : undefined;
}

const settings = settingsFromEnv(RECONCILE_VIEWS_SETTINGS, process.env);

/** Read once at cold start; a bad value fails the first invocation loudly. */
export const env = {
  store: lakeStoreFromEnv(),
  /** SNS topic for alerts; without it alerts go to the lake (alerts/) and the log only. */
  alertTopicArn: optional('ALERT_TOPIC_ARN'),
  /** A streamed dataset's DLQ (`<DATASET>_DLQ_URL`); without it its depth is reported as "unknown". */
  dlqUrlOf: (dataset: string) => optional(`${dataset.toUpperCase()}_DLQ_URL`),
  threshold: settings.threshold,
  lookbackDays: settings.lookbackDays,
  /** The batch function's gate settings, for the days reconciliation re-runs. */
  spikeFactor: settings.spikeFactor,
  maxMalformedShare: settings.maxMalformedShare,
  /** The batch function's validation policy, for the same reruns. */
  policy: validationPolicy({
    currencies: settings.currencies,
    maxClockSkewSeconds: settings.maxClockSkewSeconds,
  }),
  timeZone: settings.timeZone,
};
