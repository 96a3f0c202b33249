import { type Command, Option } from 'commander';
import { InvalidInputError } from '../../functions/pipeline/errors.ts';
import { writeLandingExport } from '../../local/landing-export.ts';
import { lakeOption, openCliStore, tzOption } from '../cli-env.ts';

function wholeNumber(name: string) {
  return (value: string) => {
    if (!/^\d+$/.test(value))
      throw new InvalidInputError(`--${name} must be a whole number, got "${value}"`, name);
    return Number(value);
  };
}

export function register(program: Command): void {
  program
    .command('generate-landing')
    .description('write a realistic sample order export for a day into landing/orders/dt=D/')
    .requiredOption('--date <YYYY-MM-DD>', 'the export day (a day of --tz)')
    .requiredOption('--orders <n>', 'number of orders', wholeNumber('orders'))
    .option('--seed <n>', 'random seed (same seed, same orders)', wholeNumber('seed'), 42)
    .addOption(
      new Option('--format <format>', 'file format').choices(['parquet', 'csv', 'jsonl']).default('parquet'),
    )
    .option('--malformed <share>', 'share of rows made invalid on purpose, 0..1', Number, 0)
    .addOption(lakeOption())
    .addOption(tzOption())
    .action(async (options) => {
      const result = await writeLandingExport(
        {
          day: options.date,
          orders: options.orders,
          seed: options.seed,
          format: options.format,
          malformedShare: options.malformed,
          timeZone: options.tz,
        },
        openCliStore(options.lake),
      );
      console.log(
        `wrote ${result.rows} orders (${result.malformed} malformed) to ${options.lake}/${result.key}`,
      );
    });
}
