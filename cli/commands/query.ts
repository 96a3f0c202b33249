import type { Command } from 'commander';
import { InvalidInputError } from '../../functions/pipeline/errors.ts';
import { consoleLog, silentLog } from '../../functions/pipeline/ports.ts';
import { type ServedModel, servedModel } from '../../functions/serving/metric-model.ts';
import type { MetricResponse } from '../../functions/serving/metric-query.ts';
import { lakeOption, openCliStore, tzOption, whereOption } from '../cli-env.ts';
import { columns, measureCell } from '../tables.ts';

/**
 * Any model's answer as a table: bucket, carried dimensions, then each measure and ratio by its declared name. `/sales` is the
 * orders model, so its table is this one without the model's title.
 */
function metricTable(
  model: ServedModel,
  result: Pick<MetricResponse, 'rows' | 'totals' | 'segments' | 'batch_boundary' | 'realtime_freshness'>,
  title = true,
): string {
  const dims = model.dimensions.filter((d) => result.rows.some((row) => row[d] !== undefined));
  const measures = [...model.measures.map((m) => m.name), ...model.ratios.map((r) => r.name)];
  const header = ['window_start', ...dims, ...measures];
  const lines = result.rows.map((row) => [
    row.window_start,
    ...dims.map((d) => String(row[d] ?? '')),
    ...measures.map((m) => measureCell(model, row, m)),
  ]);
  const total = [
    'total',
    ...dims.map(() => ''),
    ...measures.map((m) => measureCell(model, result.totals, m)),
  ];
  const { format, rule } = columns([header, ...lines, total], (i) => i > dims.length);
  return [
    ...(title ? [`${model.name} (dataset ${model.dataset})`] : []),
    format(header),
    rule,
    ...lines.map(format),
    rule,
    format(total),
    '',
    'segments:',
    ...result.segments.map((seg) => `  ${seg.source.padEnd(8)} ${seg.start} → ${seg.end}`),
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
    .option('--product-id <id>', 'only this product (the default sales model)')
    .option(
      '--group-by <what>',
      '"product": one row per bucket and product; with --model: dimensions, comma-separated',
    )
    .option(
      '--model <name>',
      'a declared minute model (twinflow datasets); prints the GET /metrics/{model} body',
    )
    .addOption(
      whereOption('only rows with this dimension value (repeatable; with --model)', {
        start: '--start',
        end: '--end',
        granularity: '--granularity',
        group_by: '--group-by',
        tz: '--tz',
      }),
    )
    .option('--json', 'print the GET /sales JSON body', false)
    .option('--verbose', 'structured logs on stderr', false)
    .addOption(lakeOption())
    .addOption(tzOption())
    .action(async (options) => {
      const [{ queryMetric }, { parseMetricParams, parseSalesParams }, { querySales, SALES_MODEL }] =
        await Promise.all([
          import('../../functions/serving/metric-query.ts'),
          import('../../functions/serving/query-params.ts'),
          import('../../functions/serving/sales.ts'),
        ]);
      const deps = {
        store: await openCliStore(options.lake),
        clock: () => new Date(),
        log: options.verbose ? consoleLog : silentLog,
        timeZone: options.tz,
      };
      if (options.model !== undefined || Object.keys(options.where).length > 0) {
        if (options.productId !== undefined) {
          throw new InvalidInputError('with --model, filter with --where product_id=…', 'product-id');
        }
        let model: ServedModel;
        try {
          model = servedModel(options.model ?? 'sales_minute');
        } catch (error) {
          throw new InvalidInputError((error as Error).message, 'model');
        }
        const query = parseMetricParams(
          model,
          {
            start: options.start,
            ...(options.end !== undefined ? { end: options.end } : {}),
            granularity: options.granularity,
            ...(options.groupBy !== undefined ? { group_by: options.groupBy } : {}),
            tz: options.tz,
            ...options.where,
          },
          new Date(),
          options.tz,
        );
        const result = await queryMetric(model, query, deps);
        console.log(options.json ? JSON.stringify(result, null, 2) : metricTable(model, result));
        return;
      }
      const params: Record<string, string> = {
        start: options.start,
        ...(options.end !== undefined ? { end: options.end } : {}),
        granularity: options.granularity,
        ...(options.productId !== undefined ? { product_id: options.productId } : {}),
        ...(options.groupBy !== undefined ? { group_by: options.groupBy } : {}),
        tz: options.tz,
      };
      const query = parseSalesParams(params, new Date(), options.tz);
      const result = await querySales(query, deps);
      console.log(
        options.json
          ? JSON.stringify(result, null, 2)
          : metricTable(servedModel(SALES_MODEL), result as unknown as MetricResponse, false),
      );
    });
}
