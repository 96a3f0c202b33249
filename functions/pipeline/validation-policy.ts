import type { DuckDBConnection } from '@duckdb/node-api';
import { listValue } from '@duckdb/node-api';
import { acceptedCurrencies, maxClockSkewSeconds } from '../settings/settings.ts';
import { ISO_4217_CODES } from './currencies.ts';
import { UTC } from './dates.ts';

/**
 * What the shared validation model accepts beyond the fixed contract: the stage's currencies and how far an
 * event time may run ahead of the moment its record was received. One definition for every layer.
 */
export interface ValidationPolicy {
  /** ISO 4217 codes accepted; empty = every ISO 4217 code. Others are quarantined with a reason. */
  currencies: readonly string[];
  /** An event time more than this many seconds after its record was received is quarantined. */
  maxClockSkewSeconds: number;
}

export const DEFAULT_MAX_CLOCK_SKEW_SECONDS = maxClockSkewSeconds.default;

export const DEFAULT_VALIDATION_POLICY: ValidationPolicy = {
  currencies: acceptedCurrencies.default,
  maxClockSkewSeconds: DEFAULT_MAX_CLOCK_SKEW_SECONDS,
};

/**
 * Checks a policy and returns it complete (the rules are the settings' own, functions/settings/settings.ts).
 * @throws InvalidInputError naming the setting when a currency is not an ISO 4217 code or the skew is negative.
 */
export function validationPolicy(input: Partial<ValidationPolicy> = {}): ValidationPolicy {
  const policy = { ...DEFAULT_VALIDATION_POLICY, ...input };
  return {
    currencies: acceptedCurrencies.check(policy.currencies, 'currencies'),
    maxClockSkewSeconds: maxClockSkewSeconds.check(policy.maxClockSkewSeconds, 'maxClockSkewSeconds'),
  };
}

/**
 * Creates the temp tables the validation model reads its policy from: `currency_codes` (every ISO 4217 code
 * and whether this stage accepts it) and the one-row `validation_policy`, which also names the reporting time zone
 * (the models' `reporting_day`).
 */
export async function createPolicyTables(
  connection: DuckDBConnection,
  policy: ValidationPolicy = DEFAULT_VALIDATION_POLICY,
  timeZone: string = UTC,
): Promise<void> {
  const accepted = policy.currencies.length > 0 ? policy.currencies : ISO_4217_CODES;
  await connection.run(
    `create or replace temp table currency_codes as
     select code, list_contains($accepted, code) as is_accepted from unnest($codes) as t(code)`,
    { codes: listValue([...ISO_4217_CODES]), accepted: listValue([...accepted]) },
  );
  await connection.run(
    `create or replace temp table validation_policy as
     select $skew::integer as max_clock_skew_seconds, $accepted::varchar as accepted_currencies,
       $zone::varchar as time_zone`,
    {
      zone: timeZone,
      skew: Math.round(policy.maxClockSkewSeconds),
      accepted: policy.currencies.length > 0 ? policy.currencies.join(', ') : 'any ISO 4217 code',
    },
  );
}
