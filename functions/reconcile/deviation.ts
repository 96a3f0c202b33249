import { type RevenueJson, revenueJson } from '../pipeline/money.ts';
import { addMeasures, type Cell, type Measures, zero } from './day-layers.ts';
import { absMicros, deviationMicros, formatMicros, type Micros, maxMicros } from './exact.ts';

/** Measures as they appear in JSON: counts as numbers, money per currency as decimal strings. */
export interface MeasuresJson extends RevenueJson {
  orders: number;
  units: number;
}

/**
 * Signed `(realtime − batch) / batch` per measure, as a fixed 6-place decimal string (`'-0.041667'`).
 * `null` when batch has none and realtime has some (no finite ratio; counted as 1.000000 for alerting).
 * Revenue is compared per currency (`revenue_by_currency`); `revenue` is the currency that deviates most.
 */
export interface DeviationJson {
  orders: string | null;
  units: string | null;
  revenue: string | null;
  revenue_by_currency: Record<string, string | null>;
}

/** One compared period: the whole day, an hour, a product (over the day) or an (hour, product) cell. */
export interface ComparisonRow {
  hour?: string;
  product_id?: string;
  batch: MeasuresJson;
  realtime: MeasuresJson;
  deviation: DeviationJson;
  /** The largest absolute deviation of the three measures (`'0.041667'`). */
  max_abs_deviation: string;
}

/** How far the realtime view of one day is from its published batch view. */
export interface DayComparison {
  totals: ComparisonRow;
  /** Every hour either layer has data for, in order. */
  hours: ComparisonRow[];
  /** The products that deviate, largest deviation first (at most `TOP_ROWS`). */
  products: ComparisonRow[];
  /** The (hour, product) cells that deviate, largest deviation first (at most `TOP_ROWS`). */
  cells: ComparisonRow[];
  products_compared: number;
  products_deviating: number;
  cells_deviating: number;
  /** Largest absolute deviation over the day, its hours and its products: what the alert threshold applies to. */
  max_abs_deviation: string;
}

export const TOP_ROWS = 20;

/** A ratio with no finite value (batch 0, realtime > 0) weighs as a 100 % deviation. */
const NO_BATCH: Micros = 1_000_000n;

export interface ScoredRow {
  row: ComparisonRow;
  score: Micros;
}

/** Measures in their JSON form. */
export function measuresJson(m: Measures): MeasuresJson {
  return { orders: Number(m.orders), units: Number(m.units), ...revenueJson(m.revenue) };
}

const weight = (ratio: Micros | null): Micros => (ratio === null ? NO_BATCH : absMicros(ratio));

/** Compares two sets of measures exactly; revenue currency by currency (amounts are never converted). */
export function compare(batch: Measures, realtime: Measures, where: Partial<ComparisonRow> = {}): ScoredRow {
  const orders = deviationMicros(realtime.orders, batch.orders);
  const units = deviationMicros(realtime.units, batch.units);
  const codes = [...new Set([...batch.revenue.keys(), ...realtime.revenue.keys()])].sort();
  const byCurrency = codes.map(
    (code) =>
      [code, deviationMicros(realtime.revenue.get(code) ?? 0n, batch.revenue.get(code) ?? 0n)] as const,
  );
  let revenue: Micros | null = 0n;
  for (const [, ratio] of byCurrency) if (weight(ratio) > weight(revenue)) revenue = ratio;
  const score = maxMicros([orders, units, revenue].map(weight));
  const text = (ratio: Micros | null) => (ratio === null ? null : formatMicros(ratio));
  return {
    row: {
      ...where,
      batch: measuresJson(batch),
      realtime: measuresJson(realtime),
      deviation: {
        orders: text(orders),
        units: text(units),
        revenue: text(revenue),
        revenue_by_currency: Object.fromEntries(byCurrency.map(([code, ratio]) => [code, text(ratio)])),
      },
      max_abs_deviation: formatMicros(score),
    },
    score,
  };
}

function rollUp(
  cells: Cell[],
  key: (cell: Cell) => string,
): Map<string, { batch: Measures; realtime: Measures }> {
  const groups = new Map<string, { batch: Measures; realtime: Measures }>();
  for (const cell of cells) {
    const group = groups.get(key(cell)) ?? { batch: zero(), realtime: zero() };
    groups.set(key(cell), {
      batch: addMeasures(group.batch, cell.batch),
      realtime: addMeasures(group.realtime, cell.realtime),
    });
  }
  return groups;
}

const byScore = (a: ScoredRow, b: ScoredRow) => (a.score === b.score ? 0 : a.score > b.score ? -1 : 1);

/** The scored comparison of a day, kept for decisions (alerts) before it is reduced to JSON. */
export interface ScoredDay {
  totals: ScoredRow;
  hours: ScoredRow[];
  products: ScoredRow[];
  cells: ScoredRow[];
  maxScore: Micros;
}

/** Compares a day per day, hour, product and (hour, product). */
export function scoreDay(cells: Cell[]): ScoredDay {
  const total = rollUp(cells, () => 'day').get('day') ?? { batch: zero(), realtime: zero() };
  const totals = compare(total.batch, total.realtime);
  const hours = [...rollUp(cells, (c) => c.hour)]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([hour, m]) => compare(m.batch, m.realtime, { hour }));
  const products = [...rollUp(cells, (c) => c.productId)]
    .map(([product_id, m]) => compare(m.batch, m.realtime, { product_id }))
    .sort(byScore);
  const scoredCells = cells
    .map((c) => compare(c.batch, c.realtime, { hour: c.hour, product_id: c.productId }))
    .sort(byScore);
  const maxScore = maxMicros([totals, ...hours, ...products].map((r) => r.score));
  return { totals, hours, products, cells: scoredCells, maxScore };
}

/** The JSON form of a scored day: all hours, the top deviating products and cells. */
export function dayComparison(scored: ScoredDay): DayComparison {
  const deviating = (rows: ScoredRow[]) => rows.filter((r) => r.score > 0n);
  return {
    totals: scored.totals.row,
    hours: scored.hours.map((r) => r.row),
    products: deviating(scored.products)
      .slice(0, TOP_ROWS)
      .map((r) => r.row),
    cells: deviating(scored.cells)
      .slice(0, TOP_ROWS)
      .map((r) => r.row),
    products_compared: scored.products.length,
    products_deviating: deviating(scored.products).length,
    cells_deviating: deviating(scored.cells).length,
    max_abs_deviation: formatMicros(scored.maxScore),
  };
}
