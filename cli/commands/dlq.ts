import { SQSClient } from '@aws-sdk/client-sqs';
import { type Command, Option } from 'commander';
import { InvalidInputError } from '../../functions/pipeline/errors.ts';
import { dlqStats, peekDlq, redriveDlq } from '../../functions/stream/dlq.ts';
import { cliEnv } from '../cli-env.ts';

/** An SQS client for a queue URL: AWS_ENDPOINT_URL_SQS if set, else the URL's own origin when it is not AWS. */
export function sqsClientFor(queueUrl: string): SQSClient {
  let url: URL;
  try {
    url = new URL(queueUrl);
  } catch {
    throw new InvalidInputError(`--queue-url is not a URL: "${queueUrl}"`, 'queue-url');
  }
  const endpoint = cliEnv.sqsEndpoint ?? (url.hostname.endsWith('amazonaws.com') ? undefined : url.origin);
  const region = /^sqs\.([a-z0-9-]+)\.amazonaws\.com$/.exec(url.hostname)?.[1] ?? cliEnv.region;
  return new SQSClient({ region, ...(endpoint ? { endpoint } : {}) });
}

function queueUrlOption() {
  return new Option('--queue-url <url>', 'the dead-letter queue URL').makeOptionMandatory();
}

export function register(program: Command): void {
  const dlq = program.command('dlq').description('inspect and redrive the orders dead-letter queue');

  dlq
    .command('stats')
    .description('messages waiting in the DLQ and the queues that feed it')
    .addOption(queueUrlOption())
    .option('--json', 'print JSON', false)
    .action(async (options) => {
      const stats = await dlqStats(sqsClientFor(options.queueUrl), options.queueUrl);
      if (options.json) console.log(JSON.stringify(stats, null, 2));
      else
        console.log(
          `DLQ ${stats.queueUrl}: ${stats.visible} waiting, ${stats.inFlight} in flight, ${stats.delayed} delayed; ` +
            `sources: ${stats.sourceQueueUrls.join(', ') || 'none'}`,
        );
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
    .action(async (options) => {
      const messages = await peekDlq(sqsClientFor(options.queueUrl), options.queueUrl, options.max);
      for (const m of messages) {
        console.log(
          `${m.messageId}  received ${m.receiveCount ?? '?'}x  sent ${m.sentAt?.toISOString() ?? '?'}\n  ${m.body.slice(0, 300)}`,
        );
      }
      console.log(`${messages.length} message(s) shown`);
    });

  dlq
    .command('redrive')
    .description('move DLQ messages back to their source queue (StartMessageMoveTask, or receive/send)')
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
    .action(async (options) => {
      const client = sqsClientFor(options.queueUrl);
      const before = await dlqStats(client, options.queueUrl);
      const result = await redriveDlq(client, {
        dlqUrl: options.queueUrl,
        ...(options.to ? { destinationUrl: options.to } : {}),
        ...(options.rate !== undefined ? { rate: options.rate } : {}),
        isManual: options.manual,
      });
      const after = await dlqStats(client, options.queueUrl);
      console.log(
        `moved ${result.moved} of ${before.visible} message(s) via ${result.method} (${result.status}); ` +
          `${after.visible} left in the DLQ`,
      );
      if (!result.status.startsWith('COMPLETED')) process.exitCode = 1;
    });
}
