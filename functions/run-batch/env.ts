import { lakeStoreFromEnv } from '../lambda/lake-from-env.ts';
import { validationPolicy } from '../pipeline/validation-policy.ts';
import { settingsFromEnv } from '../settings/setting.ts';
import { RUN_BATCH_SETTINGS } from '../settings/settings.ts';

const settings = settingsFromEnv(RUN_BATCH_SETTINGS, process.env);

/** Read once at cold start; a bad value fails the deployment's first invocation loudly. */
export const env = {
  store: lakeStoreFromEnv(),
  /** The lake's bucket and prefix when it is S3 (the fan-out's ItemReader reads its item list there). */
  lakeBucket: process.env['LAKE_BUCKET'],
  lakePrefix: (process.env['LAKE_PREFIX'] ?? '').replace(/^\/+|\/+$/g, ''),
  spikeFactor: settings.spikeFactor,
  maxMalformedShare: settings.maxMalformedShare,
  lookbackDays: settings.lookbackDays,
  concurrency: settings.concurrency,
  fanOutThresholdBytes: settings.fanOutThresholdBytes,
  fanOutBuckets: settings.fanOutBuckets,
  /**
   * The fan-out state machine (CDK sets it from lib/constructs/batch-fan-out.ts): a day from the threshold on is
   * handed over to it. Unset, such a day's fan-out runs in this function.
   */
  fanOutStateMachineArn: process.env['BATCH_FAN_OUT_STATE_MACHINE_ARN']?.trim() || undefined,
  policy: validationPolicy({
    currencies: settings.currencies,
    maxClockSkewSeconds: settings.maxClockSkewSeconds,
  }),
  timeZone: settings.timeZone,
};
