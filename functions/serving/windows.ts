import { InvalidInputError } from '../pipeline/errors.ts';
import type { Segment } from './hour-plan.ts';
import { type ServedModel, servedModel } from './metric-model.ts';
import {
  answerJson,
  checkFilters,
  type MeasuresJson,
  readMergedRange,
  type ServingDeps,
  totalsOf,
} from './metric-query.ts';
import { checkRange } from './query-limits.ts';
import { SALES_MODEL, type SalesTotals, salesTotals } from './sales.ts';

export const DEFAULT_WINDOW_MINUTES = [1, 5, 15] as const;
export const MAX_WINDOW_MINUTES = 1440;
export const MAX_WINDOWS = 10;

export interface WindowsInput {
  /** Window lengths in minutes (default 1, 5, 15). */
  sizes?: readonly number[];
  /** The instant the windows end at (default: the clock). */
  at?: Date;
  productId?: string;
}

/** One window: its bounds and the same measures as a `/sales` total (money per currency). */
export interface SalesWindow extends SalesTotals {
  minutes: number;
  start: string;
  end: string;
}

/** The body of `GET /sales/windows`. */
export interface WindowsResponse {
  at: string;
  product_id?: string;
  windows: SalesWindow[];
  segments: Segment[];
  batch_boundary: string | null;
  realtime_freshness: string | null;
  generated_at: string;
}

const MS_PER_MINUTE = 60_000;

/** The body of `GET /metrics/{model}/windows`: the model's measures and ratios per window. */
export interface MetricWindowsResponse {
  model: string;
  at: string;
  where?: Record<string, string>;
  windows: ({ minutes: number; start: string; end: string } & MeasuresJson)[];
  segments: Segment[];
  batch_boundary: string | null;
  realtime_freshness: string | null;
  generated_at: string;
}

export interface MetricWindowsInput {
  sizes?: readonly number[];
  at?: Date;
  /** `dimension → value`: only those rows. */
  filters?: Record<string, string>;
}

function windowSizes(input: { sizes?: readonly number[] }): number[] {
  const sizes = [...new Set(input.sizes ?? DEFAULT_WINDOW_MINUTES)].sort((a, b) => a - b);
  if (sizes.length === 0 || sizes.length > MAX_WINDOWS) {
    throw new InvalidInputError(`sizes must list 1 to ${MAX_WINDOWS} window lengths`, 'sizes');
  }
  for (const size of sizes) {
    if (!Number.isInteger(size) || size < 1 || size > MAX_WINDOW_MINUTES) {
      throw new InvalidInputError(`sizes are whole minutes 1..${MAX_WINDOW_MINUTES}; got ${size}`, 'sizes');
    }
  }
  return sizes;
}

/**
 * Where the windows at `at` end: the end of the minute bucket containing it, so the current minute counts and the
 * window of `n` minutes is the `n` buckets ending with it (`/windows`, `/top`).
 */
export function windowEnd(at: Date): Date {
  return new Date(Math.floor(at.getTime() / MS_PER_MINUTE) * MS_PER_MINUTE + MS_PER_MINUTE);
}

/**
 * Rolling sums over minute buckets of a model: the window of `n` minutes is the `n` minute buckets ending with the
 * one containing `at` (the current minute counts, so "last 1 minute" moves as events arrive). Batch serves the
 * hours it has published, realtime the rest, as for every range. Additive measures only (all a model declares).
 */
async function readWindows(model: ServedModel, input: MetricWindowsInput, deps: ServingDeps) {
  const sizes = windowSizes(input);
  const at = input.at ?? deps.clock();
  if (Number.isNaN(at.getTime())) throw new InvalidInputError('at is not a valid instant', 'at');
  const end = windowEnd(at);
  const longest = sizes.at(-1) ?? 1;
  const start = new Date(end.getTime() - longest * MS_PER_MINUTE);
  const filters = input.filters ?? {};
  checkRange({ start, end, granularity: 'minute' });
  checkFilters(model, filters);
  const merged = await readMergedRange(
    { model, start, end, granularity: 'minute', filters, groupBy: [] },
    deps,
  );
  const windows = sizes.map((minutes) => {
    const from = new Date(end.getTime() - minutes * MS_PER_MINUTE);
    const fromIso = from.toISOString().replace('.000Z', 'Z');
    return { minutes, from, rows: merged.rows.filter((row) => row.windowStart >= fromIso) };
  });
  return { at, end, merged, windows };
}

/** `GET /metrics/{model}/windows`. */
export async function metricWindows(
  model: ServedModel,
  input: MetricWindowsInput,
  deps: ServingDeps,
): Promise<MetricWindowsResponse> {
  const { at, end, merged, windows } = await readWindows(model, input, deps);
  const filters = input.filters ?? {};
  return {
    model: model.name,
    at: at.toISOString(),
    ...(Object.keys(filters).length > 0 ? { where: filters } : {}),
    windows: windows.map(({ minutes, from, rows }) => {
      const totals = totalsOf(model, rows);
      return {
        minutes,
        start: from.toISOString(),
        end: end.toISOString(),
        ...answerJson(model, totals.values, totals.money, totals.sets),
      };
    }),
    segments: merged.segments,
    batch_boundary: merged.batchBoundary,
    realtime_freshness: merged.realtimeLatest,
    generated_at: deps.clock().toISOString(),
  };
}

/** `GET /sales/windows`: the orders model's windows in the `/sales` shape. */
export async function salesWindows(input: WindowsInput, deps: ServingDeps): Promise<WindowsResponse> {
  const { at, end, merged, windows } = await readWindows(
    servedModel(SALES_MODEL),
    {
      ...(input.sizes ? { sizes: input.sizes } : {}),
      ...(input.at ? { at: input.at } : {}),
      ...(input.productId !== undefined ? { filters: { product_id: input.productId } } : {}),
    },
    deps,
  );
  return {
    at: at.toISOString(),
    ...(input.productId !== undefined ? { product_id: input.productId } : {}),
    windows: windows.map(({ minutes, from, rows }) => ({
      minutes,
      start: from.toISOString(),
      end: end.toISOString(),
      ...salesTotals(rows),
    })),
    segments: merged.segments,
    batch_boundary: merged.batchBoundary,
    realtime_freshness: merged.realtimeLatest,
    generated_at: deps.clock().toISOString(),
  };
}
