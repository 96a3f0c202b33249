import { lakeStoreFromEnv } from '../lambda/lake-from-env.ts';
import { validationPolicy } from '../pipeline/validation-policy.ts';
import { settingsFromEnv } from '../settings/setting.ts';
import { RUN_BATCH_SETTINGS } from '../settings/settings.ts';

const settings = settingsFromEnv(RUN_BATCH_SETTINGS, process.env);

/** Read once at cold start; a bad value fails the deployment's first invocation loudly. */
export const env = {
  store: lakeStoreFromEnv(),
  spikeFactor: settings.spikeFactor,
  maxMalformedShare: settings.maxMalformedShare,
  lookbackDays: settings.lookbackDays,
  concurrency: settings.concurrency,
  policy: validationPolicy({
    currencies: settings.currencies,
    maxClockSkewSeconds: settings.maxClockSkewSeconds,
  }),
  timeZone: settings.timeZone,
};
