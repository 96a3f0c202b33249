import { lakeStoreFromEnv } from '../lambda/lake-from-env.ts';
import { settingsFromEnv } from '../settings/setting.ts';
import { COMPACT_REALTIME_SETTINGS } from '../settings/settings.ts';

/** Read once at cold start; a bad value fails the first invocation loudly. */
export const env = {
  store: lakeStoreFromEnv(),
  ...settingsFromEnv(COMPACT_REALTIME_SETTINGS, process.env),
};
