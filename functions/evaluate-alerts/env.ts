import { lakeStoreFromEnv } from '../lambda/lake-from-env.ts';
import { settingsFromEnv } from '../settings/setting.ts';
import { EVALUATE_ALERTS_SETTINGS } from '../settings/settings.ts';

/** Read once at cold start; a bad value fails the first invocation loudly. */
export const env = {
  store: lakeStoreFromEnv(),
  /** SNS topic for alerts; without it alerts go to the lake (alerts/) and the log only. */
  alertTopicArn: process.env['ALERT_TOPIC_ARN']?.trim() || undefined,
  ...settingsFromEnv(EVALUATE_ALERTS_SETTINGS, process.env),
};
