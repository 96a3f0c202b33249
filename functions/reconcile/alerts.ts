import type { ServedModel } from '../serving/metric-model.ts';
import type { ScoredDay, ScoredRow } from './deviation.ts';
import { formatMicros, type Micros } from './exact.ts';
import type { Breach, Correction, DayRecord, ReconciliationAlert } from './run-record.ts';

const MAX_BREACHES = 10;

function breach(level: Breach['level'], scored: ScoredRow, dimension: string | null): Breach {
  const { hour, max_abs_deviation, deviation } = scored.row;
  const value = dimension ? scored.row[dimension] : undefined;
  return {
    level,
    ...(hour !== undefined ? { hour } : {}),
    ...(dimension && typeof value === 'string' ? { [dimension]: value } : {}),
    max_abs_deviation,
    deviation,
  };
}

/** How far a row's first count or sum measure differs between the layers (what "differs most" means). */
const absDiff = (model: ServedModel, row: ScoredRow) => {
  const measure = model.measures.find((m) => m.kind !== 'money')?.name;
  if (!measure) return 0;
  return Math.abs(Number(row.row.realtime[measure] ?? 0) - Number(row.row.batch[measure] ?? 0));
};

/** How a place is named in an alert: `product p1` for product_id, `warehouse w1` for warehouse_id. */
const placeName = (dimension: string) => dimension.replace(/_id$/, '').replaceAll('_', ' ');

/**
 * The alert for a day above the threshold. Where: the worst hour (if an hour breaches) and, in it, the product
 * whose orders differ most; otherwise the worst product over the day.
 */
export function buildAlert(input: {
  model: ServedModel;
  runId: string;
  now: Date;
  threshold: Micros;
  scored: ScoredDay;
  record: DayRecord;
  corrections: Correction[];
}): ReconciliationAlert {
  const { scored, record, threshold, model } = input;
  const dimension = scored.dimension;
  const above = (rows: ScoredRow[]) =>
    rows
      .filter((r) => r.score > threshold)
      .sort((a, b) => (a.score > b.score ? -1 : a.score < b.score ? 1 : 0));
  const hours = above(scored.hours);
  const products = above(scored.products);
  const worstHour = hours[0];
  const cellsOfHour = worstHour ? scored.cells.filter((c) => c.row.hour === worstHour.row.hour) : [];
  const worstCell = [...cellsOfHour].sort(
    (a, b) => absDiff(model, b) - absDiff(model, a) || (a.score > b.score ? -1 : 1),
  )[0];
  const worstProduct = worstHour ? worstCell : products[0];
  const breaches = [
    ...(scored.totals.score > threshold ? [breach('day', scored.totals, dimension)] : []),
    ...hours.map((r) => breach('hour', r, dimension)),
    ...products.map((r) => breach('product', r, dimension)),
  ].slice(0, MAX_BREACHES);
  const worstValue = dimension ? worstProduct?.row[dimension] : undefined;
  const where: ReconciliationAlert['where'] = {
    day: record.day,
    hour: worstHour?.row.hour ?? null,
    ...(dimension ? { [dimension]: typeof worstValue === 'string' ? worstValue : null } : {}),
  };
  const maxAbs = formatMicros(scored.maxScore);
  const place = [
    where.day,
    where.hour && `hour ${where.hour}`,
    dimension && where[dimension] && `${placeName(dimension)} ${where[dimension]}`,
  ]
    .filter(Boolean)
    .join(', ');
  return {
    alert_id: `${input.runId}-${record.day}`,
    run_id: input.runId,
    kind: 'batch_realtime_deviation',
    raised_at: input.now.toISOString(),
    threshold: formatMicros(threshold),
    where,
    how_much: {
      max_abs_deviation: maxAbs,
      day: scored.totals.row,
      hour: worstHour?.row ?? null,
      product: worstProduct?.row ?? null,
    },
    breaches,
    explanation: record.explanation,
    corrections: input.corrections,
    dataset: model.dataset,
    model: model.name,
    message: `batch and realtime deviate by ${maxAbs} (threshold ${formatMicros(threshold)}) at ${place}: ${record.explanation.summary}`,
  };
}
