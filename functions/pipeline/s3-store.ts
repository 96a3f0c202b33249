import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { LakeUnavailableError, PreconditionFailedError } from './errors.ts';
import type { ObjectInfo, ObjectStore, PutOptions } from './object-store.ts';

export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing slash ("" for the bucket root). */
  prefix?: string;
  client: S3Client;
  /** Where `localPath` caches downloads (Lambda: under /tmp). */
  cacheDir: string;
}

function isNotFound(error: unknown): boolean {
  return (
    error instanceof S3ServiceException &&
    (error.name === 'NotFound' || error.name === 'NoSuchKey' || error.$metadata.httpStatusCode === 404)
  );
}

function isPreconditionFailed(error: unknown): boolean {
  return error instanceof S3ServiceException && error.$metadata.httpStatusCode === 412;
}

const unquote = (etag: string | undefined) => (etag ?? '').replaceAll('"', '');

/** The lake in S3. Objects are moved with the SDK; DuckDB only ever reads and writes local files. */
export class S3Store implements ObjectStore {
  readonly location: string;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly client: S3Client;
  private readonly cacheDir: string;

  constructor(options: S3StoreOptions) {
    this.bucket = options.bucket;
    this.prefix = options.prefix ? `${options.prefix.replace(/^\/+|\/+$/g, '')}/` : '';
    this.client = options.client;
    this.cacheDir = options.cacheDir;
    this.location = `s3://${this.bucket}/${this.prefix}`;
  }

  private fail(action: string, key: string, error: unknown): never {
    if (error instanceof PreconditionFailedError) throw error;
    throw new LakeUnavailableError(`${action} ${this.location}${key} failed: ${(error as Error).message}`, {
      cause: error,
    });
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const out = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }),
      );
      return {
        key,
        etag: unquote(out.ETag),
        size: out.ContentLength ?? 0,
        lastModified: out.LastModified ?? new Date(0),
      };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      return this.fail('head', key, error);
    }
  }

  async get(key: string): Promise<{ body: Buffer; etag: string } | undefined> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }),
      );
      const bytes = await out.Body?.transformToByteArray();
      return { body: Buffer.from(bytes ?? []), etag: unquote(out.ETag) };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      return this.fail('get', key, error);
    }
  }

  async put(key: string, body: Buffer | string, options: PutOptions = {}): Promise<{ etag: string }> {
    try {
      const out = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          Body: body,
          ContentType: options.contentType,
          ...(options.ifMatch !== undefined ? { IfMatch: `"${options.ifMatch}"` } : {}),
          ...(options.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
        }),
      );
      return { etag: unquote(out.ETag) };
    } catch (error) {
      if (isPreconditionFailed(error)) throw new PreconditionFailedError(key);
      return this.fail('put', key, error);
    }
  }

  async putFile(key: string, localPath: string): Promise<{ etag: string }> {
    try {
      const { size } = await stat(localPath);
      const out = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.prefix + key,
          Body: createReadStream(localPath),
          ContentLength: size,
        }),
      );
      return { etag: unquote(out.ETag) };
    } catch (error) {
      return this.fail('put', key, error);
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            ContinuationToken: token,
          }),
        );
        for (const item of page.Contents ?? []) {
          if (!item.Key) continue;
          out.push({
            key: item.Key.slice(this.prefix.length),
            etag: unquote(item.ETag),
            size: item.Size ?? 0,
            lastModified: item.LastModified ?? new Date(0),
          });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      return this.fail('list', prefix, error);
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      try {
        await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: chunk.map((key) => ({ Key: this.prefix + key })), Quiet: true },
          }),
        );
      } catch (error) {
        return this.fail('delete', chunk[0] ?? '', error);
      }
    }
  }

  async localPath(info: ObjectInfo): Promise<string> {
    const cached = path.join(this.cacheDir, info.etag || 'no-etag', info.key);
    try {
      await stat(cached);
      return cached;
    } catch {
      // not cached yet
    }
    await mkdir(path.dirname(cached), { recursive: true });
    const temp = `${cached}.${process.pid}.${Math.random().toString(16).slice(2)}.part`;
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.prefix + info.key,
          IfMatch: info.etag ? `"${info.etag}"` : undefined,
        }),
      );
      await pipeline(out.Body as Readable, createWriteStream(temp));
      await rename(temp, cached);
      return cached;
    } catch (error) {
      await rm(temp, { force: true });
      if (isNotFound(error) || isPreconditionFailed(error)) throw new PreconditionFailedError(info.key);
      return this.fail('download', info.key, error);
    }
  }
}
