import { InvalidInputError } from './errors.ts';

const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;
const MS_PER_DAY = 86_400_000;

/** Returns `value` if it is a real calendar day `YYYY-MM-DD`, else throws naming `parameter`. */
export function parseDay(value: string, parameter = 'date'): string {
  if (!DAY_PATTERN.test(value)) {
    throw new InvalidInputError(`${parameter} must be a date YYYY-MM-DD, got "${value}"`, parameter);
  }
  const parsed = new Date(`${value}T00:00:00Z`);
  if (Number.isNaN(parsed.getTime()) || parsed.toISOString().slice(0, 10) !== value) {
    throw new InvalidInputError(`${parameter} is not a calendar date: "${value}"`, parameter);
  }
  return value;
}

/** The day of an instant in `zone` (default UTC), `YYYY-MM-DD`. */
export function dayOf(instant: Date, zone: string = UTC): string {
  if (zone === UTC) return instant.toISOString().slice(0, 10);
  const parts: Record<string, string> = {};
  for (const part of dayFormat(zone).formatToParts(instant)) parts[part.type] = part.value;
  return `${parts['year']}-${parts['month']}-${parts['day']}`;
}

/** `day` shifted by `delta` calendar days. */
export function addDays(day: string, delta: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + delta * MS_PER_DAY).toISOString().slice(0, 10);
}

/** Every day from `start` to `end`, both included. Throws when end is before start or the range is huge. */
export function daysBetween(start: string, end: string, maxDays = 3660): string[] {
  parseDay(start, 'start-date');
  parseDay(end, 'end-date');
  if (end < start) {
    throw new InvalidInputError(`end-date ${end} is before start-date ${start}`, 'end-date');
  }
  const days: string[] = [];
  for (let day = start; day <= end; day = addDays(day, 1)) {
    days.push(day);
    if (days.length > maxDays) {
      throw new InvalidInputError(`range ${start}..${end} is longer than ${maxDays} days`, 'end-date');
    }
  }
  return days;
}

/** Two-digit UTC hour `00`..`23`. */
export function hourOf(instant: Date): string {
  return instant.toISOString().slice(11, 13);
}

/** The reporting time zone when a stage names none. */
export const UTC = 'UTC';

const dayFormats = new Map<string, Intl.DateTimeFormat>();

function dayFormat(zone: string): Intl.DateTimeFormat {
  let format = dayFormats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    dayFormats.set(zone, format);
  }
  return format;
}

/**
 * Returns the IANA time zone `value` (e.g. `Asia/Taipei`, `UTC`) if this runtime knows it, else throws naming
 * `parameter`. Offsets such as `+08:00` are refused: a fixed offset is wrong on every DST day.
 */
export function parseTimeZone(value: string, parameter = 'tz'): string {
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/.test(value) || /^(?:GMT|UTC)?[+-]/.test(value)) {
    throw new InvalidInputError(
      `${parameter} must be an IANA time zone such as UTC or Asia/Taipei, got "${value}"`,
      parameter,
    );
  }
  try {
    dayFormat(value);
  } catch {
    throw new InvalidInputError(`${parameter}: unknown time zone "${value}"`, parameter);
  }
  return value;
}

/** Milliseconds the zone's wall clock is ahead of UTC at `instant` (+08:00 → 28 800 000). */
export function zoneOffsetMs(instant: number, zone: string): number {
  const parts: Record<string, number> = {};
  for (const part of dayFormat(zone).formatToParts(new Date(instant))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  const wall = Date.UTC(
    parts['year'] ?? 0,
    (parts['month'] ?? 1) - 1,
    parts['day'] ?? 1,
    parts['hour'] ?? 0,
    parts['minute'] ?? 0,
    parts['second'] ?? 0,
  );
  return wall - (instant - (((instant % 1000) + 1000) % 1000));
}

/**
 * The first instant of `day` in `zone` (ms since the epoch): local midnight, or the end of the DST gap on the
 * rare day whose midnight does not exist. A day is 23, 24 or 25 hours long; never assume 24.
 */
export function dayStartMs(day: string, zone: string = UTC): number {
  const wall = Date.parse(`${parseDay(day)}T00:00:00Z`);
  if (zone === UTC) return wall;
  let instant = wall - zoneOffsetMs(wall, zone);
  instant = wall - zoneOffsetMs(instant, zone);
  const startsHere = (t: number) => dayOf(new Date(t), zone) >= day;
  if (startsHere(instant) && !startsHere(instant - 1)) return instant;
  // Midnight fell in a DST gap (America/Santiago, …): the first instant whose local day is `day`, searched.
  let low = wall - 15 * 3_600_000;
  let high = wall + 15 * 3_600_000;
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (startsHere(mid)) high = mid;
    else low = mid;
  }
  return high;
}

/** [start, end) of `day` in `zone`. */
export function dayRange(day: string, zone: string = UTC): { start: Date; end: Date } {
  return { start: new Date(dayStartMs(day, zone)), end: new Date(dayStartMs(addDays(day, 1), zone)) };
}

/**
 * The last stretch of UTC hour `hh` inside `day` (in `zone`), ms since the epoch, or undefined when the day has
 * no such hour. A day partition's hour `HH` is a UTC hour; in a half-hour zone, or on a 25-hour DST day, one
 * label occurs twice in a day.
 */
export function hourWithin(
  day: string,
  hh: string,
  zone: string = UTC,
): { start: number; end: number } | undefined {
  const { start, end } = dayRange(day, zone);
  let latest: { start: number; end: number } | undefined;
  for (const date of [addDays(day, -1), day, addDays(day, 1)]) {
    const hourStart = Date.parse(`${date}T${hh}:00:00Z`);
    const hourEnd = hourStart + 3_600_000;
    if (hourStart < end.getTime() && hourEnd > start.getTime()) {
      latest = { start: Math.max(hourStart, start.getTime()), end: Math.min(hourEnd, end.getTime()) };
    }
  }
  return latest;
}
