import { type Command, Option } from 'commander';
import { InvalidInputError } from '../../functions/pipeline/errors.ts';
import { consoleLog, silentLog } from '../../functions/pipeline/ports.ts';
import { listQuarantine, revalidateQuarantine } from '../../functions/stream/quarantine.ts';
import { replayMessages, sendToQueue } from '../../functions/stream/replay.ts';
import { lakeOption, openCliStore } from '../cli-env.ts';
import { sqsClientFor } from './dlq.ts';

function sinceOption() {
  return new Option('--since <time>', 'only records quarantined at or after this ISO time or day').argParser(
    (value) => {
      const at = new Date(value);
      if (Number.isNaN(at.getTime()))
        throw new InvalidInputError(`--since is not a time: "${value}"`, 'since');
      return at;
    },
  );
}

export function register(program: Command): void {
  const quarantine = program.command('quarantine').description('rejected records and their reasons');

  quarantine
    .command('list')
    .description('list quarantined records with their reasons')
    .addOption(sinceOption())
    .option('--json', 'print JSON lines', false)
    .addOption(lakeOption())
    .action(async (options) => {
      const store = openCliStore(options.lake);
      const records = await listQuarantine(store, options.since ? { since: options.since } : {});
      for (const r of records) {
        if (options.json) console.log(JSON.stringify(r));
        else
          console.log(
            `${r.quarantined_at}  ${r.message_id ?? r.record_ref}  ${r.reasons.join('; ')}\n  ${r.raw.slice(0, 200)}`,
          );
      }
      if (!options.json) console.log(`${records.length} quarantined record(s) in ${store.location}`);
    });

  quarantine
    .command('replay')
    .description('re-ingest quarantined stream records that validate now (in-process, or via --queue-url)')
    .addOption(sinceOption())
    .option('--queue-url <url>', 'send them to this SQS queue instead of consuming them in-process')
    .option('--verbose', 'structured logs on stderr', false)
    .addOption(lakeOption())
    .action(async (options) => {
      const store = openCliStore(options.lake);
      const records = await listQuarantine(store, options.since ? { since: options.since } : {});
      const { nowValid, stillInvalid } = await revalidateQuarantine(records);
      if (options.queueUrl) {
        const sent = await sendToQueue(sqsClientFor(options.queueUrl), options.queueUrl, nowValid);
        console.log(`sent ${sent.sent} now-valid record(s) to ${options.queueUrl}`);
        if (sent.rejected.length > 0) process.exitCode = 1;
      } else {
        const totals = await replayMessages(
          nowValid,
          { source: 'quarantine-replay' },
          { store, clock: () => new Date(), log: options.verbose ? consoleLog : silentLog },
        );
        console.log(`re-ingested ${totals.orders} order(s) from ${nowValid.length} now-valid record(s)`);
        if (totals.failed > 0) process.exitCode = 1;
      }
      console.log(`${stillInvalid.length} record(s) still invalid (left in quarantine)`);
    });
}
