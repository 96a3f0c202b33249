/**
 * Fixed-point ratios in millionths (bigint): every ratio the platform reports — reconciliation's deviations,
 * served models' declared ratios — is exact integer arithmetic printed with six places, so no float ever decides
 * a digit and batch and realtime print the same text for the same sums.
 */

/** Decimal places of every reported ratio (`'0.250000'`, `'-0.041667'`). */
export const RATIO_PLACES = 6;
/** One whole (1.000000) in millionths. */
export const MICROS_PER_UNIT = 10n ** BigInt(RATIO_PLACES);

/** A ratio in millionths (fixed point). */
export type Micros = bigint;

/**
 * `numerator / denominator` in millionths, rounded half away from zero (`1/8` → 125000, `1/2000000` → 1,
 * `-1/2000000` → −1); `null` when the denominator is 0 (no finite ratio).
 */
export function ratioMicros(numerator: bigint, denominator: bigint): Micros | null {
  if (denominator === 0n) return null;
  const negative = numerator < 0n !== denominator < 0n;
  const n = (numerator < 0n ? -numerator : numerator) * MICROS_PER_UNIT;
  const d = denominator < 0n ? -denominator : denominator;
  const rounded = n / d + (2n * (n % d) >= d ? 1n : 0n);
  return negative ? -rounded : rounded;
}

/** Millionths → `'-0.041667'`. */
export function formatMicros(micros: Micros): string {
  const sign = micros < 0n ? '-' : '';
  const abs = micros < 0n ? -micros : micros;
  return `${sign}${abs / MICROS_PER_UNIT}.${(abs % MICROS_PER_UNIT).toString().padStart(RATIO_PLACES, '0')}`;
}
