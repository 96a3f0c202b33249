import { InvalidInputError } from '../pipeline/errors.ts';
import { RangeTooLargeError } from './errors.ts';

export const GRANULARITIES = ['minute', 'hour', 'day'] as const;
export type Granularity = (typeof GRANULARITIES)[number];

/** What `GET /sales` and `twinflow query` ask for, already parsed. The range is [start, end). */
export interface SalesQuery {
  start: Date;
  end: Date;
  granularity: Granularity;
  /** Only this product (rows then carry `product_id`). */
  productId?: string;
  /** `product`: one row per bucket and product (dashboards' top products). */
  groupBy?: 'product';
  /** Zone whose days are the day buckets (`tz=`; default the lake's reporting zone). */
  timeZone?: string;
}

const MS_PER_DAY = 86_400_000;

/** Longest range per granularity, in days: bounds the rows and files one request may touch. */
export const MAX_RANGE_DAYS: Record<Granularity, number> = { minute: 7, hour: 92, day: 3660 };

/** Product ids are at most 128 characters in the order contract, so longer filters can never match. */
export const MAX_PRODUCT_ID_LENGTH = 128;

/** Checks the bounds of a range and the range limit of its granularity. */
export function checkRange(query: { start: Date; end: Date; granularity: Granularity }): void {
  const { start, end, granularity } = query;
  if (Number.isNaN(start.getTime())) throw new InvalidInputError('start is not a valid instant', 'start');
  if (Number.isNaN(end.getTime())) throw new InvalidInputError('end is not a valid instant', 'end');
  if (end.getTime() <= start.getTime()) {
    throw new InvalidInputError(
      `end (${end.toISOString()}) must be after start (${start.toISOString()}); end is exclusive`,
      'end',
    );
  }
  const maxDays = MAX_RANGE_DAYS[granularity];
  const days = (end.getTime() - start.getTime()) / MS_PER_DAY;
  if (days > maxDays) {
    const wider =
      granularity === 'minute'
        ? ' (use granularity=hour)'
        : granularity === 'hour'
          ? ' (use granularity=day)'
          : '';
    throw new RangeTooLargeError(
      `granularity=${granularity} allows at most ${maxDays} days between start and end; got ${Number(days.toFixed(2))} days${wider}`,
      `${maxDays} days for granularity=${granularity}`,
    );
  }
}

/** A dimension filter value: ids are at most 128 characters in every contract, so longer ones can never match. */
export function checkDimensionValue(name: string, value: string): void {
  const length = [...value].length;
  if (length === 0) throw new InvalidInputError(`${name} must not be empty`, name);
  if (length > MAX_PRODUCT_ID_LENGTH) {
    throw new InvalidInputError(
      `${name} is at most ${MAX_PRODUCT_ID_LENGTH} characters; got ${length}`,
      name,
    );
  }
}

/** Checks what parsing alone cannot: order of the bounds and the range limit of the granularity. */
export function checkSalesQuery(query: SalesQuery): SalesQuery {
  checkRange(query);
  if (query.productId !== undefined) checkDimensionValue('product_id', query.productId);
  return query;
}
