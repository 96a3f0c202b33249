import path from 'node:path';
import { Option } from 'commander';
import type { ObjectStore } from '../functions/pipeline/object-store.ts';
import { openStore } from '../functions/pipeline/open-store.ts';

/** The CLI's one reader of process.env: endpoints for local servers or LocalStack. */
export const cliEnv = {
  s3Endpoint: process.env['AWS_ENDPOINT_URL_S3'] ?? process.env['AWS_ENDPOINT_URL'],
  sqsEndpoint: process.env['AWS_ENDPOINT_URL_SQS'] ?? process.env['AWS_ENDPOINT_URL'],
  region: process.env['AWS_REGION'] ?? process.env['AWS_DEFAULT_REGION'] ?? 'us-east-1',
  isTty: Boolean(process.stdout.isTTY),
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

/** Opens the lake named on the command line, honouring AWS_ENDPOINT_URL*. */
export function openCliStore(lake: string): ObjectStore {
  return openStore(lake, { endpoint: cliEnv.s3Endpoint, region: cliEnv.region });
}
