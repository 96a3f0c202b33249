import type { ScoredDay, ScoredRow } from './deviation.ts';
import { formatMicros, type Micros } from './exact.ts';
import type { Breach, Correction, DayRecord, ReconciliationAlert } from './run-record.ts';

const MAX_BREACHES = 10;

function breach(level: Breach['level'], scored: ScoredRow): Breach {
  const { hour, product_id, max_abs_deviation, deviation } = scored.row;
  return {
    level,
    ...(hour !== undefined ? { hour } : {}),
    ...(product_id !== undefined ? { product_id } : {}),
    max_abs_deviation,
    deviation,
  };
}

const absDiff = (row: ScoredRow) => {
  const diff = row.row.realtime.orders - row.row.batch.orders;
  return Math.abs(diff);
};

/**
 * The alert for a day above the threshold. Where: the worst hour (if an hour breaches) and, in it, the product
 * whose orders differ most; otherwise the worst product over the day.
 */
export function buildAlert(input: {
  runId: string;
  now: Date;
  threshold: Micros;
  scored: ScoredDay;
  record: DayRecord;
  corrections: Correction[];
}): ReconciliationAlert {
  const { scored, record, threshold } = input;
  const above = (rows: ScoredRow[]) =>
    rows
      .filter((r) => r.score > threshold)
      .sort((a, b) => (a.score > b.score ? -1 : a.score < b.score ? 1 : 0));
  const hours = above(scored.hours);
  const products = above(scored.products);
  const worstHour = hours[0];
  const cellsOfHour = worstHour ? scored.cells.filter((c) => c.row.hour === worstHour.row.hour) : [];
  const worstCell = [...cellsOfHour].sort(
    (a, b) => absDiff(b) - absDiff(a) || (a.score > b.score ? -1 : 1),
  )[0];
  const worstProduct = worstHour ? worstCell : products[0];
  const breaches = [
    ...(scored.totals.score > threshold ? [breach('day', scored.totals)] : []),
    ...hours.map((r) => breach('hour', r)),
    ...products.map((r) => breach('product', r)),
  ].slice(0, MAX_BREACHES);
  const where = {
    day: record.day,
    hour: worstHour?.row.hour ?? null,
    product_id: worstProduct?.row.product_id ?? null,
  };
  const maxAbs = formatMicros(scored.maxScore);
  const place = [
    where.day,
    where.hour && `hour ${where.hour}`,
    where.product_id && `product ${where.product_id}`,
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
    message: `batch and realtime deviate by ${maxAbs} (threshold ${formatMicros(threshold)}) at ${place}: ${record.explanation.summary}`,
  };
}
