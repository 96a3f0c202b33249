import { lakeStoreFromEnv } from '../lambda/lake-from-env.ts';
import { InvalidInputError } from '../pipeline/errors.ts';
import { settingsFromEnv } from '../settings/setting.ts';
import { QUERY_SALES_SETTINGS } from '../settings/settings.ts';

function corsOrigins(raw: string | undefined): string[] {
  const origins = (raw ?? '')
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean);
  for (const origin of origins) {
    if (origin !== '*' && !/^https?:\/\/[^\s/]+$/.test(origin)) {
      throw new InvalidInputError(
        `CORS_ALLOWED_ORIGINS has an invalid origin "${origin}"`,
        'CORS_ALLOWED_ORIGINS',
      );
    }
  }
  return origins;
}

/** Read once at cold start; a bad value fails the first invocation loudly. */
export const env = {
  store: lakeStoreFromEnv(),
  /** Optional, comma-separated (`https://dash.example.com` or `*`); unset = no CORS headers. */
  corsOrigins: corsOrigins(process.env['CORS_ALLOWED_ORIGINS']),
  /** Reported by GET /health. */
  version: process.env['TWINFLOW_VERSION'] ?? process.env['AWS_LAMBDA_FUNCTION_VERSION'] ?? 'dev',
  ...settingsFromEnv(QUERY_SALES_SETTINGS, process.env),
};
