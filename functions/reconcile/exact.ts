/**
 * Exact arithmetic for reconciliation: money as integer cents (the pipeline's) and deviations as fixed-point ratios,
 * so a zero deviation is exactly zero and no float ever decides whether an alert fires.
 */

export { centsOf as toCents, formatCents } from '../pipeline/money.ts';

import { type Micros, MICROS_PER_UNIT as SCALE } from '../pipeline/fixed-point.ts';

export { formatMicros, type Micros, RATIO_PLACES } from '../pipeline/fixed-point.ts';

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
