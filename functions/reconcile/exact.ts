/**
 * Exact arithmetic for reconciliation: money as integer cents (the pipeline's) and deviations as fixed-point ratios,
 * so a zero deviation is exactly zero and no float ever decides whether an alert fires.
 */

export { centsOf as toCents, formatCents } from '../pipeline/money.ts';

/** Decimal places of every reported ratio (`'-0.041667'`). */
export const RATIO_PLACES = 6;
const SCALE = 10n ** BigInt(RATIO_PLACES);

/** A ratio in millionths (fixed point), rounded half away from zero. */
export type Micros = bigint;

/**
 * `(realtime − batch) / batch` in millionths, rounded away from zero so that any difference at all shows
 * (0 means exactly equal); `null` when batch is 0 and realtime is not (no finite ratio).
 */
export function deviationMicros(realtime: bigint, batch: bigint): Micros | null {
  if (batch === 0n) return realtime === 0n ? 0n : null;
  const numerator = (realtime - batch) * SCALE;
  const quotient = numerator / batch;
  if (numerator % batch === 0n) return quotient;
  return numerator < 0n !== batch < 0n ? quotient - 1n : quotient + 1n;
}

/** Millionths → `'-0.041667'`. */
export function formatMicros(micros: Micros): string {
  const sign = micros < 0n ? '-' : '';
  const abs = micros < 0n ? -micros : micros;
  return `${sign}${abs / SCALE}.${(abs % SCALE).toString().padStart(RATIO_PLACES, '0')}`;
}

/** A fraction (`0.1`) → millionths, for thresholds given as numbers. */
export function microsOf(fraction: number): Micros {
  return BigInt(Math.round(fraction * Number(SCALE)));
}

/** Millionths → a JS number (metrics and charts only; never for decisions). */
export function microsToNumber(micros: Micros): number {
  return Number(micros) / Number(SCALE);
}

export function absMicros(micros: Micros): Micros {
  return micros < 0n ? -micros : micros;
}

/** The largest of some ratios (0 for none). Math.max does not take bigints. */
export function maxMicros(values: Iterable<Micros>): Micros {
  let max: Micros = 0n;
  for (const value of values) if (value > max) max = value;
  return max;
}
