import type { Command } from 'commander';
import { InvalidInputError } from '../../functions/pipeline/errors.ts';
import { consoleLog, silentLog } from '../../functions/pipeline/ports.ts';
import { type ServedModel, servedModel } from '../../functions/serving/metric-model.ts';
import type { TopResponse } from '../../functions/serving/top.ts';
import { lakeOption, openCliStore, tzOption, whereOption } from '../cli-env.ts';
import { columns, measureCell } from '../tables.ts';

/**
 * The bounds of `--minutes` and `--limit` for the help: TOP_LIMITS of functions/serving/top.ts, which loads DuckDB
 * (test/cli/startup.test.ts checks they are the same).
 */
export const TOP_HELP_LIMITS = { defaultMinutes: 15, maxMinutes: 1440, defaultLimit: 10, maxLimit: 100 };

/** The ranking as a table: rank, the dimension value, the ranking measure, then the model's other measures and ratios. */
function topTable(model: ServedModel, result: TopResponse): string {
  const measures = [
    result.measure,
    ...model.measures.map((m) => m.name).filter((m) => m !== result.measure),
    ...model.ratios.map((r) => r.name),
  ];
  const header = ['rank', result.by, ...measures];
  const lines = result.top.map((row, i) => [
    String(i + 1),
    String(row[result.by] ?? ''),
    ...measures.map((m) => measureCell(model, row, m)),
  ]);
  const { format, rule } = columns([header, ...lines], (i) => i !== 1);
  const where = Object.entries(result.where ?? {}).map(([d, v]) => `${d}=${v}`);
  return [
    `${model.name} (dataset ${model.dataset}): top ${result.limit} ${result.by} by ${result.measure}, last ${result.minutes} minutes${where.length > 0 ? ` where ${where.join(', ')}` : ''}`,
    `${result.start} → ${result.end}`,
    format(header),
    rule,
    ...(lines.length > 0 ? lines.map(format) : ['(nothing in the window)']),
    '',
    'segments:',
    ...result.segments.map((seg) => `  ${seg.source.padEnd(8)} ${seg.start} → ${seg.end}`),
    `batch boundary: ${result.batch_boundary ?? 'none'}   realtime freshness: ${result.realtime_freshness ?? 'none'}`,
  ].join('\n');
}

export function register(program: Command): void {
  program
    .command('top')
    .description(
      'the values of a dimension with the highest measure over the last N minutes, batch where published, realtime elsewhere (same JSON as GET /metrics/{model}/top)',
    )
    .requiredOption('--model <name>', 'a declared minute model (twinflow datasets)')
    .requiredOption('--measure <name>', "the model's measure to rank by (money: with --where <currency>=…)")
    .option(
      '--minutes <n>',
      `the window: the last n minute buckets, the current one included (1..${TOP_HELP_LIMITS.maxMinutes})`,
      String(TOP_HELP_LIMITS.defaultMinutes),
    )
    .option(
      `--limit <k>`,
      `how many values (1..${TOP_HELP_LIMITS.maxLimit})`,
      String(TOP_HELP_LIMITS.defaultLimit),
    )
    .option('--by <dimension>', 'the dimension to rank (default: the first that is not a currency)')
    .addOption(
      whereOption('only rows with this dimension value (repeatable)', {
        measure: '--measure',
        minutes: '--minutes',
        limit: '--limit',
        by: '--by',
      }),
    )
    .option('--json', 'print the GET /metrics/{model}/top JSON body', false)
    .option('--verbose', 'structured logs on stderr', false)
    .addOption(lakeOption())
    .addOption(tzOption())
    .action(async (options) => {
      const [{ parseTopParams }, { topOf }] = await Promise.all([
        import('../../functions/serving/query-params.ts'),
        import('../../functions/serving/top.ts'),
      ]);
      let model: ServedModel;
      try {
        model = servedModel(options.model);
      } catch (error) {
        throw new InvalidInputError((error as Error).message, 'model');
      }
      const query = parseTopParams(model, {
        measure: options.measure,
        minutes: options.minutes,
        limit: options.limit,
        ...(options.by !== undefined ? { by: options.by } : {}),
        ...options.where,
      });
      const result = await topOf(model, query, {
        store: await openCliStore(options.lake),
        clock: () => new Date(),
        log: options.verbose ? consoleLog : silentLog,
        timeZone: options.tz,
      });
      console.log(options.json ? JSON.stringify(result, null, 2) : topTable(model, result));
    });
}
