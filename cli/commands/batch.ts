import type { Command } from 'commander';
import { parseDay } from '../../functions/pipeline/dates.ts';
import { InvalidInputError } from '../../functions/pipeline/errors.ts';
import { consoleLog, silentLog } from '../../functions/pipeline/ports.ts';
import {
  batchConcurrency,
  fanOutThresholdBytes,
  maxMalformedShare,
  spikeFactor,
} from '../../functions/settings/settings.ts';
import { cliEnv, datasetOption, lakeOption, openCliStore, settingOption, tzOption } from '../cli-env.ts';
import { progressReporter } from '../progress.ts';

export function register(program: Command): void {
  program
    .command('batch')
    .description('run the batch layer for one day (--date) or a backfill range (--start-date/--end-date)')
    .option('--date <YYYY-MM-DD>', 'one day (always re-run)')
    .option('--start-date <YYYY-MM-DD>', 'first day of a backfill range')
    .option('--end-date <YYYY-MM-DD>', 'last day of a backfill range (inclusive)')
    .addOption(settingOption(batchConcurrency))
    .addOption(settingOption(spikeFactor))
    .addOption(settingOption(maxMalformedShare))
    .addOption(settingOption(fanOutThresholdBytes))
    .option('--force', 're-run unchanged days and publish despite a row-count spike', false)
    .option('--json', 'print the run result as JSON', false)
    .option('--verbose', 'structured logs on stderr', false)
    .addOption(datasetOption())
    .addOption(lakeOption())
    .addOption(tzOption())
    .action(async (options) => {
      const { backfillDays, runBatchRange } = await import('../../functions/batch/run-batch.ts');
      const isRange = options.startDate !== undefined || options.endDate !== undefined;
      if (options.date !== undefined && isRange) {
        throw new InvalidInputError('use either --date or --start-date/--end-date, not both', 'date');
      }
      if (options.date === undefined && !isRange) {
        throw new InvalidInputError('give --date D, or --start-date D1 --end-date D2', 'date');
      }
      if (isRange && (options.startDate === undefined || options.endDate === undefined)) {
        throw new InvalidInputError('a backfill needs both --start-date and --end-date', 'start-date');
      }
      const days =
        options.date !== undefined
          ? [parseDay(options.date)]
          : backfillDays(options.startDate, options.endDate);
      const store = await openCliStore(options.lake);
      const result = await runBatchRange(
        {
          days,
          dataset: options.dataset,
          concurrency: options.concurrency,
          // A single explicit day is always re-run; a range skips unchanged days so it can resume.
          force: options.force || options.date !== undefined,
          thresholds: { spikeFactor: options.spikeFactor, maxMalformedShare: options.maxMalformedShare },
          // No state machine here: a day from the threshold on runs its fan-out in this process (map, reduce and
          // merge in turn), which holds one file or bucket at a time instead of the whole day.
          fanOut: { thresholdBytes: options.fanOutThreshold },
          onProgress: options.json ? undefined : progressReporter(cliEnv.isTty, 'batch'),
        },
        {
          store,
          clock: () => new Date(),
          log: options.verbose ? consoleLog : silentLog,
          timeZone: options.tz,
        },
      );
      if (options.json) {
        console.log(JSON.stringify(result, null, 2));
      } else {
        if (cliEnv.isTty) for (const o of result.outcomes) console.log(`${o.status.padEnd(9)} ${o.detail}`);
        console.log(
          `published ${result.published}, skipped ${result.skipped}, failed ${result.failed} (lake ${store.location})`,
        );
      }
      if (result.failed > 0) process.exitCode = 1;
    });
}
