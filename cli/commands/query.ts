import type { Command } from 'commander';
import { revenueText } from '../../functions/pipeline/money.ts';
import { consoleLog, silentLog } from '../../functions/pipeline/ports.ts';
import { parseSalesParams } from '../../functions/serving/query-params.ts';
import { querySales, type SalesResponse } from '../../functions/serving/query-sales.ts';
import { lakeOption, openCliStore, tzOption } from '../cli-env.ts';

function table(result: SalesResponse): string {
  const withProduct = result.rows.some((row) => row.product_id !== undefined);
  const header = ['window_start', ...(withProduct ? ['product_id'] : []), 'orders', 'units', 'revenue'];
  const lines = result.rows.map((row) => [
    row.window_start,
    ...(withProduct ? [row.product_id ?? ''] : []),
    String(row.orders),
    String(row.units),
    revenueText(row),
  ]);
  const total = [
    'total',
    ...(withProduct ? [''] : []),
    String(result.totals.orders),
    String(result.totals.units),
    revenueText(result.totals),
  ];
  const all = [header, ...lines, total];
  const widths = header.map((_, i) => Math.max(...all.map((cells) => [...(cells[i] ?? '')].length)));
  const numeric = (i: number) => i >= header.length - 3;
  const format = (cells: string[]) =>
    cells
      .map((cell, i) => (numeric(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const segments = result.segments.map((s) => `  ${s.source.padEnd(8)} ${s.start} → ${s.end}`);
  return [
    format(header),
    rule,
    ...lines.map(format),
    rule,
    format(total),
    '',
    'segments:',
    ...segments,
    `batch boundary: ${result.batch_boundary ?? 'none'}   realtime freshness: ${result.realtime_freshness ?? 'none'}`,
  ].join('\n');
}

export function register(program: Command): void {
  program
    .command('query')
    .description(
      'sales over [start, end): batch where published, realtime elsewhere (same JSON as GET /sales)',
    )
    .requiredOption(
      '--start <instant>',
      'ISO-8601 instant with a zone, or a day YYYY-MM-DD (midnight in --tz)',
    )
    .option('--end <instant>', 'exclusive end, same formats (default: the end of a --start day, else now)')
    .option('--granularity <g>', 'minute | hour | day', 'hour')
    .option('--product-id <id>', 'only this product')
    .option('--group-by <what>', '"product": one row per bucket and product')
    .option('--json', 'print the GET /sales JSON body', false)
    .option('--verbose', 'structured logs on stderr', false)
    .addOption(lakeOption())
    .addOption(tzOption())
    .action(async (options) => {
      const params: Record<string, string> = {
        start: options.start,
        ...(options.end !== undefined ? { end: options.end } : {}),
        granularity: options.granularity,
        ...(options.productId !== undefined ? { product_id: options.productId } : {}),
        ...(options.groupBy !== undefined ? { group_by: options.groupBy } : {}),
        tz: options.tz,
      };
      const query = parseSalesParams(params, new Date(), options.tz);
      const result = await querySales(query, {
        store: openCliStore(options.lake),
        clock: () => new Date(),
        log: options.verbose ? consoleLog : silentLog,
        timeZone: options.tz,
      });
      console.log(options.json ? JSON.stringify(result, null, 2) : table(result));
    });
}
