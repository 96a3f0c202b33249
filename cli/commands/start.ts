import path from 'node:path';
import { type Command, Option } from 'commander';
import { InvalidInputError } from '../../functions/pipeline/errors.ts';
import { DEFAULT_DATA_DIR } from '../cli-env.ts';

function number(flag: string, { min = 0, integer = true } = {}) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
      throw new InvalidInputError(
        `${flag} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got "${value}"`,
        flag,
      );
    }
    return n;
  };
}

export function register(program: Command): void {
  program
    .command('start')
    .description(
      'run the whole platform locally: S3, SQS, every function and its triggers, read from the CDK template',
    )
    .addOption(
      new Option('--port <n>', 'HTTP API port (0: any free port)').default(3000).argParser(number('--port')),
    )
    .addOption(
      new Option('--rate <n>', 'generated orders per second, with 5 clicks per order beside them (0: none)')
        .default(10)
        .argParser(number('--rate', { integer: false })),
    )
    .option('--data <dir>', 'where S3 objects, the SQS journal and function logs live', DEFAULT_DATA_DIR)
    .option(
      '--replay-file <file>',
      'send the lines of a .jsonl file to the orders queue instead of generating orders',
    )
    .addOption(
      new Option('--clock-speed <n>', 'run the local clock N× faster (1440: a day per minute)')
        .default(1)
        .argParser(number('--clock-speed', { min: 0.001, integer: false })),
    )
    .option('--stage <name>', 'stage whose config is synthesized', 'dev')
    .addOption(
      new Option('--s3-port <n>', 'S3 port (0: any free port)').default(4569).argParser(number('--s3-port')),
    )
    .addOption(
      new Option('--sqs-port <n>', 'SQS port (0: any free port)')
        .default(9324)
        .argParser(number('--sqs-port')),
    )
    .addOption(
      new Option('--sfn-port <n>', 'Step Functions API port, for the state machines (0: any free port)')
        .default(8083)
        .argParser(number('--sfn-port')),
    )
    .addOption(
      new Option('--batching-window <s>', 'override stream.maxBatchingWindowSeconds').argParser(
        number('--batching-window'),
      ),
    )
    .option(
      '--set <section.key=value>',
      'override a stage config value before synthesis (repeatable), e.g. --set compaction.schedule="rate(1 minute)"',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .addOption(
      new Option(
        '--ingest <source>',
        "where every streamed dataset's events arrive: sqs, or kafka (a local broker; shorthand for --set stream.ingest=kafka)",
      ).choices(['sqs', 'kafka']),
    )
    .option(
      '--no-seed',
      'on a first start (empty --data), do not seed 7 days of history through the functions',
    )
    .option('--verbose', 'echo function logs and HTTP requests', false)
    .action(async (options) => {
      const [{ REPO_ROOT, startRuntime }, { parseOverrides }, { loadTemplate }] = await Promise.all([
        import('../../local/runtime.ts'),
        import('../../local/stage-overrides.ts'),
        import('../../local/template-source.ts'),
      ]);
      const overrides = parseOverrides(options.set) as Record<string, Record<string, unknown>>;
      if (options.ingest !== undefined) {
        overrides['stream'] = { ...overrides['stream'], ingest: options.ingest, sources: {} };
      }
      if (options.batchingWindow !== undefined) {
        overrides['stream'] = { ...overrides['stream'], maxBatchingWindowSeconds: options.batchingWindow };
      }
      const { template, fromCache, ms } = await loadTemplate({
        repoRoot: REPO_ROOT,
        stage: options.stage,
        overrides,
        // Keyed by a hash of the CDK sources, so sharing it between data directories is safe.
        cacheDir: path.join(REPO_ROOT, 'node_modules', '.cache', 'twinflow-cdk'),
      });
      console.log(
        `${fromCache ? 'template of' : 'synthesized'} stage ${options.stage}${fromCache ? ' unchanged since last synth' : ''} (${Math.round(ms)} ms)`,
      );
      const runtime = await startRuntime({
        template,
        dataDir: options.data,
        port: options.port,
        s3Port: options.s3Port,
        sqsPort: options.sqsPort,
        stepFunctionsPort: options.sfnPort,
        rate: options.rate,
        ...(options.replayFile ? { replayFile: options.replayFile } : {}),
        clockSpeed: options.clockSpeed,
        verbose: options.verbose,
        seed: options.seed,
      });
      console.log('ready — Ctrl-C to stop');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      console.log('stopping: producer, then in-flight batches, then servers (Ctrl-C again to force)');
      const force = () => {
        console.log('forced stop: unfinished batches return to the queue on the next start');
        process.exit(130);
      };
      process.once('SIGINT', force);
      process.once('SIGTERM', force);
      await runtime.stop();
      console.log('stopped');
    });
}
