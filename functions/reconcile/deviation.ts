import type { Cell, Measures } from './day-layers.ts';
import { ZERO } from './day-layers.ts';
import { absMicros, deviationMicros, formatCents, formatMicros, type Micros, maxMicros } from './exact.ts';

/** Measures as they appear in JSON: counts as numbers, money as a decimal string. */
export interface MeasuresJson {
  orders: number;
  units: number;
  revenue: string;
}

/**
 * Signed `(realtime − batch) / batch` per measure, as a fixed 6-place decimal string (`'-0.041667'`).
 * `null` when batch has none and realtime has some (no finite ratio; counted as 1.000000 for alerting).
 */
export interface DeviationJson {
  orders: string | null;
  units: string | null;
  revenue: string | null;
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

function add(a: Measures, b: Measures): Measures {
  return {
    orders: a.orders + b.orders,
    units: a.units + b.units,
    revenueCents: a.revenueCents + b.revenueCents,
  };
}

function json(m: Measures): MeasuresJson {
  return { orders: Number(m.orders), units: Number(m.units), revenue: formatCents(m.revenueCents) };
}

/** Compares two sets of measures exactly. */
export function compare(batch: Measures, realtime: Measures, where: Partial<ComparisonRow> = {}): ScoredRow {
  const ratios = [
    deviationMicros(realtime.orders, batch.orders),
    deviationMicros(realtime.units, batch.units),
    deviationMicros(realtime.revenueCents, batch.revenueCents),
  ] as const;
  const score = maxMicros(ratios.map((ratio) => (ratio === null ? NO_BATCH : absMicros(ratio))));
  const text = (ratio: Micros | null) => (ratio === null ? null : formatMicros(ratio));
  return {
    row: {
      ...where,
      batch: json(batch),
      realtime: json(realtime),
      deviation: { orders: text(ratios[0]), units: text(ratios[1]), revenue: text(ratios[2]) },
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
    const group = groups.get(key(cell)) ?? { batch: ZERO, realtime: ZERO };
    groups.set(key(cell), {
      batch: add(group.batch, cell.batch),
      realtime: add(group.realtime, cell.realtime),
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
  const total = rollUp(cells, () => 'day').get('day') ?? { batch: ZERO, realtime: ZERO };
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
