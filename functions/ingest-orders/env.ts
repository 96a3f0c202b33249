import {
  lakeStoreFromEnv,
  numberFromEnv,
  timeZoneFromEnv,
  validationPolicyFromEnv,
} from '../lambda/lake-from-env.ts';
import { DEFAULT_ALLOWED_LATENESS_SECONDS } from '../stream/watermark.ts';

/** Read once at cold start; a bad value fails the first invocation loudly. */
export const env = {
  store: lakeStoreFromEnv(),
  allowedLatenessSeconds: numberFromEnv(
    process.env,
    'ALLOWED_LATENESS_SECONDS',
    DEFAULT_ALLOWED_LATENESS_SECONDS,
  ),
  policy: validationPolicyFromEnv(process.env),
  timeZone: timeZoneFromEnv(process.env),
};
