import { existsSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { kafkaTopicEnv, requireStream } from '../../functions/ops/dataset-queues.ts';
import type * as KafkaReplay from '../../functions/ops/kafka-replay.ts';
import type { KafkaReplayTotals, KafkaSelection } from '../../functions/ops/kafka-replay.ts';
import type { ReplayTotals } from '../../functions/ops/replay.ts';
import { type Dataset, dataset } from '../../functions/pipeline/datasets.ts';
import { InvalidInputError } from '../../functions/pipeline/errors.ts';
import { type CoreDeps, consoleLog, silentLog } from '../../functions/pipeline/ports.ts';
import { allowedLatenessSeconds } from '../../functions/settings/settings.ts';
import { kafkaTopicOf, stageConfig } from '../../lib/stage-config.ts';
import { datasetOption, lakeOption, openCliStore, settingOption, tzOption } from '../cli-env.ts';
import { sqsClientFor, withSqsErrors } from './dlq.ts';

/**
 * functions/ops/kafka-replay.ts (kafkajs, the AWS SDK, DuckDB), whose parsers read `replay`'s Kafka flags: loaded
 * just before `replay` parses them (a preSubcommand hook), so the other commands and `--help` do not load it.
 */
let kafkaReplay: typeof KafkaReplay | undefined;
const loadedKafkaReplay = (): typeof KafkaReplay => {
  if (!kafkaReplay) throw new Error('functions/ops/kafka-replay.ts is loaded by the replay command only');
  return kafkaReplay;
};

function positiveInt(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1)
      throw new InvalidInputError(`--${name} must be a whole number ≥ 1, got "${value}"`, name);
    return n;
  };
}

/** The replay's source from the flags: a file, or a Kafka topic range (exactly one). */
function kafkaSelectionOf(options: {
  dataset: string;
  file?: string;
  fromKafka?: boolean;
  queueUrl?: string;
  partition?: number;
  fromOffset?: number;
  fromTimestamp?: number;
  topic?: string;
}): KafkaSelection | undefined {
  const kafkaOnly = (['partition', 'fromOffset', 'fromTimestamp', 'topic'] as const).filter(
    (k) => options[k] !== undefined,
  );
  if (!options.fromKafka) {
    if (options.file === undefined)
      throw new InvalidInputError('pass --file <events.jsonl> or --from-kafka', 'file');
    const flag = kafkaOnly[0]?.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    if (flag) throw new InvalidInputError(`--${flag} needs --from-kafka`, flag);
    return undefined;
  }
  if (options.file !== undefined)
    throw new InvalidInputError('--file and --from-kafka: replay one source at a time', 'file');
  if (options.queueUrl !== undefined)
    throw new InvalidInputError('--queue-url works with --file only, not with --from-kafka', 'queue-url');
  if (options.fromOffset !== undefined && options.fromTimestamp !== undefined)
    throw new InvalidInputError('--from-offset and --from-timestamp: give one of them', 'from-offset');
  const stage = process.env['TWINFLOW_STAGE'] ?? 'dev';
  const topic =
    options.topic ??
    (process.env[kafkaTopicEnv(options.dataset)]?.trim() ||
      kafkaTopicOf(stageConfig(stage), options.dataset));
  const partition = options.partition !== undefined ? { partition: options.partition } : {};
  if (options.fromOffset !== undefined) return { topic, ...partition, fromOffset: options.fromOffset };
  if (options.fromTimestamp !== undefined)
    return { topic, ...partition, fromTimestamp: options.fromTimestamp };
  throw new InvalidInputError(
    '--from-kafka needs where to start: --from-offset N or --from-timestamp T',
    'from-offset',
  );
}

/** Runs a Kafka read so a broker that does not answer ends in one line naming it and exit 1. */
export async function withKafkaErrors(run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    const { KafkaUnavailableError } = await import('../../functions/ops/kafka-replay.ts');
    if (!(error instanceof KafkaUnavailableError)) throw error;
    console.error(`twinflow: ${error.message}`);
    process.exitCode = 1;
  }
}

/** The one-line summary of a replay's totals. */
export function totalsLine(totals: ReplayTotals, datasetName: string): string {
  return (
    `${totals.orders} ${datasetName === 'orders' ? 'orders' : 'events'} counted, ${totals.valid} valid, ` +
    `${totals.quarantined} quarantined, ${totals.duplicates} duplicates, ${totals.late} late, ${totals.failed} failed`
  );
}

/** Per partition: the offsets read and the events replayed from them. */
export function partitionLines(totals: KafkaReplayTotals): string[] {
  return totals.partitions.map(
    (p) =>
      `  ${p.topic}-${p.partition}: ${p.events} event(s)` +
      (p.fromOffset <= p.toOffset ? ` from offsets ${p.fromOffset}..${p.toOffset}` : ' (nothing to read)'),
  );
}

/**
 * `--batch-size N`: events per micro-batch of an in-process replay. 10,000 by default: one DuckDB pass and one partial
 * per hour each, so a 1M-event day file replays in ~35 s (batches of 100, SQS's size, took 28 minutes).
 */
export function batchSizeOption(): Option {
  return new Option('--batch-size <n>', 'events per micro-batch')
    .default(10_000)
    .argParser(positiveInt('batch-size'));
}

export function register(program: Command): void {
  program.hook('preSubcommand', async (_program, command) => {
    if (command.name() === 'replay') kafkaReplay = await import('../../functions/ops/kafka-replay.ts');
  });
  program
    .command('replay')
    .description(
      "run a .jsonl file of a dataset's events, or a range of its Kafka topic, through its speed-layer consumer " +
        '(or send the file to SQS)',
    )
    .option('--file <events.jsonl>', 'one event (JSON) per line')
    .option('--from-kafka', "re-read the dataset's Kafka topic (with --from-offset or --from-timestamp)")
    .addOption(
      new Option('--partition <p>', 'only this partition of the topic (default: all)').argParser((value) =>
        loadedKafkaReplay().offsetArg('partition')(value),
      ),
    )
    .addOption(
      new Option('--from-offset <n>', 'start at this offset of each partition read').argParser((value) =>
        loadedKafkaReplay().offsetArg('from-offset')(value),
      ),
    )
    .addOption(
      new Option(
        '--from-timestamp <time>',
        'start at the first record of each partition whose timestamp is at or after this (ISO 8601 or epoch ms)',
      ).argParser((value) => loadedKafkaReplay().timestampArg(value)),
    )
    .option(
      '--bootstrap-servers <host:port>',
      'the Kafka cluster (default: KAFKA_BOOTSTRAP_SERVERS, which .twinflow/endpoints.env sets)',
    )
    .option(
      '--topic <name>',
      "the topic (default: KAFKA_TOPIC_<DATASET>, else the stage's twinflow.<dataset>)",
    )
    .addOption(batchSizeOption())
    .addOption(settingOption(allowedLatenessSeconds))
    .option('--queue-url <url>', 'send the events to this SQS queue instead of consuming them in-process')
    .option('--no-compact', 'skip compacting the touched hours afterwards')
    .option('--json', 'print JSON', false)
    .option('--verbose', 'structured logs on stderr', false)
    .addOption(datasetOption())
    .addOption(lakeOption())
    .addOption(tzOption())
    .action(async (options) => {
      const { fileMessages, replayMessages, sendToQueue } = await import('../../functions/ops/replay.ts');
      const ds = dataset(options.dataset);
      requireStream(ds, 'stream to replay into');
      const selection = kafkaSelectionOf(options);
      if (selection) {
        await replayKafkaCommand(ds, selection, options);
        return;
      }
      if (!existsSync(options.file)) throw new InvalidInputError(`no such file: ${options.file}`, 'file');
      if (options.queueUrl) {
        await withSqsErrors(options.queueUrl, async () => {
          const result = await sendToQueue(
            await sqsClientFor(options.queueUrl),
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
      const deps = await replayDeps(options);
      const { days, onBatch } = touchedDays();
      const totals = await replayMessages(
        fileMessages(options.file),
        {
          dataset: ds.name,
          batchSize: options.batchSize,
          allowedLatenessSeconds: options.allowedLateness,
          source: 'replay',
          onBatch,
        },
        deps,
      );
      // Compact exactly the days the file touched.
      const compaction = await compactDays(deps, days, ds.name, options.compact);
      if (options.json) {
        console.log(JSON.stringify({ totals, compaction }, null, 2));
      } else {
        console.log(
          `replayed ${totals.received} event(s) in ${totals.batches} micro-batch(es), ${totals.durationMs} ms: ` +
            `${totals.orders} ${ds.name === 'orders' ? 'orders' : 'events'} counted, ${totals.quarantined} quarantined, ${totals.duplicates} duplicates, ` +
            `${totals.late} late, ${totals.failed} failed (lake ${deps.store.location})`,
        );
        if (compaction) console.log(compactionLine(compaction, ds));
      }
      if (totals.failed > 0) process.exitCode = 1;
    });
}

/** What an in-process replay runs the core with: the `--lake` store, the wall clock, `--verbose` logs, `--tz`. */
export async function replayDeps(options: { lake: string; verbose: boolean; tz: string }): Promise<CoreDeps> {
  const store = await openCliStore(options.lake);
  return {
    store,
    clock: () => new Date(),
    log: options.verbose ? consoleLog : silentLog,
    timeZone: options.tz,
  };
}

/** The compaction after a replay, for its summary. */
function compactionLine(compaction: { days: { duplicates: number }[] }, ds: Dataset): string {
  const removed = compaction.days.reduce((sum, d) => sum + d.duplicates, 0);
  return `compacted ${compaction.days.length} day(s); ${removed} duplicate(s) removed (same ${ds.key.join(', ')} on one day)`;
}

/** The days a replay's micro-batches touched, gathered by its `onBatch`, for `compactDays`. */
export function touchedDays(): {
  days: Set<string>;
  onBatch: (batch: { hours: Record<string, unknown> }) => void;
} {
  const days = new Set<string>();
  return {
    days,
    onBatch: (batch) => {
      for (const dayHour of Object.keys(batch.hours)) days.add(dayHour.slice(0, 10));
    },
  };
}

/** Compacts the days a replay touched (a replay of old events is outside the schedule's lookback). */
export async function compactDays(
  deps: CoreDeps,
  days: ReadonlySet<string>,
  datasetName: string,
  isCompacting: boolean,
) {
  const { compactRealtime } = await import('../../functions/stream/compaction.ts');
  return isCompacting && days.size > 0
    ? await compactRealtime(deps, { now: deps.clock(), days: [...days].sort(), datasets: [datasetName] })
    : undefined;
}

/** `replay --from-kafka`: the topic range through the core in-process, then compaction, then the summary. */
async function replayKafkaCommand(
  ds: Dataset,
  selection: KafkaSelection,
  options: {
    lake: string;
    tz: string;
    verbose: boolean;
    json: boolean;
    compact: boolean;
    batchSize: number;
    allowedLateness: number;
    bootstrapServers?: string;
  },
): Promise<void> {
  const { bootstrapServersOf, replayFromKafka } = await import('../../functions/ops/kafka-replay.ts');
  const bootstrapServers = bootstrapServersOf(options.bootstrapServers, process.env);
  const deps = await replayDeps(options);
  await withKafkaErrors(async () => {
    const { days, onBatch } = touchedDays();
    const totals = await replayFromKafka(
      {
        bootstrapServers,
        selection,
        batchSize: options.batchSize,
        dataset: ds.name,
        allowedLatenessSeconds: options.allowedLateness,
        source: 'replay',
        onBatch,
      },
      deps,
    );
    const compaction = await compactDays(deps, days, ds.name, options.compact);
    if (options.json) {
      console.log(JSON.stringify({ bootstrapServers, totals, compaction }, null, 2));
    } else {
      console.log(
        `replayed ${totals.received} event(s) from Kafka at ${bootstrapServers} in ${totals.batches} micro-batch(es), ` +
          `${totals.durationMs} ms: ${totalsLine(totals, ds.name)} (lake ${deps.store.location})`,
      );
      for (const line of partitionLines(totals)) console.log(line);
      if (compaction) console.log(compactionLine(compaction, ds));
    }
    if (totals.failed > 0) process.exitCode = 1;
  });
}
