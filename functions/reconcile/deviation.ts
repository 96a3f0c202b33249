import { revenueText } from '../pipeline/money.ts';
import type { ServedModel } from '../serving/metric-model.ts';
import { type MeasuresJson, measuresJson as servedMeasuresJson } from '../serving/metric-query.ts';
import { addMeasures, type Cell, cellDimension, type Measures, zero } from './day-layers.ts';
import { absMicros, deviationMicros, formatMicros, type Micros, maxMicros } from './exact.ts';

/** Measures as they appear in JSON (the serving layer's form): counts and sums as numbers, money per currency. */
export type { MeasuresJson };

/**
 * Signed `(realtime − batch) / batch` per measure, as a fixed 6-place decimal string (`'-0.041667'`).
 * `null` when batch has none and realtime has some (no finite ratio; counted as 1.000000 for alerting).
 * Money is compared per currency (`<measure>_by_currency`); `<measure>` is the currency that deviates most.
 */
export type DeviationJson = Record<string, string | null | Record<string, string | null>>;

/**
 * One compared period: the whole day, an hour, a value of the model's cell dimension (over the day) or an
 * (hour, value) cell. The value is under the dimension's name (`product_id` for orders).
 */
export type ComparisonRow = {
  hour?: string;
  batch: MeasuresJson;
  realtime: MeasuresJson;
  deviation: DeviationJson;
  /** The largest absolute deviation of the measures (`'0.041667'`). */
  max_abs_deviation: string;
} & { [dimension: string]: unknown };

/** How far the realtime view of one day is from its published batch view. */
export interface DayComparison {
  /** The dimension `products` and `cells` are split by (the model's first non-currency one), or null; absent in
   * records written before datasets (orders: product_id). */
  dimension?: string | null;
  totals: ComparisonRow;
  /** Every hour either layer has data for, in order. */
  hours: ComparisonRow[];
  /** The values of `dimension` that deviate, largest deviation first (at most `TOP_ROWS`). */
  products: ComparisonRow[];
  /** The (hour, value) cells that deviate, largest deviation first (at most `TOP_ROWS`). */
  cells: ComparisonRow[];
  products_compared: number;
  products_deviating: number;
  cells_deviating: number;
  /** Largest absolute deviation over the day, its hours and its values: what the alert threshold applies to. */
  max_abs_deviation: string;
}

export const TOP_ROWS = 20;

/** A ratio with no finite value (batch 0, realtime > 0) weighs as a 100 % deviation. */
const NO_BATCH: Micros = 1_000_000n;

export interface ScoredRow {
  row: ComparisonRow;
  score: Micros;
}

/** Measures in their JSON form (the serving layer's, so a model reads the same in both). */
export function measuresJson(model: ServedModel, m: Measures): MeasuresJson {
  const values = Object.fromEntries(model.measures.map((d) => [d.name, Number(m.values.get(d.name) ?? 0n)]));
  const money = Object.fromEntries(
    model.measures.flatMap((d) => (d.kind === 'money' ? [[d.name, m.money.get(d.name) ?? new Map()]] : [])),
  );
  return servedMeasuresJson(model, values, money);
}

/** `12 orders / 100.00 USD`: a model's first count or sum measure (`named`: with its name) and its money. */
export function measuresText(model: ServedModel, json: MeasuresJson, named = true): string {
  const first = model.measures.find((m) => m.kind !== 'money');
  const parts = first ? [named ? `${json[first.name]} ${first.name}` : String(json[first.name])] : [];
  for (const m of model.measures.filter((d) => d.kind === 'money')) {
    parts.push(
      revenueText({ revenue_by_currency: (json[`${m.name}_by_currency`] ?? {}) as Record<string, string> }),
    );
  }
  return parts.join(' / ');
}

const weight = (ratio: Micros | null): Micros => (ratio === null ? NO_BATCH : absMicros(ratio));

/** Compares two sets of measures exactly; money currency by currency (amounts are never converted). */
export function compare(
  model: ServedModel,
  batch: Measures,
  realtime: Measures,
  where: Record<string, string> = {},
): ScoredRow {
  const text = (ratio: Micros | null) => (ratio === null ? null : formatMicros(ratio));
  const deviation: DeviationJson = {};
  const ratios: (Micros | null)[] = [];
  for (const m of model.measures) {
    if (m.kind !== 'money') {
      const ratio = deviationMicros(realtime.values.get(m.name) ?? 0n, batch.values.get(m.name) ?? 0n);
      deviation[m.name] = text(ratio);
      ratios.push(ratio);
      continue;
    }
    const b = batch.money.get(m.name) ?? new Map<string, bigint>();
    const r = realtime.money.get(m.name) ?? new Map<string, bigint>();
    const codes = [...new Set([...b.keys(), ...r.keys()])].sort();
    const byCurrency = codes.map(
      (code) => [code, deviationMicros(r.get(code) ?? 0n, b.get(code) ?? 0n)] as const,
    );
    let worst: Micros | null = 0n;
    for (const [, ratio] of byCurrency) if (weight(ratio) > weight(worst)) worst = ratio;
    deviation[m.name] = text(worst);
    deviation[`${m.name}_by_currency`] = Object.fromEntries(
      byCurrency.map(([code, ratio]) => [code, text(ratio)]),
    );
    ratios.push(worst);
  }
  const score = maxMicros(ratios.map(weight));
  return {
    row: {
      ...where,
      batch: measuresJson(model, batch),
      realtime: measuresJson(model, realtime),
      deviation,
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
  dimension: string | null;
  totals: ScoredRow;
  hours: ScoredRow[];
  products: ScoredRow[];
  cells: ScoredRow[];
  maxScore: Micros;
}

/** Compares a day of a model per day, hour, value of its cell dimension and (hour, value). */
export function scoreDay(model: ServedModel, cells: Cell[]): ScoredDay {
  const dimension = cellDimension(model);
  const total = rollUp(cells, () => 'day').get('day') ?? { batch: zero(), realtime: zero() };
  const totals = compare(model, total.batch, total.realtime);
  const hours = [...rollUp(cells, (c) => c.hour)]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([hour, m]) => compare(model, m.batch, m.realtime, { hour }));
  const products = dimension
    ? [...rollUp(cells, (c) => c.key)]
        .map(([value, m]) => compare(model, m.batch, m.realtime, { [dimension]: value }))
        .sort(byScore)
    : [];
  const scoredCells = dimension
    ? cells
        .map((c) => compare(model, c.batch, c.realtime, { hour: c.hour, [dimension]: c.key }))
        .sort(byScore)
    : [];
  const maxScore = maxMicros([totals, ...hours, ...products].map((r) => r.score));
  return { dimension: dimension ?? null, totals, hours, products, cells: scoredCells, maxScore };
}

/** The JSON form of a scored day: all hours, the top deviating products and cells. */
export function dayComparison(scored: ScoredDay): DayComparison {
  const deviating = (rows: ScoredRow[]) => rows.filter((r) => r.score > 0n);
  return {
    dimension: scored.dimension,
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
