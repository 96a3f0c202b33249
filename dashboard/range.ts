/** Time ranges and granularities of the sales panel (pure: the clock is passed in). */

import { addDays, dayOf, dayStartMs } from '../functions/pipeline/dates.ts';

export type Granularity = 'minute' | 'hour' | 'day';
export type Preset = '24h' | '7d' | '30d';

export const GRANULARITY_MS: Record<Granularity, number> = {
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
};

export const PRESET_MS: Record<Preset, number> = {
  '24h': 86_400_000,
  '7d': 7 * 86_400_000,
  '30d': 30 * 86_400_000,
};

export const PRESET_LABEL: Record<Preset, string> = {
  '24h': 'Last 24 h',
  '7d': 'Last 7 days',
  '30d': 'Last 30 days',
};

/** The serving API's range limit per granularity (days), mirrored so the page never asks for a 400. */
export const MAX_RANGE_DAYS: Record<Granularity, number> = { minute: 7, hour: 92, day: 3660 };

export const DEFAULT_GRANULARITY: Record<Preset, Granularity> = { '24h': 'hour', '7d': 'hour', '30d': 'day' };

export interface TimeRange {
  start: Date;
  end: Date;
}

/** Whether the API accepts `granularity` for a range this long. */
export function isAllowed(granularity: Granularity, range: TimeRange): boolean {
  return range.end.getTime() - range.start.getTime() <= MAX_RANGE_DAYS[granularity] * GRANULARITY_MS.day;
}

/** The finest granularity the API accepts for the range, at least `preferred`'s coarseness. */
export function fitGranularity(preferred: Granularity, range: TimeRange): Granularity {
  const order: Granularity[] = ['minute', 'hour', 'day'];
  for (const g of order.slice(order.indexOf(preferred))) if (isAllowed(g, range)) return g;
  return 'day';
}

/**
 * A preset ending with the bucket that holds `now` (so the current, still-filling bucket is shown) and reaching
 * back the preset's length: whole buckets only, so the first bar is not a partial one.
 */
export function presetRange(
  preset: Preset,
  granularity: Granularity,
  now: Date,
  timeZone = 'UTC',
): TimeRange {
  if (granularity === 'day') {
    // Whole days of the reporting zone, ending with today's.
    const end = dayStartMs(addDays(dayOf(now, timeZone), 1), timeZone);
    const days = Math.round(PRESET_MS[preset] / GRANULARITY_MS.day);
    return {
      start: new Date(dayStartMs(addDays(dayOf(now, timeZone), 1 - days), timeZone)),
      end: new Date(end),
    };
  }
  const unit = GRANULARITY_MS[granularity];
  const end = (Math.floor(now.getTime() / unit) + 1) * unit;
  return { start: new Date(end - PRESET_MS[preset]), end: new Date(end) };
}

/**
 * Every bucket start of the range at `granularity`, as the API cuts them: minutes and hours UTC-aligned, days at
 * midnight of `timeZone` (the answer's `query.tz`; a DST day is 23 or 25 hours).
 */
export function bucketStarts(range: TimeRange, granularity: Granularity, timeZone = 'UTC'): number[] {
  const starts: number[] = [];
  if (granularity === 'day') {
    for (let day = dayOf(range.start, timeZone); ; day = addDays(day, 1)) {
      const start = dayStartMs(day, timeZone);
      if (start >= range.end.getTime()) break;
      starts.push(start);
    }
    return starts;
  }
  const unit = GRANULARITY_MS[granularity];
  for (let t = Math.floor(range.start.getTime() / unit) * unit; t < range.end.getTime(); t += unit) {
    starts.push(t);
  }
  return starts;
}

/** `<input type="datetime-local">` value (read as UTC) → Date, or undefined when empty or invalid. */
export function parseLocalInput(value: string): Date | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(value)) return undefined;
  const date = new Date(`${value}${value.length === 16 ? ':00' : ''}Z`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** Date → `<input type="datetime-local">` value in UTC. */
export function toLocalInput(date: Date): string {
  return date.toISOString().slice(0, 16);
}
