/**
 * EventBridge schedule expressions (`rate(5 minutes)`, `cron(0 2 * * ? *)`, always UTC) and when they fire next.
 * Supports the cron syntax the stage configs use: `*`, `?`, values, ranges, steps, lists and month/day names.
 * `L`, `W` and `#` are rejected with a clear error rather than silently mis-scheduled.
 */

export type Schedule =
  | { kind: 'rate'; expression: string; everyMs: number }
  | { kind: 'cron'; expression: string; fields: CronFields };

interface CronFields {
  minutes: Set<number>;
  hours: Set<number>;
  daysOfMonth: Set<number> | 'any';
  months: Set<number>;
  /** 0 = Sunday … 6 = Saturday (EventBridge writes them 1-7 / SUN-SAT). */
  daysOfWeek: Set<number> | 'any';
  years: Set<number> | 'any';
}

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const RATE_UNITS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

export class ScheduleExpressionError extends Error {
  constructor(expression: string, why: string) {
    super(`schedule expression "${expression}": ${why}`);
    this.name = 'ScheduleExpressionError';
  }
}

function parseField(
  expression: string,
  field: string,
  min: number,
  max: number,
  names: readonly string[] = [],
  nameOffset = 0,
): Set<number> {
  const values = new Set<number>();
  const value = (token: string): number => {
    const named = names.indexOf(token.toUpperCase());
    const n = named >= 0 ? named + nameOffset : Number(token);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new ScheduleExpressionError(expression, `"${token}" is outside ${min}-${max}`);
    }
    return n;
  };
  for (const part of field.split(',')) {
    if (/[LW#]/.test(part))
      throw new ScheduleExpressionError(expression, `"${part}" (L, W, #) is not supported`);
    const [range = '', stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1)
      throw new ScheduleExpressionError(expression, `bad step in "${part}"`);
    let from: number;
    let to: number;
    if (range === '*') {
      from = min;
      to = max;
    } else if (range.includes('-')) {
      const [a = '', b = ''] = range.split('-');
      from = value(a);
      to = value(b);
    } else {
      from = value(range);
      to = stepText === undefined ? from : max;
    }
    for (let n = from; n <= to; n += step) values.add(n);
  }
  return values;
}

/** Parses `rate(…)` or `cron(…)`. */
export function parseSchedule(expression: string): Schedule {
  const rate = /^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$/.exec(expression.trim());
  if (rate) {
    const amount = Number(rate[1]);
    const unit = RATE_UNITS[(rate[2] ?? '').replace(/s$/, '')] ?? 0;
    if (amount < 1) throw new ScheduleExpressionError(expression, 'rate must be at least 1');
    return { kind: 'rate', expression, everyMs: amount * unit };
  }
  const cron = /^cron\((.+)\)$/.exec(expression.trim());
  if (!cron?.[1]) throw new ScheduleExpressionError(expression, 'expected rate(…) or cron(…)');
  const parts = cron[1].trim().split(/\s+/);
  if (parts.length !== 6) throw new ScheduleExpressionError(expression, 'cron needs 6 fields');
  const [minutes = '', hours = '', dom = '', month = '', dow = '', year = ''] = parts;
  if ((dom === '?') === (dow === '?')) {
    throw new ScheduleExpressionError(expression, 'exactly one of day-of-month and day-of-week must be "?"');
  }
  return {
    kind: 'cron',
    expression,
    fields: {
      minutes: parseField(expression, minutes, 0, 59),
      hours: parseField(expression, hours, 0, 23),
      daysOfMonth: dom === '?' || dom === '*' ? 'any' : parseField(expression, dom, 1, 31),
      months: parseField(expression, month, 1, 12, MONTHS, 1),
      // EventBridge: 1 = SUN … 7 = SAT; stored 0-6 like Date#getUTCDay.
      daysOfWeek:
        dow === '?' || dow === '*'
          ? 'any'
          : new Set([...parseField(expression, dow, 1, 7, DAYS, 1)].map((d) => d - 1)),
      years: year === '*' ? 'any' : parseField(expression, year, 1970, 2199),
    },
  };
}

function dayMatches(fields: CronFields, date: Date): boolean {
  return (
    fields.months.has(date.getUTCMonth() + 1) &&
    (fields.years === 'any' || fields.years.has(date.getUTCFullYear())) &&
    (fields.daysOfMonth === 'any' || fields.daysOfMonth.has(date.getUTCDate())) &&
    (fields.daysOfWeek === 'any' || fields.daysOfWeek.has(date.getUTCDay()))
  );
}

const DAY_MS = 86_400_000;

/**
 * The first time strictly after `after` the schedule fires. Rates count from `anchor` (when the rule started,
 * like EventBridge counts from rule creation). Undefined when a cron never fires again (a past year).
 */
export function nextFireTime(schedule: Schedule, after: Date, anchor: Date = after): Date | undefined {
  if (schedule.kind === 'rate') {
    const elapsed = after.getTime() - anchor.getTime();
    const periods = Math.floor(elapsed / schedule.everyMs) + 1;
    return new Date(anchor.getTime() + Math.max(1, periods) * schedule.everyMs);
  }
  const { fields } = schedule;
  const start = Math.floor(after.getTime() / 60_000) * 60_000 + 60_000;
  let day = Math.floor(start / DAY_MS) * DAY_MS;
  // Ten years of days is plenty to find any satisfiable expression.
  for (let i = 0; i < 3660; i++, day += DAY_MS) {
    const date = new Date(day);
    if (!dayMatches(fields, date)) continue;
    for (const hour of [...fields.hours].sort((a, b) => a - b)) {
      for (const minute of [...fields.minutes].sort((a, b) => a - b)) {
        const at = day + hour * 3_600_000 + minute * 60_000;
        if (at >= start) return new Date(at);
      }
    }
  }
  return undefined;
}
