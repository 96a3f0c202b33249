import { type ZodType, z } from 'zod';
import { addDays, dayStartMs, parseTimeZone } from '../pipeline/dates.ts';
import { InvalidInputError } from '../pipeline/errors.ts';
import type { ServedModel } from './metric-model.ts';
import type { MetricQuery } from './metric-query.ts';
import { checkSalesQuery, GRANULARITIES, type SalesQuery } from './query-limits.ts';
import { TOP_LIMITS, type TopQuery } from './top.ts';
import { MAX_WINDOWS, type MetricWindowsInput, type WindowsInput } from './windows.ts';

/**
 * Query-string parameters of the serving API (HTTP and CLI share them): parsed with zod into the core's
 * typed inputs. Every failure is an `InvalidInputError` naming the parameter.
 */

const INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2}))?$/;
const MS_PER_MINUTE = 60_000;

/**
 * An ISO-8601 instant with a zone (`2026-11-20T10:00:00Z`, `…+02:00`) or a day (`2026-11-20` = 00:00 UTC).
 * A space before the offset is read as `+`: an unencoded `+` in a query string arrives as a space.
 */
export function parseInstant(raw: string, parameter: string): Date {
  const value = raw.replace(/ (\d{2}:?\d{2})$/, '+$1');
  const match = INSTANT.exec(value);
  if (!match) {
    throw new InvalidInputError(
      `${parameter} must be an ISO-8601 instant with a zone (2026-11-20T10:00:00Z) or a day (2026-11-20)`,
      parameter,
    );
  }
  const [, y, mo, d, h = '00', mi = '00', s = '00', fraction = '', zone = 'Z'] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const ms = Date.UTC(
    year,
    month - 1,
    day,
    Number(h),
    Number(mi),
    Number(s),
    Number(fraction.padEnd(3, '0').slice(0, 3)),
  );
  const check = new Date(Date.UTC(year, month - 1, day));
  const isCalendarDay =
    check.getUTCFullYear() === year && check.getUTCMonth() === month - 1 && check.getUTCDate() === day;
  if (year < 1970 || !isCalendarDay || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    throw new InvalidInputError(`${parameter} is not a real date and time: "${raw.slice(0, 64)}"`, parameter);
  }
  let offsetMinutes = 0;
  if (zone !== 'Z') {
    const digits = zone.replace(':', '');
    const hours = Number(digits.slice(1, 3));
    const minutes = Number(digits.slice(3, 5));
    if (hours > 18 || minutes > 59) {
      throw new InvalidInputError(`${parameter} has an impossible UTC offset "${zone}"`, parameter);
    }
    offsetMinutes = (zone.startsWith('-') ? -1 : 1) * (hours * 60 + minutes);
  }
  return new Date(ms - offsetMinutes * MS_PER_MINUTE);
}

/** A required instant or day query parameter (`2026-11-20T10:00:00Z`, `2026-11-20`); `.optional()` for others. */
export function instant(parameter: string) {
  return z
    .string({
      error: (issue) =>
        issue.input === undefined ? `${parameter} is required` : `${parameter} must be a string`,
    })
    .transform((value, ctx) => {
      try {
        return parseInstant(value, parameter);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    });
}

const productId = z.string();

/** `tz=Asia/Taipei`: an IANA zone. */
const timeZone = z.string().transform((value, ctx) => {
  try {
    return parseTimeZone(value, 'tz');
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});

export const salesParamsSchema = z.strictObject({
  start: instant('start'),
  end: instant('end').optional(),
  granularity: z
    .enum(GRANULARITIES, { error: () => `granularity must be one of ${GRANULARITIES.join(', ')}` })
    .default('hour'),
  product_id: productId.optional(),
  group_by: z.enum(['product'], { error: () => 'group_by must be "product"' }).optional(),
  tz: timeZone.optional(),
});

export const windowsParamsSchema = z.strictObject({
  sizes: z
    .string()
    .regex(/^\d{1,4}(?:,\d{1,4})*$/, { error: 'sizes must be comma-separated whole minutes, e.g. 1,5,15' })
    .transform((value) => value.split(',').map(Number))
    .optional(),
  at: instant('at').optional(),
  product_id: productId.optional(),
});

export const noParamsSchema = z.strictObject({});

function describeName(name: string): string {
  return JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);
}

/** Parses `params` with `schema`; the first problem becomes an `InvalidInputError` naming its parameter. */
export function parseParams<T>(schema: ZodType<T>, params: Record<string, string>): T {
  const parsed = schema.safeParse(params);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (issue?.code === 'unrecognized_keys') {
    const name = issue.keys[0] ?? '';
    throw new InvalidInputError(`unknown parameter ${describeName(name)}`, name);
  }
  const parameter = String(issue?.path[0] ?? 'query');
  throw new InvalidInputError(issue?.message ?? 'invalid query', parameter);
}

const DAY_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * `GET /sales` parameters → a checked `SalesQuery` (range limits included). A day (`2026-11-20`) is its midnight
 * in `tz` (default `timeZone`, the lake's reporting zone); without `end`, a day `start` means that whole day and
 * an instant means "until now".
 */
export function parseSalesParams(
  params: Record<string, string>,
  now: Date = new Date(),
  timeZone = 'UTC',
): SalesQuery {
  const p = parseParams(salesParamsSchema, params);
  const zone = p.tz ?? timeZone;
  const dayStart = (raw: string | undefined, parsed: Date) =>
    raw !== undefined && DAY_ONLY.test(raw) ? new Date(dayStartMs(raw, zone)) : parsed;
  const start = dayStart(params['start'], p.start);
  const startDay = params['start'] ?? '';
  const end = p.end
    ? dayStart(params['end'], p.end)
    : DAY_ONLY.test(startDay)
      ? new Date(dayStartMs(addDays(startDay, 1), zone))
      : now;
  return checkSalesQuery({
    start,
    end,
    granularity: p.granularity,
    timeZone: zone,
    ...(p.product_id !== undefined ? { productId: p.product_id } : {}),
    ...(p.group_by !== undefined ? { groupBy: p.group_by } : {}),
  });
}

/** The dimension filters of a metric request: every parameter a schema does not own names a dimension. */
function dimensionFilters(
  model: ServedModel,
  params: Record<string, string>,
  own: readonly string[],
): { filters: Record<string, string>; rest: Record<string, string> } {
  const filters: Record<string, string> = {};
  const rest: Record<string, string> = {};
  for (const [name, value] of Object.entries(params)) {
    if (own.includes(name)) rest[name] = value;
    else if (model.dimensions.includes(name)) filters[name] = value;
    else {
      throw new InvalidInputError(
        `unknown parameter ${describeName(name)} (${model.name} dimensions: ${model.dimensions.join(', ')})`,
        name,
      );
    }
  }
  return { filters, rest };
}

const metricParamsSchema = salesParamsSchema.omit({ product_id: true, group_by: true }).extend({
  group_by: z
    .string()
    .regex(/^[a-z][a-z0-9_]*(?:,[a-z][a-z0-9_]*)*$/, {
      error: 'group_by must be comma-separated dimension names',
    })
    .transform((value) => [...new Set(value.split(','))])
    .optional(),
});

/**
 * `GET /metrics/{model}` parameters → a `MetricQuery`: `start`, `end`, `granularity`, `group_by=dim[,dim]`, `tz`,
 * and one `<dimension>=value` filter per dimension. Days and defaults as for `/sales`.
 */
export function parseMetricParams(
  model: ServedModel,
  params: Record<string, string>,
  now: Date = new Date(),
  timeZone = 'UTC',
): MetricQuery {
  const { filters, rest } = dimensionFilters(model, params, Object.keys(metricParamsSchema.shape));
  const p = parseParams(metricParamsSchema, rest);
  const range = parseSalesParams(
    {
      start: rest['start'] ?? '',
      ...(rest['end'] !== undefined ? { end: rest['end'] } : {}),
      granularity: p.granularity,
      ...(p.tz !== undefined ? { tz: p.tz } : {}),
    },
    now,
    timeZone,
  );
  return {
    start: range.start,
    end: range.end,
    granularity: range.granularity,
    filters,
    groupBy: p.group_by ?? [],
    ...(range.timeZone !== undefined ? { timeZone: range.timeZone } : {}),
  };
}

/** `GET /metrics/{model}/windows` parameters → `MetricWindowsInput` (`sizes`, `at`, dimension filters). */
export function parseMetricWindowsParams(
  model: ServedModel,
  params: Record<string, string>,
): MetricWindowsInput {
  const own = ['sizes', 'at'];
  const { filters, rest } = dimensionFilters(model, params, own);
  const p = parseParams(windowsParamsSchema.omit({ product_id: true }), rest);
  if (p.sizes && p.sizes.length > MAX_WINDOWS) {
    throw new InvalidInputError(`sizes lists at most ${MAX_WINDOWS} windows`, 'sizes');
  }
  return { ...(p.sizes ? { sizes: p.sizes } : {}), ...(p.at ? { at: p.at } : {}), filters };
}

/** A whole number parameter within 1..max, with its default. */
function wholeNumber(parameter: string, max: number, fallback: number) {
  const message = `${parameter} must be a whole number 1..${max}`;
  return z
    .string()
    .regex(/^\d{1,6}$/, { error: message })
    .transform(Number)
    .refine((n) => n >= 1 && n <= max, { error: message })
    .default(fallback);
}

const topParamsSchema = z.strictObject({
  // Required, but checked below so the error can list the model's measures.
  measure: z.string().optional(),
  minutes: wholeNumber('minutes', TOP_LIMITS.maxMinutes, TOP_LIMITS.defaultMinutes),
  limit: wholeNumber('limit', TOP_LIMITS.maxLimit, TOP_LIMITS.defaultLimit),
  by: z.string().optional(),
});

/**
 * `GET /metrics/{model}/top` parameters → a `TopQuery`: `measure` (required), `minutes` (1..1440, default 15),
 * `limit` (1..100, default 10), `by` and one `<dimension>=value` filter per dimension. The model-dependent checks
 * (a declared measure, a rankable `by`, money within one currency) are the core's (top.ts).
 */
export function parseTopParams(model: ServedModel, params: Record<string, string>): TopQuery {
  const { filters, rest } = dimensionFilters(model, params, Object.keys(topParamsSchema.shape));
  const p = parseParams(topParamsSchema, rest);
  if (p.measure === undefined || p.measure === '') {
    throw new InvalidInputError(
      `measure is required (${model.name} measures: ${model.measures.map((m) => m.name).join(', ')})`,
      'measure',
    );
  }
  return {
    measure: p.measure,
    minutes: p.minutes,
    limit: p.limit,
    ...(p.by !== undefined ? { by: p.by } : {}),
    filters,
  };
}

/** `GET /sales/windows` parameters → `WindowsInput`. */
export function parseWindowsParams(params: Record<string, string>): WindowsInput {
  const p = parseParams(windowsParamsSchema, params);
  if (p.sizes && p.sizes.length > MAX_WINDOWS) {
    throw new InvalidInputError(`sizes lists at most ${MAX_WINDOWS} windows`, 'sizes');
  }
  if (p.product_id !== undefined) {
    checkSalesQuery({ start: new Date(0), end: new Date(1), granularity: 'minute', productId: p.product_id });
  }
  return {
    ...(p.sizes ? { sizes: p.sizes } : {}),
    ...(p.at ? { at: p.at } : {}),
    ...(p.product_id !== undefined ? { productId: p.product_id } : {}),
  };
}

/**
 * One name or value of a query string, form-decoded (`+` is a space) and strict: a `%` without two hex digits
 * after it, or escapes that are not UTF-8, give `undefined`. URLSearchParams would keep the bad `%` literally
 * and replace the bytes with U+FFFD, so a broken `product_id` quietly matched nothing instead of being refused.
 */
function decodeQueryComponent(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}

/**
 * A raw query string → one value per name, split as URLSearchParams does (`&`, then the first `=`). A repeated
 * name is refused (which value would win is ambiguous, and API Gateway would silently join them with commas),
 * and so is broken percent-encoding, naming the parameter (as sent, if the name itself is broken).
 */
export function paramsFromQueryString(raw: string): Record<string, string> {
  const params: Record<string, string> = Object.create(null);
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const separator = pair.indexOf('=');
    const rawName = separator === -1 ? pair : pair.slice(0, separator);
    const rawValue = separator === -1 ? '' : pair.slice(separator + 1);
    const name = decodeQueryComponent(rawName);
    if (name === undefined) {
      throw new InvalidInputError(
        `parameter name ${describeName(rawName)} is not valid percent-encoded UTF-8`,
        rawName,
      );
    }
    const value = decodeQueryComponent(rawValue);
    if (value === undefined) {
      throw new InvalidInputError(
        `${describeName(name)} is not valid percent-encoded UTF-8: ${describeName(rawValue)}`,
        name,
      );
    }
    if (Object.hasOwn(params, name)) {
      throw new InvalidInputError(`parameter ${describeName(name)} is given more than once`, name);
    }
    params[name] = value;
  }
  return params;
}

/** `GET /<balance>`: each of its dimensions (optional filters) and `at` (an instant; default now). */
export function parseBalanceParams(
  balance: { name: string; dimensions: readonly string[] },
  params: Record<string, string>,
): { at?: Date; filters: Record<string, string> } {
  const schema = z.strictObject({
    at: instant('at').optional(),
    ...Object.fromEntries(
      balance.dimensions.map((d) => [d, z.string().min(1, `${d} must not be empty`).optional()]),
    ),
  });
  const parsed = parseParams(schema, params) as Record<string, unknown> & { at?: Date };
  const filters: Record<string, string> = {};
  for (const d of balance.dimensions) if (typeof parsed[d] === 'string') filters[d] = parsed[d];
  return { ...(parsed.at ? { at: parsed.at } : {}), filters };
}

/** `GET /<balance>/discrepancies`: `day` (default the newest compared), `limit` rows (1..1000, default 20). */
export function parseDiscrepancyParams(params: Record<string, string>): { day?: string; limit: number } {
  const schema = z.strictObject({
    day: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, 'day must be YYYY-MM-DD')
      .optional(),
    limit: z
      .string()
      .regex(/^\d{1,4}$/, 'limit must be a whole number 1..1000')
      .transform(Number)
      .refine((n) => n >= 1 && n <= 1000, 'limit must be a whole number 1..1000')
      .default(20),
  });
  const parsed = parseParams(schema, params);
  return { ...(parsed.day !== undefined ? { day: parsed.day } : {}), limit: parsed.limit };
}
