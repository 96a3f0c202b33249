import type { Command } from 'commander';
import { declaredTable, listBalances } from '../../functions/pipeline/datasets.ts';
import { consoleLog, silentLog } from '../../functions/pipeline/ports.ts';
import type { BalanceResponse } from '../../functions/serving/balances.ts';
import type { queryDiscrepancies } from '../../functions/serving/discrepancies.ts';
import { lakeOption, openCliStore, tzOption } from '../cli-env.ts';
import { columns } from '../tables.ts';

const flagOf = (dimension: string) => `--${dimension.replaceAll('_', '-')}`;
const optionKey = (dimension: string) => dimension.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The levels as a table: the key, the level, the threshold (if declared), the opening and the movements since. */
function levelsTable(
  result: BalanceResponse,
  dimensions: readonly string[],
  value: string,
  measure: string,
  threshold?: string,
) {
  const header = [
    ...dimensions,
    value,
    ...(threshold ? [threshold, 'below'] : []),
    'opening',
    'opened at',
    measure,
    'from',
  ];
  const lines = result.levels.map((level) => [
    ...dimensions.map((d) => String(level[d] ?? '')),
    String(level[value]),
    ...(threshold ? [String(level[threshold] ?? '—'), level['below_threshold'] === true ? 'BELOW' : ''] : []),
    String(level.opening[value]),
    level.opening.at ?? '(never counted)',
    String(level.movements[measure]),
    [...new Set(level.movements.segments.map((s) => s.source))].join('+') || '—',
  ]);
  const numeric = new Set([dimensions.length, ...(threshold ? [dimensions.length + 1] : [])]);
  const { format, rule } = columns([header, ...lines], (i) => numeric.has(i));
  return [
    `${result.balance} as of ${result.as_of}${result.query.at ? '' : ' (now)'}: ${result.levels.length} levels`,
    format(header),
    rule,
    ...(lines.length > 0 ? lines.map(format) : ['(nothing counted or moved yet)']),
    '',
    'movements from:',
    ...result.segments.map((seg) => `  ${seg.source.padEnd(8)} ${seg.start} → ${seg.end}`),
    `batch boundary: ${result.batch_boundary ?? 'none'}   openings published through: ${result.openings_through ?? 'none'}`,
  ].join('\n');
}

/** A count day's discrepancies as a table, largest first. */
function discrepancyTable(
  result: Awaited<ReturnType<typeof queryDiscrepancies>>,
  dimensions: readonly string[],
) {
  if (!result.day) return `${result.balance}: no count day compared yet`;
  const header = [...dimensions, 'counted at', 'counted', 'book', 'discrepancy'];
  const lines = result.rows.map((row) => [
    ...dimensions.map((d) => String(row[d] ?? '')),
    row.counted_at,
    String(row.counted),
    String(row.book),
    String(row.discrepancy),
  ]);
  const n = dimensions.length;
  const { format, rule } = columns([header, ...lines], (i) => i > n);
  return [
    `${result.balance} counts of ${result.day}: ${result.counts} counted, ${result.mismatched} differ from the books, net ${result.net_discrepancy} units`,
    format(header),
    rule,
    ...lines.map(format),
  ].join('\n');
}

/** One command per declared balance (`twinflow stock`), with a flag per dimension (`--product-id`). */
export function register(program: Command): void {
  // listBalances() is what servedBalances() of functions/serving/balances.ts serves (that module loads DuckDB).
  for (const balance of listBalances()) {
    const command = program
      .command(balance.name)
      .description(
        `${(balance.description ?? balance.name).replace(/\.$/, '')}: the latest ${balance.opening.dataset} row plus the movements since (same JSON as GET /${balance.name})`,
      );
    for (const dimension of balance.dimensions) {
      command.option(`${flagOf(dimension)} <value>`, `only this ${dimension}`);
    }
    command
      .option('--at <iso>', 'the instant of the levels (default: now, every movement received so far)')
      .option(
        '--discrepancies',
        `instead: what a count day's batch found, counted vs book (GET /${balance.name}/discrepancies)`,
        false,
      )
      .option('--date <day>', 'with --discrepancies: the count day (default: the newest compared)')
      .option('--limit <n>', 'with --discrepancies: how many rows, largest first (1..1000)', '20')
      .option('--json', `print the GET /${balance.name} JSON body`, false)
      .option('--verbose', 'structured logs on stderr', false)
      .addOption(lakeOption())
      .addOption(tzOption())
      .action(async (options) => {
        const [{ queryBalance }, { queryDiscrepancies }, { parseBalanceParams, parseDiscrepancyParams }] =
          await Promise.all([
            import('../../functions/serving/balances.ts'),
            import('../../functions/serving/discrepancies.ts'),
            import('../../functions/serving/query-params.ts'),
          ]);
        if (options.discrepancies) {
          const result = await queryDiscrepancies(
            balance,
            parseDiscrepancyParams({
              ...(typeof options.date === 'string' ? { day: options.date } : {}),
              limit: options.limit,
            }),
            {
              store: await openCliStore(options.lake),
              clock: () => new Date(),
              log: silentLog,
              timeZone: options.tz,
            },
          );
          console.log(
            options.json ? JSON.stringify(result, null, 2) : discrepancyTable(result, balance.dimensions),
          );
          return;
        }
        const params: Record<string, string> = {};
        for (const dimension of balance.dimensions) {
          const value = options[optionKey(dimension)];
          if (typeof value === 'string') params[dimension] = value;
        }
        if (typeof options.at === 'string') params['at'] = options.at;
        const result = await queryBalance(balance, parseBalanceParams(balance, params), {
          store: await openCliStore(options.lake),
          clock: () => new Date(),
          log: options.verbose ? consoleLog : silentLog,
          timeZone: options.tz,
        });
        const threshold = balance.threshold ? declaredTable(balance.threshold).value : undefined;
        console.log(
          options.json
            ? JSON.stringify(result, null, 2)
            : levelsTable(result, balance.dimensions, balance.value, balance.movements.measure, threshold),
        );
      });
  }
}
