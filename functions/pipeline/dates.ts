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

/** The UTC day of an instant, `YYYY-MM-DD`. */
export function dayOf(instant: Date): string {
  return instant.toISOString().slice(0, 10);
}

/** `day` shifted by `delta` days. */
export function addDays(day: string, delta: number): string {
  return dayOf(new Date(Date.parse(`${day}T00:00:00Z`) + delta * MS_PER_DAY));
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
