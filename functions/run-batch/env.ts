import {
  lakeStoreFromEnv,
  numberFromEnv,
  timeZoneFromEnv,
  validationPolicyFromEnv,
} from '../lambda/lake-from-env.ts';

/** Read once at cold start; a bad value fails the deployment's first invocation loudly. */
export const env = {
  store: lakeStoreFromEnv(),
  spikeFactor: numberFromEnv(process.env, 'SPIKE_FACTOR', 3),
  maxMalformedShare: numberFromEnv(process.env, 'MAX_MALFORMED_SHARE', 0.05),
  lookbackDays: numberFromEnv(process.env, 'BATCH_LOOKBACK_DAYS', 7),
  concurrency: numberFromEnv(process.env, 'BATCH_CONCURRENCY', 2),
  policy: validationPolicyFromEnv(process.env),
  timeZone: timeZoneFromEnv(process.env),
};
