import { revenueText } from '../functions/pipeline/money.ts';
import type { ServedModel } from '../functions/serving/metric-model.ts';

/** A measure's cell: a count, money as `12.30 USD, 1500.00 JPY`, a ratio as `0.250000` (`—`: denominator 0). */
export function measureCell(model: ServedModel, measures: Record<string, unknown>, name: string): string {
  if (model.measures.find((m) => m.name === name)?.kind === 'money') {
    const byCurrency = (measures[`${name}_by_currency`] ?? {}) as Record<string, string>;
    return revenueText({ revenue_by_currency: byCurrency });
  }
  if (model.ratios.some((r) => r.name === name)) return String(measures[name] ?? '—');
  return String(measures[name] ?? 0);
}

/**
 * Aligns the cells of a table's lines (header first): text columns padded right, numeric ones (`isNumeric`) left.
 * `format` renders one line, `rule` is a line of dashes under each column.
 */
export function columns(
  lines: readonly string[][],
  isNumeric: (column: number) => boolean,
): { format(cells: readonly string[]): string; rule: string } {
  const widths = (lines[0] ?? []).map((_, i) =>
    Math.max(...lines.map((cells) => [...(cells[i] ?? '')].length)),
  );
  return {
    format: (cells) =>
      cells
        .map((cell, i) => (isNumeric(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    rule: widths.map((w) => '-'.repeat(w)).join('  '),
  };
}
