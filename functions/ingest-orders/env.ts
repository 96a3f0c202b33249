import { lakeStoreFromEnv } from '../lambda/lake-from-env.ts';
import { validationPolicy } from '../pipeline/validation-policy.ts';
import { settingsFromEnv } from '../settings/setting.ts';
import { INGEST_ORDERS_SETTINGS } from '../settings/settings.ts';
import { ingestDataset } from './dataset.ts';

const settings = settingsFromEnv(INGEST_ORDERS_SETTINGS, process.env);

/** Read once at cold start; a bad value fails the first invocation loudly. */
export const env = {
  /** The declared dataset this function consumes (`TWINFLOW_DATASET`, default orders). */
  dataset: ingestDataset(process.env),
  store: lakeStoreFromEnv(),
  allowedLatenessSeconds: settings.allowedLatenessSeconds,
  policy: validationPolicy({
    currencies: settings.currencies,
    maxClockSkewSeconds: settings.maxClockSkewSeconds,
  }),
  timeZone: settings.timeZone,
  /** SNS topic for the alerts of the dataset's balance rules; without it they go to the lake (alerts/) only. */
  alertTopicArn: process.env['ALERT_TOPIC_ARN']?.trim() || undefined,
};
