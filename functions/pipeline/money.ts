/**
 * Money leaves DuckDB as DECIMAL(18,2) text and is added in JS as integer cents (bigint), so no sum is ever
 * rounded by a float and JSON carries it back out as a decimal string with two places.
 */

const DECIMAL = /^(-?)(\d+)(?:\.(\d{1,2}))?$/;

/** `'12.30'` → `1230n`. Accepts what DuckDB prints for DECIMAL(_, 2) (and fewer decimals). */
export function centsOf(decimal: string): bigint {
  const match = DECIMAL.exec(decimal.trim());
  if (!match) throw new Error(`not a decimal amount: "${decimal}"`);
  const cents = BigInt(match[2] ?? '0') * 100n + BigInt((match[3] ?? '').padEnd(2, '0'));
  return match[1] === '-' ? -cents : cents;
}

/** `1230n` → `'12.30'`. */
export function formatCents(cents: bigint): string {
  const sign = cents < 0n ? '-' : '';
  const abs = cents < 0n ? -cents : cents;
  return `${sign}${abs / 100n}.${(abs % 100n).toString().padStart(2, '0')}`;
}
