import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Argument, type Command, Option } from 'commander';
import { InvalidInputError } from '../../functions/pipeline/errors.ts';
import { stageConfig } from '../../lib/stage-config.ts';
import { FUNCTION_NAMES, functionSpec, type TwinflowFunctionName } from '../../lib/twinflow-functions.ts';
import { DEFAULT_DATA_DIR } from '../cli-env.ts';

/**
 * The environment `twinflow invoke` gives a handler: the caller's, plus the lake. With an S3 endpoint in
 * `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL` (a running `twinflow start`, LocalStack) the lake is `LAKE_BUCKET`;
 * otherwise it is the directory `<data>/lake`.
 */
export function invokeEnvironment(hostEnv: NodeJS.ProcessEnv, dataDir: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(hostEnv)) if (value !== undefined) env[name] = value;
  env['POWERTOOLS_LOG_LEVEL'] ??= 'WARN';
  // As deployed: the service dimension of logs and metrics (otherwise Powertools says `service_undefined`).
  env['POWERTOOLS_SERVICE_NAME'] ??= stageConfig('dev').serviceName;
  const endpoint = hostEnv['AWS_ENDPOINT_URL_S3'] ?? hostEnv['AWS_ENDPOINT_URL'];
  if (endpoint) {
    if (!hostEnv['LAKE_BUCKET']) {
      throw new InvalidInputError(
        `an S3 endpoint is set (${endpoint}): set LAKE_BUCKET too (e.g. source <data>/endpoints.env)`,
        'LAKE_BUCKET',
      );
    }
    env['AWS_REGION'] ??= 'us-east-1';
    env['AWS_ACCESS_KEY_ID'] ??= 'local';
    env['AWS_SECRET_ACCESS_KEY'] ??= 'local';
    env['AWS_REQUEST_CHECKSUM_CALCULATION'] ??= 'WHEN_REQUIRED';
    env['AWS_RESPONSE_CHECKSUM_VALIDATION'] ??= 'WHEN_REQUIRED';
  } else {
    delete env['LAKE_BUCKET'];
    env['LAKE_DIR'] = path.resolve(dataDir, 'lake');
  }
  return env;
}

export function register(program: Command): void {
  program
    .command('invoke')
    .description(
      'run one function with an event fixture, like `sam local invoke`, and print its result as JSON',
    )
    .addArgument(new Argument('<function>', 'function to run').choices(FUNCTION_NAMES))
    .requiredOption('--event <file>', 'event JSON (see events/)')
    .option(
      '--data <dir>',
      'local data directory; the lake is <data>/lake unless an S3 endpoint is set',
      DEFAULT_DATA_DIR,
    )
    .addOption(
      new Option('--timeout <s>', 'seconds before the invocation is killed').default(900).argParser((v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1)
          throw new InvalidInputError(`--timeout must be a positive integer, got "${v}"`, 'timeout');
        return n;
      }),
    )
    .action(async (name: TwinflowFunctionName, options) => {
      const [{ FunctionHost }, { REPO_ROOT }] = await Promise.all([
        import('../../local/function-host.ts'),
        import('../../local/runtime.ts'),
      ]);
      let event: unknown;
      try {
        event = JSON.parse(await readFile(options.event, 'utf8'));
      } catch (error) {
        throw new InvalidInputError(
          `cannot read event ${options.event}: ${(error as Error).message}`,
          'event',
        );
      }
      const spec = functionSpec(name);
      const host = new FunctionHost({
        name,
        entryPath: path.join(REPO_ROOT, spec.entry),
        handlerExport: 'handler',
        // As deployed: a dataset's ingest function is told its dataset (TWINFLOW_DATASET).
        environment: { ...invokeEnvironment(process.env, options.data), ...spec.environment },
        timeoutSeconds: options.timeout,
        memoryMb: 2048,
        maxInstances: 1,
        // Function logs go to stderr so stdout is only the result.
        logSink: process.stderr,
      });
      try {
        const outcome = await host.invoke(event);
        if (outcome.ok) {
          console.log(JSON.stringify(outcome.result, null, 2));
        } else {
          console.log(
            JSON.stringify({ errorType: outcome.error?.name, errorMessage: outcome.error?.message }, null, 2),
          );
          if (outcome.error?.stack) console.error(outcome.error.stack);
          process.exitCode = 1;
        }
        console.error(
          `${name}: ${outcome.ok ? 'ok' : 'failed'} in ${Math.round(outcome.durationMs)} ms (cold start)`,
        );
      } finally {
        await host.close();
      }
    });
}
