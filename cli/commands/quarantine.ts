import { type Command, Option } from 'commander';
import { requireStream } from '../../functions/ops/dataset-queues.ts';
import type { QuarantinedRecord } from '../../functions/ops/quarantine.ts';
import { dataset } from '../../functions/pipeline/datasets.ts';
import { InvalidInputError } from '../../functions/pipeline/errors.ts';
import type { ObjectStore } from '../../functions/pipeline/object-store.ts';
import { consoleLog, silentLog } from '../../functions/pipeline/ports.ts';
import type { StreamMessage } from '../../functions/stream/micro-batch.ts';
import { datasetOption, lakeOption, openCliStore, tzOption } from '../cli-env.ts';
import { sqsClientFor, withSqsErrors } from './dlq.ts';

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
    .addOption(datasetOption())
    .addOption(lakeOption())
    .addOption(tzOption())
    .action(async (options) => {
      const { listQuarantine } = await import('../../functions/ops/quarantine.ts');
      const store = await openCliStore(options.lake);
      const records = await listQuarantine(store, {
        dataset: options.dataset,
        ...(options.since ? { since: options.since } : {}),
      });
      for (const r of records) {
        if (options.json) console.log(JSON.stringify(r));
        else
          console.log(
            `${r.quarantined_at}  ${r.message_id ?? r.record_ref}  ${r.reasons.join('; ')}\n  ${r.raw.slice(0, 200)}`,
          );
      }
      if (!options.json) {
        console.log(`${records.length} quarantined record(s) of ${options.dataset} in ${store.location}`);
      }
    });

  quarantine
    .command('replay')
    .description(
      "re-ingest a dataset's quarantined stream records that validate now (in-process, or via --queue-url)",
    )
    .addOption(sinceOption())
    .option('--queue-url <url>', 'send them to this SQS queue instead of consuming them in-process')
    .option('--verbose', 'structured logs on stderr', false)
    .addOption(datasetOption())
    .addOption(lakeOption())
    .addOption(tzOption())
    .action((options) => {
      // A batch dataset's records came from exports: the fix is a corrected export and a batch re-run.
      requireStream(
        dataset(options.dataset),
        'stream records to re-ingest (fix the export and re-run batch)',
      );
      return withSqsErrors(options.queueUrl, async () => {
        const [{ listQuarantine, revalidateQuarantine }, { replayMessages, sendToQueue }] = await Promise.all(
          [import('../../functions/ops/quarantine.ts'), import('../../functions/ops/replay.ts')],
        );
        const store = await openCliStore(options.lake);
        const records = await listQuarantine(store, {
          dataset: options.dataset,
          ...(options.since ? { since: options.since } : {}),
        });
        const { nowValid, stillInvalid } = await revalidateQuarantine(records, options.dataset);
        let isReplayed: boolean;
        if (options.queueUrl) {
          const sent = await sendToQueue(await sqsClientFor(options.queueUrl), options.queueUrl, nowValid);
          console.log(`sent ${sent.sent} now-valid record(s) to ${options.queueUrl}`);
          for (const r of sent.rejected) console.log(`  rejected: ${r.reason}: ${r.body}`);
          isReplayed = sent.rejected.length === 0;
        } else {
          const totals = await replayMessages(
            nowValid,
            { dataset: options.dataset, source: 'quarantine-replay' },
            {
              store,
              clock: () => new Date(),
              log: options.verbose ? consoleLog : silentLog,
              timeZone: options.tz,
            },
          );
          const counted = options.dataset === 'orders' ? 'order(s)' : 'event(s)';
          console.log(`re-ingested ${totals.orders} ${counted} from ${nowValid.length} now-valid record(s)`);
          isReplayed = totals.failed === 0;
        }
        if (isReplayed) {
          const removed = await removeFromQuarantine(store, records, nowValid);
          if (removed > 0) console.log(`removed ${removed} replayed record(s) from quarantine`);
        } else {
          // Failures are not tracked per record, so keep them all: a second run finishes the job, and
          // compaction counts an order sent twice once (by order_id).
          console.log(
            'some records failed: nothing removed from quarantine; run again once the cause is fixed',
          );
          process.exitCode = 1;
        }
        console.log(`${stillInvalid.length} record(s) still invalid (left in quarantine)`);
      });
    });
}

/**
 * Takes replayed records out of their quarantine files (a file left empty is deleted), so `list` stops showing
 * them and a second replay does not publish them again. Lines are matched by message id and raw body; other
 * records in the same file stay as they are.
 */
async function removeFromQuarantine(
  store: ObjectStore,
  records: readonly QuarantinedRecord[],
  replayed: readonly StreamMessage[],
): Promise<number> {
  // Message id and body together: the record sent is exactly the one removed, even if an id were reused.
  const sent = new Set(replayed.map((m) => `${m.messageId}\0${m.body}`));
  const isReplayed = (r: { message_id?: string; raw?: string }) =>
    r.message_id !== undefined && sent.has(`${r.message_id}\0${r.raw}`);
  const keys = new Set(records.filter(isReplayed).map((r) => r.key));
  let removed = 0;
  for (const key of keys) {
    const object = await store.get(key);
    if (!object) continue;
    const lines = object.body
      .toString('utf8')
      .split('\n')
      .filter((line) => line.trim() !== '');
    const kept = lines.filter(
      (line) => !isReplayed(JSON.parse(line) as { message_id?: string; raw?: string }),
    );
    removed += lines.length - kept.length;
    if (kept.length === 0) await store.delete([key]);
    else await store.put(key, `${kept.join('\n')}\n`, { contentType: 'application/x-ndjson' });
  }
  return removed;
}
