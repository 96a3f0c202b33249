import os from 'node:os';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { InvalidInputError } from './errors.ts';
import { LocalDirectoryStore } from './local-directory-store.ts';
import type { ObjectStore } from './object-store.ts';
import { S3Store } from './s3-store.ts';

export interface OpenStoreOptions {
  /** S3 endpoint override (`AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`), e.g. a local s3rver. Implies path-style. */
  endpoint?: string;
  region?: string;
  /** Where S3 downloads are cached for DuckDB. */
  cacheDir?: string;
  /** Reuse a client (Lambda: created once at module scope). */
  client?: S3Client;
}

/** Builds an S3 client that honours a custom endpoint with path-style addressing (s3rver, LocalStack). */
export function createS3Client(options: OpenStoreOptions = {}): S3Client {
  return new S3Client({
    region: options.region ?? 'us-east-1',
    ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
  });
}

/**
 * Opens the lake named by `--lake`: `s3://bucket/prefix` or a local directory path.
 * The caller (CLI, handler env, local runtime) supplies endpoints; this module never reads `process.env`.
 */
export function openStore(url: string, options: OpenStoreOptions = {}): ObjectStore {
  if (url.startsWith('s3://')) {
    const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
    if (!match?.[1])
      throw new InvalidInputError(`lake is not a valid s3://bucket/prefix URL: "${url}"`, 'lake');
    return new S3Store({
      bucket: match[1],
      prefix: match[2] ?? '',
      client: options.client ?? createS3Client(options),
      cacheDir: options.cacheDir ?? path.join(os.tmpdir(), 'twinflow-cache'),
    });
  }
  if (url.includes('://'))
    throw new InvalidInputError(`lake must be a directory or s3:// URL, got "${url}"`, 'lake');
  return new LocalDirectoryStore(url);
}
