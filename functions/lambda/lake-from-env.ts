import os from 'node:os';
import path from 'node:path';
import { InvalidInputError } from '../pipeline/errors.ts';
import type { ObjectStore } from '../pipeline/object-store.ts';
import { openStore } from '../pipeline/open-store.ts';

/**
 * The lake a handler works on, from its environment (read once at cold start):
 * `LAKE_BUCKET` (+ `LAKE_PREFIX`) in AWS and behind local S3 servers, or `LAKE_DIR` for
 * `twinflow invoke` against a local directory. Custom endpoints follow `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`.
 */
export function lakeStoreFromEnv(env: NodeJS.ProcessEnv = process.env): ObjectStore {
  const endpoint = env['AWS_ENDPOINT_URL_S3'] ?? env['AWS_ENDPOINT_URL'];
  if (env['LAKE_BUCKET']) {
    const prefix = (env['LAKE_PREFIX'] ?? '').replace(/^\/+|\/+$/g, '');
    return openStore(`s3://${env['LAKE_BUCKET']}${prefix ? `/${prefix}` : ''}`, {
      endpoint,
      region: env['AWS_REGION'],
      cacheDir: path.join(os.tmpdir(), 'twinflow-cache'),
    });
  }
  if (env['LAKE_DIR']) return openStore(env['LAKE_DIR']);
  throw new InvalidInputError(
    'set LAKE_BUCKET (S3) or LAKE_DIR (local directory) for the lake',
    'LAKE_BUCKET',
  );
}
