import os from 'node:os';
import path from 'node:path';
import { parseTimeZone, UTC } from '../pipeline/dates.ts';
import { InvalidInputError } from '../pipeline/errors.ts';
import type { ObjectStore } from '../pipeline/object-store.ts';
import { openStore } from '../pipeline/open-store.ts';
import {
  currenciesFromText,
  DEFAULT_MAX_CLOCK_SKEW_SECONDS,
  type ValidationPolicy,
  validationPolicy,
} from '../pipeline/validation-policy.ts';

/**
 * The lake a handler works on, from its environment (read once at cold start):
 * `LAKE_BUCKET` (+ `LAKE_PREFIX`) in AWS and behind local S3 servers, or `LAKE_DIR` for
 * `twinflow invoke` against a local directory. Custom endpoints follow `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`.
 */
export function lakeStoreFromEnv(env: NodeJS.ProcessEnv = process.env): ObjectStore {
  const endpoint = env['AWS_ENDPOINT_URL_S3'] ?? env['AWS_ENDPOINT_URL'];
  if (env['LAKE_BUCKET']) {
    const prefix = (env['LAKE_PREFIX'] ?? '').replace(/^\/+|\/+$/g, '');
    return openStore(`s3://${env['LAKE_BUCKET']}${prefix ? `/${prefix}` : ''}`, {
      endpoint,
      region: env['AWS_REGION'],
      cacheDir: path.join(os.tmpdir(), 'twinflow-cache'),
    });
  }
  if (env['LAKE_DIR']) return openStore(env['LAKE_DIR']);
  throw new InvalidInputError(
    'set LAKE_BUCKET (S3) or LAKE_DIR (local directory) for the lake',
    'LAKE_BUCKET',
  );
}

/** Reads a number from the environment, failing fast at cold start with the variable's name. */
export function numberFromEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new InvalidInputError(`${name} must be a number, got "${raw}"`, name);
  return value;
}

/** The reporting time zone (`REPORTING_TIME_ZONE`, an IANA name; default UTC), checked at cold start. */
export function timeZoneFromEnv(env: NodeJS.ProcessEnv): string {
  const raw = env['REPORTING_TIME_ZONE']?.trim();
  return raw ? parseTimeZone(raw, 'REPORTING_TIME_ZONE') : UTC;
}

/** The validation policy (`ACCEPTED_CURRENCIES`, `MAX_CLOCK_SKEW_SECONDS`), checked at cold start. */
export function validationPolicyFromEnv(env: NodeJS.ProcessEnv): ValidationPolicy {
  return validationPolicy({
    currencies: currenciesFromText(env['ACCEPTED_CURRENCIES']),
    maxClockSkewSeconds: numberFromEnv(env, 'MAX_CLOCK_SKEW_SECONDS', DEFAULT_MAX_CLOCK_SKEW_SECONDS),
  });
}
