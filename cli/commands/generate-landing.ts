import { type Command, Option } from 'commander';
import { dataset } from '../../functions/pipeline/datasets.ts';
import { addDays, parseDay } from '../../functions/pipeline/dates.ts';
import { InvalidInputError } from '../../functions/pipeline/errors.ts';
import type { ObjectStore } from '../../functions/pipeline/object-store.ts';
import type { ExportFormat } from '../../functions/pipeline/record-sources.ts';
import { cliEnv, datasetOption, lakeOption, openCliStore, tzOption } from '../cli-env.ts';

function wholeNumber(name: string) {
  return (value: string) => {
    if (!/^\d+$/.test(value))
      throw new InvalidInputError(`--${name} must be a whole number, got "${value}"`, name);
    return Number(value);
  };
}

/** What one generated export holds, as `--json` prints it. */
interface GeneratedExport {
  dataset: string;
  key: string;
  rows: number;
  /** Distinct events (for orders: distinct orders), what a batch run publishes for the day. */
  events: number;
  duplicates: number;
  malformed: number;
}

export function register(program: Command): void {
  program
    .command('generate-landing')
    .description(
      'write a sample export for a day into landing/<dataset>/dt=D/: realistic orders, click sessions, stock ' +
        'movements or counts, or ' +
        'events of any other declared dataset generated from its declaration',
    )
    .requiredOption('--date <YYYY-MM-DD>', 'the export day (a day of --tz)')
    .option(
      '--days <n>',
      'write the exports of n consecutive days from --date on, each with --events rows (clicks: one generation, ' +
        'so sessions go on past midnight into the next export and visitors come back on later days)',
      wholeNumber('days'),
    )
    .option('--events <n>', 'number of rows (events, duplicates and malformed ones)', wholeNumber('events'))
    .option('--orders <n>', 'number of orders (the same as --events)', wholeNumber('orders'))
    .option('--seed <n>', 'random seed (same seed, same rows)', wholeNumber('seed'), 42)
    .addOption(
      new Option('--format <format>', 'file format').choices(['parquet', 'csv', 'jsonl']).default('parquet'),
    )
    .option('--malformed <share>', 'share of rows made invalid on purpose, 0..1', Number, 0)
    .option(
      '--duplicates <share>',
      "share of rows that repeat an earlier event's key (a retry), 0..1",
      Number,
      0,
    )
    .option('--json', 'print what was written as JSON', false)
    .addOption(datasetOption())
    .addOption(lakeOption())
    .addOption(tzOption())
    .action(async (options) => {
      if (options.events !== undefined && options.orders !== undefined) {
        throw new InvalidInputError('give the number of rows once: --events or --orders', 'events');
      }
      const rows: number | undefined = options.events ?? options.orders;
      if (rows === undefined) throw new InvalidInputError('give the number of rows: --events N', 'events');
      const dayCount: number = options.days ?? 1;
      if (dayCount < 1 || dayCount > 366) {
        throw new InvalidInputError(`--days must be 1..366, got ${dayCount}`, 'days');
      }
      const days = Array.from({ length: dayCount }, (_, i) => addDays(parseDay(options.date), i));
      const store = await openCliStore(options.lake);
      const written: GeneratedExport[] = [];
      if (options.dataset === 'orders') {
        for (const day of days) written.push(await ordersExport({ ...options, date: day }, rows, store));
      } else {
        const { writeDatasetLandingExports } = await import('../../local/landing-export.ts');
        const exports = await writeDatasetLandingExports(
          {
            dataset: dataset(options.dataset),
            days: days.map((day) => ({ day, rows })),
            seed: options.seed,
            format: options.format,
            malformedShare: options.malformed,
            duplicateShare: options.duplicates,
            currencies: cliEnv.acceptedCurrencies,
            timeZone: options.tz,
          },
          store,
        );
        written.push(...exports.map((e) => ({ dataset: options.dataset as string, ...e })));
      }
      if (options.json) {
        // One export as an object, as before --days; with --days, the list.
        console.log(JSON.stringify(options.days === undefined ? written[0] : written, null, 2));
        return;
      }
      for (const e of written) console.log(summary(e, options.lake, options.duplicates > 0));
    });
}

function summary(written: GeneratedExport, lake: string, hasDuplicates: boolean): string {
  if (written.dataset === 'orders') {
    return (
      `wrote ${written.rows} orders (${written.malformed} malformed` +
      `${hasDuplicates ? `, ${written.duplicates} duplicates` : ''}) to ${lake}/${written.key}`
    );
  }
  return (
    `wrote ${written.rows} ${written.dataset} rows (${written.events} distinct events, ${written.duplicates} ` +
    `duplicates, ${written.malformed} malformed) to ${lake}/${written.key}`
  );
}

/** Orders keep their realistic generator (hot products, catalogue prices, the day's curve); clicks have theirs. */
async function ordersExport(
  options: {
    date: string;
    seed: number;
    format: ExportFormat;
    malformed: number;
    duplicates: number;
    tz: string;
  },
  rows: number,
  store: ObjectStore,
): Promise<GeneratedExport> {
  const { writeLandingExport } = await import('../../local/landing-export.ts');
  const result = await writeLandingExport(
    {
      day: options.date,
      orders: rows,
      seed: options.seed,
      format: options.format,
      malformedShare: options.malformed,
      duplicateShare: options.duplicates,
      timeZone: options.tz,
    },
    store,
  );
  return {
    dataset: 'orders',
    key: result.key,
    rows: result.rows,
    events: result.rows - result.malformed - result.duplicates,
    duplicates: result.duplicates,
    malformed: result.malformed,
  };
}
