import { InvalidInputError } from '../pipeline/errors.ts';
import type { Segment } from './hour-plan.ts';
import { readMergedRange, type SalesTotals, type ServingDeps, totalsOf } from './query-sales.ts';
import { checkSalesQuery } from './sales-query.ts';

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

/**
 * Rolling sums over minute buckets: the window of `n` minutes is the `n` minute buckets ending with the one
 * containing `at` (the current minute counts, so "last 1 minute" moves as orders arrive).
 * Batch serves the hours it has published, realtime the rest, as for `querySales`.
 */
export async function salesWindows(input: WindowsInput, deps: ServingDeps): Promise<WindowsResponse> {
  const sizes = [...new Set(input.sizes ?? DEFAULT_WINDOW_MINUTES)].sort((a, b) => a - b);
  if (sizes.length === 0 || sizes.length > MAX_WINDOWS) {
    throw new InvalidInputError(`sizes must list 1 to ${MAX_WINDOWS} window lengths`, 'sizes');
  }
  for (const size of sizes) {
    if (!Number.isInteger(size) || size < 1 || size > MAX_WINDOW_MINUTES) {
      throw new InvalidInputError(`sizes are whole minutes 1..${MAX_WINDOW_MINUTES}; got ${size}`, 'sizes');
    }
  }
  const at = input.at ?? deps.clock();
  if (Number.isNaN(at.getTime())) throw new InvalidInputError('at is not a valid instant', 'at');
  const end = new Date(Math.floor(at.getTime() / MS_PER_MINUTE) * MS_PER_MINUTE + MS_PER_MINUTE);
  const longest = sizes.at(-1) ?? 1;
  const start = new Date(end.getTime() - longest * MS_PER_MINUTE);
  const query = checkSalesQuery({
    start,
    end,
    granularity: 'minute',
    ...(input.productId !== undefined ? { productId: input.productId } : {}),
  });
  const merged = await readMergedRange(
    {
      start: query.start,
      end: query.end,
      granularity: 'minute',
      byProduct: false,
      ...(query.productId !== undefined ? { productId: query.productId } : {}),
    },
    deps,
  );
  const windows = sizes.map((minutes): SalesWindow => {
    const from = new Date(end.getTime() - minutes * MS_PER_MINUTE);
    const fromIso = from.toISOString().replace('.000Z', 'Z');
    return {
      minutes,
      start: from.toISOString(),
      end: end.toISOString(),
      ...totalsOf(merged.rows.filter((row) => row.windowStart >= fromIso)),
    };
  });
  return {
    at: at.toISOString(),
    ...(input.productId !== undefined ? { product_id: input.productId } : {}),
    windows,
    segments: merged.segments,
    batch_boundary: merged.batchBoundary,
    realtime_freshness: merged.realtimeLatest,
    generated_at: deps.clock().toISOString(),
  };
}
