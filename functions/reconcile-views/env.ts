import {
  lakeStoreFromEnv,
  numberFromEnv,
  timeZoneFromEnv,
  validationPolicyFromEnv,
} from '../lambda/lake-from-env.ts';
import { InvalidInputError } from '../pipeline/errors.ts';
import { DEFAULT_LOOKBACK_DAYS, DEFAULT_THRESHOLD } from '../reconcile/reconcile.ts';

function optional(name: string): string | undefined {
  const value = process.env[name]?.trim();
  return value ? value : undefined;
}

const threshold = numberFromEnv(process.env, 'DEVIATION_THRESHOLD', DEFAULT_THRESHOLD);
if (!(threshold > 0 && threshold <= 10)) {
  throw new InvalidInputError(
    `DEVIATION_THRESHOLD must be a fraction > 0 (0.1 = 10 %), got ${threshold}`,
    'DEVIATION_THRESHOLD',
  );
}
const lookbackDays = numberFromEnv(process.env, 'LOOKBACK_DAYS', DEFAULT_LOOKBACK_DAYS);
if (!Number.isInteger(lookbackDays) || lookbackDays < 0 || lookbackDays > 31) {
  throw new InvalidInputError(
    `LOOKBACK_DAYS must be a whole number 0..31, got ${lookbackDays}`,
    'LOOKBACK_DAYS',
  );
}

/** Read once at cold start; a bad value fails the first invocation loudly. */
export const env = {
  store: lakeStoreFromEnv(),
  /** SNS topic for alerts; without it alerts go to the lake (alerts/) and the log only. */
  alertTopicArn: optional('ALERT_TOPIC_ARN'),
  /** The orders DLQ; without it the DLQ depth is reported as "unknown". */
  dlqUrl: optional('ORDERS_DLQ_URL'),
  threshold,
  lookbackDays,
  /** The batch function's gate settings, for the days reconciliation re-runs. */
  spikeFactor: numberFromEnv(process.env, 'SPIKE_FACTOR', 3),
  maxMalformedShare: numberFromEnv(process.env, 'MAX_MALFORMED_SHARE', 0.05),
  /** The batch function's validation policy, for the same reruns. */
  policy: validationPolicyFromEnv(process.env),
  timeZone: timeZoneFromEnv(process.env),
};
