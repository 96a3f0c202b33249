/**
 * The local runtime's clock. `--clock-speed N` makes it run N× faster than the wall clock from the moment the
 * runtime starts (1440: a day passes in a minute), so schedules fire and generated orders carry scaled times.
 */
export interface ScaledClock {
  readonly speed: number;
  /** The scaled "now". */
  now(): Date;
  /** Wall-clock milliseconds until the scaled clock reaches `at` (0 if it already has). */
  realDelayUntil(at: Date): number;
  /** Scaled duration for a wall-clock duration (and back). */
  toScaledMs(realMs: number): number;
}

export function createScaledClock(
  speed = 1,
  origin: { real: number; scaled: number } = { real: Date.now(), scaled: Date.now() },
  wallClock: () => number = Date.now,
): ScaledClock {
  if (!(speed > 0) || !Number.isFinite(speed))
    throw new Error(`clock speed must be a positive number, got ${speed}`);
  const now = () => new Date(origin.scaled + (wallClock() - origin.real) * speed);
  return {
    speed,
    now,
    realDelayUntil: (at) => Math.max(0, (at.getTime() - now().getTime()) / speed),
    toScaledMs: (realMs) => realMs * speed,
  };
}
