import type { SQSClient } from '@aws-sdk/client-sqs';
import { type Command, Option } from 'commander';
import { datasetQueueUrl, queueUrlEnv } from '../../functions/ops/dataset-queues.ts';
import { type Dataset, dataset } from '../../functions/pipeline/datasets.ts';
import { InvalidInputError } from '../../functions/pipeline/errors.ts';
import { allowedLatenessSeconds } from '../../functions/settings/settings.ts';
import { failedRangesOf } from '../../functions/stream/kafka-failures.ts';
import { cliEnv, datasetOption, lakeOption, settingOption, tzOption } from '../cli-env.ts';
import {
  batchSizeOption,
  compactDays,
  partitionLines,
  replayDeps,
  totalsLine,
  touchedDays,
  withKafkaErrors,
} from './replay.ts';

/** An SQS client for a queue URL: AWS_ENDPOINT_URL_SQS if set, else the URL's own origin when it is not AWS. */
export async function sqsClientFor(queueUrl: string): Promise<SQSClient> {
  let url: URL;
  try {
    url = new URL(queueUrl);
  } catch {
    throw new InvalidInputError(`--queue-url is not a URL: "${queueUrl}"`, 'queue-url');
  }
  const endpoint = cliEnv.sqsEndpoint ?? (url.hostname.endsWith('amazonaws.com') ? undefined : url.origin);
  const region = /^sqs\.([a-z0-9-]+)\.amazonaws\.com$/.exec(url.hostname)?.[1] ?? cliEnv.region;
  const { SQSClient } = await import('@aws-sdk/client-sqs');
  return new SQSClient({ region, ...(endpoint ? { endpoint } : {}) });
}

const NETWORK_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
]);

/** One line for the SQS problems an operator can fix (endpoint, queue, credentials), or undefined. */
function sqsProblem(error: unknown, queueUrl: string | undefined): string | undefined {
  const e = error as Error & { code?: string };
  if (e.code && NETWORK_ERRORS.has(e.code)) {
    const endpoint = cliEnv.sqsEndpoint ?? (queueUrl ? new URL(queueUrl).origin : 'SQS');
    return `cannot reach SQS at ${endpoint}: ${e.message}`;
  }
  if (e.name === 'QueueDoesNotExist') return `no such queue: ${queueUrl}`;
  if (e.name === 'CredentialsProviderError') {
    return `no AWS credentials (${e.message}); local servers accept any, e.g. AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local`;
  }
  return undefined;
}

/**
 * Runs a command's work so those SQS problems end in one line naming them and exit 1, not a stack trace
 * (every command that takes --queue-url).
 */
export async function withSqsErrors(queueUrl: string | undefined, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    const problem = sqsProblem(error, queueUrl);
    if (problem === undefined) throw error;
    console.error(`twinflow: ${problem}`);
    process.exitCode = 1;
  }
}

/** What SQS's move-task FailureReason codes mean for the operator. */
const FAILURE_EXPLANATIONS: Record<string, string> = {
  CouldNotDetermineMessageSource:
    'a message was not dead-lettered by a source queue (it was sent straight to the DLQ), so SQS cannot tell ' +
    'where to return it',
  'AWS.SimpleQueueService.NonExistentQueue': 'the queue a message came from no longer exists',
};

function queueUrlOption() {
  return new Option(
    '--queue-url <url>',
    "the dead-letter queue URL (default: the dataset's <DATASET>_DLQ_URL, e.g. ORDERS_DLQ_URL)",
  );
}

/** The DLQ a subcommand works on: `--queue-url`, else the dataset's `<DATASET>_DLQ_URL`. */
function dlqUrlOf(options: { dataset: string; queueUrl?: string }): string {
  return datasetQueueUrl(dataset(options.dataset), 'dlq', options.queueUrl, cliEnv.queueUrls);
}

export function register(program: Command): void {
  const dlq = program
    .command('dlq')
    .description("inspect and redrive a dataset's dead-letter queue (default: orders)");

  dlq
    .command('stats')
    .description('messages waiting in the DLQ and the queues that feed it')
    .addOption(queueUrlOption())
    .addOption(datasetOption())
    .option('--json', 'print JSON', false)
    .action((options) => {
      const queueUrl = dlqUrlOf(options);
      return withSqsErrors(queueUrl, async () => {
        const { dlqStats } = await import('../../functions/ops/dlq.ts');
        const stats = await dlqStats(await sqsClientFor(queueUrl), queueUrl);
        if (options.json) console.log(JSON.stringify(stats, null, 2));
        else
          console.log(
            `DLQ ${stats.queueUrl}: ${stats.visible} waiting, ${stats.inFlight} in flight, ${stats.delayed} delayed; ` +
              `sources: ${stats.sourceQueueUrls.join(', ') || 'none'}`,
          );
      });
    });

  dlq
    .command('peek')
    .description('show messages without removing them')
    .addOption(queueUrlOption())
    .addOption(
      new Option('--max <n>', 'messages to show (1..10)').default(10).argParser((value) => {
        if (!/^(?:[1-9]|10)$/.test(value))
          throw new InvalidInputError(`--max must be 1..10, got "${value}"`, 'max');
        return Number(value);
      }),
    )
    .addOption(datasetOption())
    .action((options) => {
      const queueUrl = dlqUrlOf(options);
      return withSqsErrors(queueUrl, async () => {
        const [{ dlqStats, peekDlq }, { describeKafkaFailure }] = await Promise.all([
          import('../../functions/ops/dlq.ts'),
          import('../../functions/ops/kafka-replay.ts'),
        ]);
        const client = await sqsClientFor(queueUrl);
        const messages = await peekDlq(client, queueUrl, options.max);
        for (const m of messages) {
          console.log(
            `${m.messageId}  received ${m.receiveCount ?? '?'}x  sent ${m.sentAt?.toISOString() ?? '?'}\n  ${describeKafkaFailure(m.body) ?? m.body.slice(0, 300)}`,
          );
        }
        const stats = await dlqStats(client, queueUrl);
        console.log(
          `${messages.length} distinct message(s) shown, left in the DLQ ` +
            `(${stats.visible} waiting, ${stats.inFlight} in flight)`,
        );
      });
    });

  dlq
    .command('redrive')
    .description(
      'move DLQ messages back to their source queue (StartMessageMoveTask, or receive/send); Kafka failure ' +
        'records: replay the offset ranges they name from the topic through the consumer core, then delete them',
    )
    .addOption(queueUrlOption())
    .option('--to <url>', 'destination queue URL (default: the source queue)')
    .addOption(
      new Option('--rate <n>', 'messages per second (1..500)').argParser((value) => {
        const rate = Number(value);
        if (!Number.isInteger(rate) || rate < 1 || rate > 500)
          throw new InvalidInputError(`--rate must be 1..500, got "${value}"`, 'rate');
        return rate;
      }),
    )
    .option('--manual', 'skip StartMessageMoveTask and move with receive/send/delete', false)
    .option(
      '--bootstrap-servers <host:port>',
      "Kafka failure records: the cluster to re-read (default: KAFKA_BOOTSTRAP_SERVERS, else the record's)",
    )
    .addOption(batchSizeOption())
    .addOption(settingOption(allowedLatenessSeconds))
    .option('--no-compact', 'Kafka failure records: skip compacting the touched days afterwards')
    .option('--verbose', 'structured logs on stderr', false)
    .addOption(lakeOption())
    .addOption(tzOption())
    .addOption(datasetOption())
    .action((options) => {
      const queueUrl = dlqUrlOf(options);
      return withSqsErrors(queueUrl, async () => {
        const { dlqStats, peekDlq, redriveDlq } = await import('../../functions/ops/dlq.ts');
        const client = await sqsClientFor(queueUrl);
        // A Kafka dataset's DLQ holds failure records naming offset ranges: those are replayed from the topic.
        const peeked = await peekDlq(client, queueUrl, 10);
        if (peeked.some((m) => failedRangesOf(m.body) !== undefined)) {
          const others = await redriveKafka(client, queueUrl, dataset(options.dataset), options);
          if (others === 0 || process.exitCode) return;
        }
        const result = await redriveDlq(client, {
          dlqUrl: queueUrl,
          ...(options.to ? { destinationUrl: options.to } : {}),
          ...(options.rate !== undefined ? { rate: options.rate } : {}),
          isManual: options.manual,
        });
        const after = await dlqStats(client, queueUrl);
        console.log(
          `moved ${result.moved} message(s) via ${result.method} to ${result.destinationUrl ?? 'their source queues'} ` +
            `(${result.status}); left in the DLQ: ${after.visible} waiting, ${after.inFlight} in flight`,
        );
        if (result.status === 'COMPLETED') return;
        process.exitCode = 1;
        if (!result.failureReason) return;
        const explanation = FAILURE_EXPLANATIONS[result.failureReason];
        console.log(`  why: ${result.failureReason}${explanation ? ` — ${explanation}` : ''}`);
        const wait =
          after.inFlight > 0
            ? ` once the ${after.inFlight} in-flight message(s) are visible again (within ${after.visibilityTimeoutSeconds} s)`
            : '';
        if (result.method === 'move-task') {
          // The receive/send fallback needs no source information: every message goes to the queue named.
          const to =
            options.to ??
            (after.sourceQueueUrls.length === 1 ? after.sourceQueueUrls[0] : undefined) ??
            cliEnv.queueUrls[queueUrlEnv(options.dataset, 'queue')] ??
            '<queue-url>';
          console.log(
            `  nothing was lost; move them with the receive/send fallback and an explicit destination${wait}:\n` +
              `    npx twinflow dlq redrive --queue-url ${queueUrl} --manual --to ${to}`,
          );
        } else {
          console.log(
            `  nothing was lost: what was not moved is still in the DLQ; run the same command again${wait || ' once the cause is fixed'}`,
          );
        }
      });
    });
}

/**
 * Redrives a DLQ's Kafka failure records (their ranges re-read from the topic through the core, then compacted)
 * and prints what happened. Returns how many other (SQS) messages are left for the queue redrive.
 */
async function redriveKafka(
  client: SQSClient,
  dlqUrl: string,
  ds: Dataset,
  options: {
    bootstrapServers?: string;
    batchSize: number;
    allowedLateness: number;
    compact: boolean;
    verbose: boolean;
    lake: string;
    tz: string;
  },
): Promise<number> {
  const { bootstrapServersOf, redriveKafkaFailures } = await import('../../functions/ops/kafka-replay.ts');
  const deps = await replayDeps(options);
  let others = 0;
  await withKafkaErrors(async () => {
    const { days, onBatch } = touchedDays();
    const result = await redriveKafkaFailures(
      client,
      {
        dlqUrl,
        bootstrapServers: (recordServers) =>
          bootstrapServersOf(options.bootstrapServers, process.env, recordServers),
        batchSize: options.batchSize,
        dataset: ds.name,
        allowedLatenessSeconds: options.allowedLateness,
        source: 'dlq-redrive',
        onBatch,
      },
      deps,
    );
    others = result.others;
    const compaction = await compactDays(deps, days, ds.name, options.compact);
    console.log(
      `redrove ${result.redriven} Kafka failure record(s) from the topic: ${result.received} event(s) replayed in ` +
        `${result.batches} micro-batch(es), ${totalsLine(result, ds.name)} (lake ${deps.store.location})`,
    );
    for (const line of partitionLines(result)) console.log(line);
    if (compaction) console.log(`compacted ${compaction.days.length} day(s)`);
    if (result.kept > 0) {
      console.log(
        `  ${result.kept} record(s) kept in the DLQ: their ranges had failed records; run it again`,
      );
      process.exitCode = 1;
    }
  });
  return others;
}
