import { InvalidInputError } from '../pipeline/errors.ts';
import type { Segment } from './hour-plan.ts';
import type { ServedMeasure, ServedModel } from './metric-model.ts';
import {
  answerJson,
  checkFilters,
  type MeasuresJson,
  readMergedRange,
  type ServingDeps,
  totalsOf,
} from './metric-query.ts';
import { checkRange } from './query-limits.ts';
import type { BucketRow } from './read-buckets.ts';
import { MAX_WINDOW_MINUTES, windowEnd } from './windows.ts';

/** The defaults and bounds of `GET /metrics/{model}/top` and `twinflow top` (query-params.ts and the CLI read them). */
export const TOP_LIMITS = {
  defaultMinutes: 15,
  maxMinutes: MAX_WINDOW_MINUTES,
  defaultLimit: 10,
  maxLimit: 100,
} as const;

/** What `GET /metrics/{model}/top` and `twinflow top` ask for, already parsed. */
export interface TopQuery {
  /** The declared measure to rank by. */
  measure: string;
  /** Length of the window: the `minutes` minute buckets ending with the one containing the serving clock's now. */
  minutes: number;
  /** How many values to return. */
  limit: number;
  /** The dimension whose values are ranked (default: the model's first non-currency dimension). */
  by?: string;
  /** `dimension → value`: only those rows (a money measure needs its currency dimension here). */
  filters: Record<string, string>;
}

/** One ranked value: the dimension value, the ranking measure, then every measure and ratio of the value over the window. */
export type TopRow = MeasuresJson;

/** The body of `GET /metrics/{model}/top`. */
export interface TopResponse {
  model: string;
  measure: string;
  minutes: number;
  limit: number;
  by: string;
  where?: Record<string, string>;
  /** The window [start, end): `minutes` whole minute buckets, the current one included. */
  start: string;
  end: string;
  /** Highest measure first; ties by the dimension value. At most `limit` rows; values with no rows are absent. */
  top: TopRow[];
  segments: Segment[];
  batch_boundary: string | null;
  realtime_freshness: string | null;
  generated_at: string;
}

const MS_PER_MINUTE = 60_000;

function wholeIn(value: number, parameter: string, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidInputError(`${parameter} must be a whole number 1..${max}; got ${value}`, parameter);
  }
  return value;
}

function rankedMeasure(model: ServedModel, name: string): ServedMeasure {
  const measure = model.measures.find((m) => m.name === name);
  if (!measure) {
    throw new InvalidInputError(
      `${model.name} has no measure "${name.slice(0, 64)}" (measures: ${model.measures.map((m) => m.name).join(', ')})`,
      'measure',
    );
  }
  return measure;
}

/** The dimension to rank: `by`, or the first dimension that is not a currency. */
function rankedDimension(model: ServedModel, by: string | undefined): string {
  const rankable = model.dimensions.filter((d) => !model.currencyDimensions.includes(d));
  if (by === undefined) {
    const first = rankable[0];
    if (first === undefined) {
      throw new InvalidInputError(`${model.name} has no dimension to rank (besides currencies)`, 'by');
    }
    return first;
  }
  if (!rankable.includes(by)) {
    const why = model.currencyDimensions.includes(by)
      ? `${by} is a currency dimension: money ranks within one currency, never across them`
      : `${model.name} has no dimension "${by.slice(0, 64)}"`;
    throw new InvalidInputError(`${why} (by: ${rankable.join(', ') || 'none'})`, 'by');
  }
  return by;
}

/**
 * Checks a top query against its model. A money measure ranks only within one currency, so its currency dimension
 * must be filtered: amounts in different currencies are never added, nor compared.
 */
function checkTopQuery(model: ServedModel, query: TopQuery): { measure: ServedMeasure; by: string } {
  const measure = rankedMeasure(model, query.measure);
  wholeIn(query.minutes, 'minutes', TOP_LIMITS.maxMinutes);
  wholeIn(query.limit, 'limit', TOP_LIMITS.maxLimit);
  const by = rankedDimension(model, query.by);
  checkFilters(model, query.filters);
  if (measure.currency !== undefined && query.filters[measure.currency] === undefined) {
    throw new InvalidInputError(
      `${measure.name} is money and ranks only within one currency: add ${measure.currency}=<ISO 4217 code> (e.g. ${measure.currency}=USD)`,
      measure.currency,
    );
  }
  return { measure, by };
}

/** What a value is ranked by: a count or sum, a distinct set's size, or money in the filtered currency (cents). */
function rankOf(
  measure: ServedMeasure,
  totals: ReturnType<typeof totalsOf>,
  filters: Record<string, string>,
): number | bigint {
  if (measure.kind === 'distinct') return totals.sets[measure.name]?.size ?? 0;
  if (measure.kind === 'money') {
    return totals.money[measure.name]?.get(filters[measure.currency as string] ?? '') ?? 0n;
  }
  return totals.values[measure.name] ?? 0;
}

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The values of a dimension with the highest measure over the last `minutes` minutes ending now (the serving clock):
 * `GET /metrics/{model}/top`, `twinflow top`. The window is read like every range — batch for the hours it has
 * published, realtime for the rest (readMergedRange) — and each value's measures are the sums (distinct: the union)
 * over its rows. Rows without a value of the dimension are not ranked. Throws `InvalidInputError` naming the parameter.
 */
export async function topOf(model: ServedModel, query: TopQuery, deps: ServingDeps): Promise<TopResponse> {
  const { measure, by } = checkTopQuery(model, query);
  const end = windowEnd(deps.clock());
  const start = new Date(end.getTime() - query.minutes * MS_PER_MINUTE);
  // Hour buckets: the seam between the layers is per hour, and the range bounds every row to the window's minutes.
  checkRange({ start, end, granularity: 'hour' });
  const merged = await readMergedRange(
    { model, start, end, granularity: 'hour', filters: query.filters, groupBy: [by] },
    deps,
  );
  const byValue = new Map<string, BucketRow[]>();
  for (const row of merged.rows) {
    const value = row.keys[by];
    if (value === null || value === undefined) continue;
    byValue.set(value, [...(byValue.get(value) ?? []), row]);
  }
  const ranked = [...byValue].map(([value, rows]) => {
    const totals = totalsOf(model, rows);
    return { value, rank: rankOf(measure, totals, query.filters), totals };
  });
  ranked.sort((a, b) => (a.rank > b.rank ? -1 : a.rank < b.rank ? 1 : compareText(a.value, b.value)));
  const hasFilters = Object.keys(query.filters).length > 0;
  return {
    model: model.name,
    measure: measure.name,
    minutes: query.minutes,
    limit: query.limit,
    by,
    ...(hasFilters ? { where: query.filters } : {}),
    start: start.toISOString(),
    end: end.toISOString(),
    top: ranked.slice(0, query.limit).map(({ value, totals }) => {
      const json = answerJson(model, totals.values, totals.money, totals.sets);
      return { [by]: value, [measure.name]: json[measure.name] ?? 0, ...json };
    }),
    segments: merged.segments,
    batch_boundary: merged.batchBoundary,
    realtime_freshness: merged.realtimeLatest,
    generated_at: deps.clock().toISOString(),
  };
}
