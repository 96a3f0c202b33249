import path from 'node:path';
import { Option } from 'commander';
import { listDatasets } from '../functions/pipeline/datasets.ts';
import { InvalidInputError } from '../functions/pipeline/errors.ts';
import type { ObjectStore } from '../functions/pipeline/object-store.ts';
import type { Setting } from '../functions/settings/setting.ts';
import { reportingTimeZone } from '../functions/settings/settings.ts';
import { stageConfig } from '../lib/stage-config.ts';

const stageName = process.env['TWINFLOW_STAGE'] ?? 'dev';

/** The CLI's one reader of process.env: endpoints for local servers or LocalStack. */
export const cliEnv = {
  s3Endpoint: process.env['AWS_ENDPOINT_URL_S3'] ?? process.env['AWS_ENDPOINT_URL'],
  sqsEndpoint: process.env['AWS_ENDPOINT_URL_SQS'] ?? process.env['AWS_ENDPOINT_URL'],
  region: process.env['AWS_REGION'] ?? process.env['AWS_DEFAULT_REGION'] ?? 'us-east-1',
  isTty: Boolean(process.stdout.isTTY),
  /** `REPORTING_TIME_ZONE` (endpoints.env of `twinflow start` names it), else the stage's setting. */
  timeZone: process.env[reportingTimeZone.env]?.trim() || stageConfig(stageName).reporting.timeZone,
  /** The stage's accepted currencies (`validation.currencies`; empty: every ISO 4217 code). */
  get acceptedCurrencies(): readonly string[] {
    return stageConfig(stageName).validation.currencies;
  },
  /**
   * Each dataset's queue URLs, `<DATASET>_QUEUE_URL` and `<DATASET>_DLQ_URL` (endpoints.env of `twinflow start`
   * names the running stage's; `ORDERS_QUEUE_URL`, `ORDERS_DLQ_URL` for orders).
   */
  queueUrls: Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] =>
        /^[A-Z][A-Z0-9_]*_(?:QUEUE|DLQ)_URL$/.test(entry[0]) && !!entry[1],
    ),
  ) as Readonly<Record<string, string>>,
};

/** Default local data directory (`npm start` uses the same). */
export const DEFAULT_DATA_DIR = '.twinflow';
export const DEFAULT_LAKE = path.join(DEFAULT_DATA_DIR, 'lake');

/** The `--lake DIR|s3://bucket/prefix` option every data command takes. */
export function lakeOption(): Option {
  return new Option('--lake <dir|s3-url>', 'lake location: a directory or s3://bucket/prefix').default(
    DEFAULT_LAKE,
  );
}

/**
 * The `--tz ZONE` option every data command takes: the reporting time zone whose days the lake's days are
 * (default: `REPORTING_TIME_ZONE`, else the stage setting `reporting.timeZone` of `TWINFLOW_STAGE`, dev).
 */
export function tzOption(): Option {
  return settingOption(reportingTimeZone).default(cliEnv.timeZone);
}

/**
 * The option of a setting that has a CLI flag: its help, its default and its check come from the setting, so
 * the flag accepts exactly what the function's env variable and the stage config accept, and a refusal names
 * the flag (`--threshold must be a fraction > 0 and ≤ 1 (0.1 = 10 %), got "10"`).
 */
export function settingOption<T>(setting: Setting<T>): Option {
  if (!setting.flag) throw new Error(`setting ${setting.env} has no CLI flag`);
  const flag = setting.flag.split(' ')[0] ?? setting.flag;
  return new Option(setting.flag, setting.description)
    .default(setting.default)
    .argParser((value: string) => setting.parse(value, flag));
}

/**
 * The repeatable `--where dimension=value` option of the model commands → `{dimension: value}`. `own` maps the
 * query parameters the command sets with its own flags to those flags: `--where` refuses them (`--where tz=…: use
 * --tz`), as it refuses a dimension named twice.
 */
export function whereOption(description: string, own: Readonly<Record<string, string>>): Option {
  return new Option('--where <dimension=value>', description)
    .argParser((value: string, previous: Record<string, string>) => {
      const match = /^([a-z][a-z0-9_]*)=(.*)$/.exec(value);
      if (!match?.[1])
        throw new InvalidInputError(`--where expects dimension=value, got "${value}"`, 'where');
      const flag = own[match[1]];
      if (flag !== undefined) throw new InvalidInputError(`--where ${match[1]}: use ${flag}`, 'where');
      if (Object.hasOwn(previous, match[1])) {
        throw new InvalidInputError(`--where names ${match[1]} twice`, 'where');
      }
      return { ...previous, [match[1]]: match[2] ?? '' };
    })
    .default({});
}

/** Opens the lake named on the command line, honouring AWS_ENDPOINT_URL* (loads the S3 client when called). */
export async function openCliStore(lake: string): Promise<ObjectStore> {
  const { openStore } = await import('../functions/pipeline/open-store.ts');
  return openStore(lake, { endpoint: cliEnv.s3Endpoint, region: cliEnv.region });
}

/** The `--dataset NAME` option of the data commands: a declared dataset (`twinflow datasets`), default orders. */
export function datasetOption(): Option {
  return new Option('--dataset <name>', 'a declared dataset (twinflow datasets)')
    .default('orders')
    .argParser((value) => {
      const names = listDatasets().map((ds) => ds.name);
      if (!names.includes(value)) {
        throw new InvalidInputError(
          `--dataset: unknown dataset "${value.slice(0, 64)}" (declared: ${names.join(', ')})`,
          'dataset',
        );
      }
      return value;
    });
}
