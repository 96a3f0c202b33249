import { UTC } from '../pipeline/dates.ts';
import type { Segment } from './hour-plan.ts';
import { servedModel } from './metric-model.ts';
import { measuresJson, readMergedRange, type ServingDeps, totalsOf } from './metric-query.ts';
import type { RevenueJson } from './money.ts';
import { checkSalesQuery, type Granularity, type SalesQuery } from './query-limits.ts';
import type { BucketRow } from './read-buckets.ts';

export type { ServingDeps };

/** `/sales` is the orders dataset's minute model, served by the same engine as `GET /metrics/sales_minute`. */
export const SALES_MODEL = 'sales_minute';

/**
 * Money fields (`RevenueJson`): `revenue_by_currency` maps each ISO 4217 code to a decimal string with two places
 * (JSON never rounds money); `revenue` is there exactly when one currency is involved.
 */
export interface SalesRow extends RevenueJson {
  /** Bucket start, UTC ISO (`2026-11-20T10:00:00Z`). */
  window_start: string;
  /** Present when the query filtered by product or grouped by product. */
  product_id?: string;
  orders: number;
  units: number;
}

export interface SalesTotals extends RevenueJson {
  orders: number;
  units: number;
}

/** The body of `GET /sales` and of `twinflow query --json`. */
export interface SalesResponse {
  query: {
    start: string;
    end: string;
    granularity: Granularity;
    product_id?: string;
    group_by?: 'product';
    /** The zone whose days are the day buckets. */
    tz: string;
  };
  rows: SalesRow[];
  totals: SalesTotals;
  /** Contiguous runs of the range and the layer that served each (batch wherever it has published). */
  segments: Segment[];
  /** End of the contiguous published batch range (exclusive, ISO), or null before the first publish. */
  batch_boundary: string | null;
  /** Newest realtime minute window inside the range, any product (ISO), or null when realtime has none there. */
  realtime_freshness: string | null;
  generated_at: string;
}

/** The sales totals of a set of buckets (`/sales` totals, `/sales/windows` windows). */
export function salesTotals(rows: readonly BucketRow[]): SalesTotals {
  const model = servedModel(SALES_MODEL);
  const totals = totalsOf(model, rows);
  return measuresJson(model, totals.values, totals.money) as unknown as SalesTotals;
}

function salesRow(row: BucketRow): SalesRow {
  const model = servedModel(SALES_MODEL);
  const productId = row.keys['product_id'];
  return {
    window_start: row.windowStart,
    ...(productId ? { product_id: productId } : {}),
    ...(measuresJson(model, row.values, row.money) as unknown as Omit<SalesRow, 'window_start'>),
  };
}

/**
 * Sales over [start, end) by minute, hour or day, merged per hour across batch and realtime (DESIGN rule 6).
 * Throws `InvalidInputError` (naming the parameter) for a bad range, `RangeTooLargeError` beyond the limit.
 */
export async function querySales(input: SalesQuery, deps: ServingDeps): Promise<SalesResponse> {
  const query = checkSalesQuery(input);
  const byProduct = query.groupBy === 'product';
  const timeZone = query.timeZone ?? deps.timeZone ?? UTC;
  const merged = await readMergedRange(
    {
      model: servedModel(SALES_MODEL),
      start: query.start,
      end: query.end,
      granularity: query.granularity,
      filters: query.productId !== undefined ? { product_id: query.productId } : {},
      groupBy: byProduct ? ['product_id'] : [],
      timeZone,
    },
    deps,
  );
  return {
    query: {
      start: query.start.toISOString(),
      end: query.end.toISOString(),
      granularity: query.granularity,
      ...(query.productId !== undefined ? { product_id: query.productId } : {}),
      ...(byProduct ? { group_by: 'product' as const } : {}),
      tz: timeZone,
    },
    rows: merged.rows.map(salesRow),
    totals: salesTotals(merged.rows),
    segments: merged.segments,
    batch_boundary: merged.batchBoundary,
    realtime_freshness: merged.realtimeLatest,
    generated_at: deps.clock().toISOString(),
  };
}
