import { lakeStoreFromEnv, numberFromEnv, timeZoneFromEnv } from '../lambda/lake-from-env.ts';
import { DEFAULT_COMPACTION_GRACE_MS } from '../stream/compaction.ts';

/** Read once at cold start; a bad value fails the first invocation loudly. */
export const env = {
  store: lakeStoreFromEnv(),
  graceSeconds: numberFromEnv(process.env, 'COMPACTION_GRACE_SECONDS', DEFAULT_COMPACTION_GRACE_MS / 1000),
  lookbackDays: numberFromEnv(process.env, 'COMPACTION_LOOKBACK_DAYS', 3),
  timeZone: timeZoneFromEnv(process.env),
};
