import type { PublishedIndex } from '../pipeline/batch-published.ts';
import { addDays, dayOf, dayStartMs, hourOf, UTC } from '../pipeline/dates.ts';

export type Source = 'batch' | 'realtime';

/** A contiguous run of the range served from one layer. */
export interface Segment {
  start: string;
  end: string;
  source: Source;
}

/** Which layer serves each hour of a range (DESIGN rule 6: batch wherever it has published, per hour). */
export interface HourPlan {
  /** Published days touched by the range, with the part of the range inside each. */
  batchDays: Map<string, { start: Date; end: Date }>;
  /** UTC hours (`HH`) served from realtime, per day (the lake's day partitions). */
  realtimeHours: Map<string, Set<string>>;
  segments: Segment[];
}

const MS_PER_HOUR = 3_600_000;

/**
 * Whether batch has published `hour` of `day`. A published day covers all 24 hours (batch-published contract);
 * the plan is made per hour so a partially published day would only need this function to change.
 */
function isBatchHour(index: PublishedIndex, day: string): boolean {
  return index.days[day] !== undefined;
}

/**
 * Splits [start, end) into slots — UTC hours, cut again where a day of `timeZone` starts (half-hour zones) — and
 * assigns each to batch or realtime by the day it belongs to; segments are merged contiguous runs. Realtime hours
 * are the (day, UTC hour) partitions to read.
 */
export function planHours(index: PublishedIndex, start: Date, end: Date, timeZone: string = UTC): HourPlan {
  const plan: HourPlan = { batchDays: new Map(), realtimeHours: new Map(), segments: [] };
  const endMs = end.getTime();
  let current: Segment | undefined;
  let fromMs = start.getTime();
  let day = dayOf(start, timeZone);
  let nextDayMs = dayStartMs(addDays(day, 1), timeZone);
  while (fromMs < endMs) {
    const toMs = Math.min(Math.floor(fromMs / MS_PER_HOUR) * MS_PER_HOUR + MS_PER_HOUR, nextDayMs, endMs);
    const from = new Date(fromMs);
    const to = new Date(toMs);
    const source: Source = isBatchHour(index, day) ? 'batch' : 'realtime';
    if (source === 'batch') {
      const clip = plan.batchDays.get(day);
      if (clip) clip.end = to;
      else plan.batchDays.set(day, { start: from, end: to });
    } else {
      const hours = plan.realtimeHours.get(day) ?? new Set<string>();
      hours.add(hourOf(from));
      plan.realtimeHours.set(day, hours);
    }
    if (current?.source === source) {
      current.end = to.toISOString();
    } else {
      current = { start: from.toISOString(), end: to.toISOString(), source };
      plan.segments.push(current);
    }
    fromMs = toMs;
    if (fromMs >= nextDayMs) {
      day = addDays(day, 1);
      nextDayMs = dayStartMs(addDays(day, 1), timeZone);
    }
  }
  return plan;
}
