import type { Command } from 'commander';
import { parseDay } from '../../functions/pipeline/dates.ts';
import { consoleLog, silentLog } from '../../functions/pipeline/ports.ts';
import {
  compactionFoldEveryMinutes,
  compactionGraceSeconds,
  compactionRollUpAboveEvents,
} from '../../functions/settings/settings.ts';
import { datasetOption, lakeOption, openCliStore, settingOption, tzOption } from '../cli-env.ts';

export function register(program: Command): void {
  program
    .command('compact')
    .description(
      "compact a dataset's realtime partials now: exact files per day, deduped by the dataset's key",
    )
    .addOption(datasetOption())
    .option('--date <YYYY-MM-DD...>', 'days to compact (default: the last 3 days and tomorrow)')
    .addOption(settingOption(compactionGraceSeconds))
    .addOption(settingOption(compactionRollUpAboveEvents))
    .addOption(settingOption(compactionFoldEveryMinutes))
    .option('--json', 'print JSON', false)
    .option('--verbose', 'structured logs on stderr', false)
    .addOption(lakeOption())
    .addOption(tzOption())
    .action(async (options) => {
      const { compactRealtime } = await import('../../functions/stream/compaction.ts');
      const now = new Date();
      const store = await openCliStore(options.lake);
      const days = (options.date as string[] | undefined)?.map((d) => parseDay(d));
      const result = await compactRealtime(
        { store, clock: () => now, log: options.verbose ? consoleLog : silentLog, timeZone: options.tz },
        {
          now,
          datasets: [options.dataset],
          graceMs: options.graceSeconds * 1000,
          rollUpAboveEvents: options.rollUpAbove,
          foldEveryMs: options.foldEvery * 60_000,
          ...(days ? { days } : {}),
        },
      );
      if (options.json) {
        console.log(JSON.stringify(result, null, 2));
        return;
      }
      for (const d of result.days) {
        console.log(
          `${d.dataset} ${d.day}  ${d.status.padEnd(9)} ${d.orders} events from ${d.batches} archive file(s) (${d.read} read), ${d.duplicates} duplicates removed`,
        );
      }
      console.log(
        `compacted ${result.days.filter((d) => d.status === 'compacted').length} day(s), deleted ${result.deleted.length} covered file(s) in ${result.durationMs} ms (lake ${store.location})`,
      );
    });
}
