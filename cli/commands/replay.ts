import { existsSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { requireStream } from '../../functions/ops/dataset-queues.ts';
import { fileMessages, replayMessages, sendToQueue } from '../../functions/ops/replay.ts';
import { dataset } from '../../functions/pipeline/datasets.ts';
import { InvalidInputError } from '../../functions/pipeline/errors.ts';
import { consoleLog, silentLog } from '../../functions/pipeline/ports.ts';
import { allowedLatenessSeconds } from '../../functions/settings/settings.ts';
import { compactRealtime } from '../../functions/stream/compaction.ts';
import { datasetOption, lakeOption, openCliStore, settingOption, tzOption } from '../cli-env.ts';
import { sqsClientFor, withSqsErrors } from './dlq.ts';

function positiveInt(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidInputError(`--${name} must be a whole number ≥ 1, got "${value}"`, name);
    return n;
  };
}

export function register(program: Command): void {
  program
    .command('replay')
    .description(
      "run a .jsonl file of a dataset's events through its speed-layer consumer (or send it to SQS)",
    )
    .requiredOption('--file <events.jsonl>', 'one event (JSON) per line')
    .addOption(
      new Option('--batch-size <n>', 'events per micro-batch')
        .default(100)
        .argParser(positiveInt('batch-size')),
    )
    .addOption(settingOption(allowedLatenessSeconds))
    .option('--queue-url <url>', 'send the events to this SQS queue instead of consuming them in-process')
    .option('--no-compact', 'skip compacting the touched hours afterwards')
    .option('--json', 'print JSON', false)
    .option('--verbose', 'structured logs on stderr', false)
    .addOption(datasetOption())
    .addOption(lakeOption())
    .addOption(tzOption())
    .action(async (options) => {
      const ds = dataset(options.dataset);
      requireStream(ds, 'stream to replay into');
      if (!existsSync(options.file)) throw new InvalidInputError(`no such file: ${options.file}`, 'file');
      if (options.queueUrl) {
        await withSqsErrors(options.queueUrl, async () => {
          const result = await sendToQueue(
            sqsClientFor(options.queueUrl),
            options.queueUrl,
            fileMessages(options.file),
          );
          console.log(
            `sent ${result.sent} event(s) to ${options.queueUrl}; ${result.rejected.length} rejected by SQS`,
          );
          for (const r of result.rejected) console.log(`  rejected: ${r.reason}: ${r.body}`);
          if (result.rejected.length > 0) process.exitCode = 1;
        });
        return;
      }
      const store = openCliStore(options.lake);
      const now = () => new Date();
      const deps = { store, clock: now, log: options.verbose ? consoleLog : silentLog, timeZone: options.tz };
      const days = new Set<string>();
      const totals = await replayMessages(
        fileMessages(options.file),
        {
          dataset: ds.name,
          batchSize: options.batchSize,
          allowedLatenessSeconds: options.allowedLateness,
          source: 'replay',
          onBatch: (result) => {
            for (const dayHour of Object.keys(result.hours)) days.add(dayHour.slice(0, 10));
          },
        },
        deps,
      );
      // Compact exactly the days the file touched (a replay of old events is outside the schedule's lookback).
      const compaction =
        options.compact && days.size > 0
          ? await compactRealtime(deps, { now: now(), days: [...days].sort(), datasets: [ds.name] })
          : undefined;
      if (options.json) {
        console.log(JSON.stringify({ totals, compaction }, null, 2));
      } else {
        console.log(
          `replayed ${totals.received} event(s) in ${totals.batches} micro-batch(es), ${totals.durationMs} ms: ` +
            `${totals.orders} ${ds.name === 'orders' ? 'orders' : 'events'} counted, ${totals.quarantined} quarantined, ${totals.duplicates} duplicates, ` +
            `${totals.late} late, ${totals.failed} failed (lake ${store.location})`,
        );
        if (compaction) {
          const removed = compaction.days.reduce((sum, d) => sum + d.duplicates, 0);
          console.log(
            `compacted ${compaction.days.length} day(s); ${removed} duplicate(s) removed (same ${ds.key.join(', ')} on one day)`,
          );
        }
      }
      if (totals.failed > 0) process.exitCode = 1;
    });
}
