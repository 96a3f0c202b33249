import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { MessageAttributeValue } from '@aws-sdk/client-sqs';
import { createRequestHandler, type ISqsServerOptions } from 'local-aws-sqs';

/**
 * Real S3 and SQS protocol servers on loopback for the local runtime and integration tests:
 * `s3rver` (objects on disk) and `local-aws-sqs` (queues in memory, redrive policies, StartMessageMoveTask).
 * Both listen on 127.0.0.1 only; port 0 picks a free port.
 */

/** A running local server. `close()` stops it and resolves once the port is released. */
export interface LocalServer {
  /** `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL_SQS` or an SDK `endpoint`. */
  endpoint: string;
  port: number;
  close(): Promise<void>;
}

export interface LocalS3 extends LocalServer {
  /** Creates a bucket if it does not exist yet. */
  createBucket(name: string): Promise<void>;
}

export interface LocalS3Options {
  /** Where s3rver keeps buckets and objects. */
  directory: string;
  port?: number;
  /** Buckets created before the server accepts requests. */
  buckets?: readonly string[];
}

/** The parts of s3rver this module uses (the package ships no types). */
interface S3rverStore {
  getMetadata(bucket: string, key: string): Promise<{ etag: string }>;
  getBucket(bucket: string): Promise<unknown>;
}
interface S3rverApp {
  store: S3rverStore;
  logger: { close(): void; exceptions: { unhandle(): void } };
  callback(): http.RequestListener;
  configureBuckets(): Promise<void>;
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverApp;

const require = createRequire(import.meta.url);

function listen(server: http.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.closeAllConnections();
    server.close((error) => (error ? reject(error) : resolve()));
  });
}

function preconditionFailed(res: http.ServerResponse, key: string): void {
  res.writeHead(412, { 'Content-Type': 'application/xml' });
  res.end(
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code>` +
      `<Message>At least one of the pre-conditions you specified did not hold</Message>` +
      `<Condition>If-Match</Condition><Key>${key.replace(/[<&>]/g, '')}</Key></Error>`,
  );
}

/** Decodes an `aws-chunked` body (`<hex-size>[;chunk-signature=…]\r\n<data>\r\n … 0\r\n<trailers>`). */
export function decodeAwsChunked(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let position = 0;
  while (position < body.length) {
    const lineEnd = body.indexOf('\r\n', position);
    if (lineEnd < 0) throw new Error('aws-chunked body: missing chunk header');
    const size = Number.parseInt(body.subarray(position, lineEnd).toString('latin1').split(';')[0] ?? '', 16);
    if (!Number.isFinite(size)) throw new Error('aws-chunked body: bad chunk size');
    if (size === 0) break;
    parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
    position = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/**
 * The SDK streams file uploads as `aws-chunked` with a trailing checksum, which s3rver would store verbatim:
 * hand it a request carrying the decoded body instead.
 */
async function withDecodedBody(req: http.IncomingMessage): Promise<http.IncomingMessage> {
  const encoding = req.headers['content-encoding'] ?? '';
  if (!encoding.includes('aws-chunked')) return req;
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const decoded = decodeAwsChunked(Buffer.concat(chunks));
  const plain = new http.IncomingMessage(req.socket);
  plain.method = req.method;
  plain.url = req.url;
  plain.httpVersion = req.httpVersion;
  plain.httpVersionMajor = req.httpVersionMajor;
  plain.httpVersionMinor = req.httpVersionMinor;
  const headers: http.IncomingHttpHeaders = { ...req.headers, 'content-length': String(decoded.length) };
  const rest = encoding
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e && e !== 'aws-chunked');
  if (rest.length > 0) headers['content-encoding'] = rest.join(',');
  else delete headers['content-encoding'];
  delete headers['x-amz-decoded-content-length'];
  delete headers['x-amz-trailer'];
  delete headers['transfer-encoding'];
  headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
  plain.headers = headers;
  plain.complete = true;
  plain.push(decoded);
  plain.push(null);
  return plain;
}

/** `/bucket/some/key?x-id=PutObject` → bucket and decoded key (path-style addressing). */
function bucketAndKey(url: string): { bucket: string; key: string } | undefined {
  const pathname = new URL(url, 'http://local').pathname;
  const match = /^\/([^/]+)\/(.+)$/.exec(pathname);
  if (!match?.[1] || !match[2]) return undefined;
  return { bucket: decodeURIComponent(match[1]), key: decodeURIComponent(match[2]) };
}

type CipherFactory = (algorithm: string, key: Buffer, iv: Buffer | null, options?: unknown) => unknown;

/**
 * s3rver encrypts ListObjectsV2 continuation tokens with single DES, which OpenSSL 3 (Node >= 17) no longer
 * offers, so every truncated listing (more than 1,000 keys) failed with 500 InternalError. Triple DES with the
 * key repeated three times *is* single DES, so `des` is served by `des-ede3-cbc`. Only `des` is touched (nothing
 * else in the process asks for it); idempotent.
 */
function allowS3rverContinuationTokens(): void {
  const crypto = require('node:crypto') as Record<'createCipheriv' | 'createDecipheriv', CipherFactory> & {
    twinflowDes?: true;
  };
  if (crypto.twinflowDes) return;
  for (const name of ['createCipheriv', 'createDecipheriv'] as const) {
    const original = crypto[name];
    crypto[name] = (algorithm, key, iv, options) =>
      algorithm === 'des'
        ? original('des-ede3-cbc', Buffer.concat([key, key, key]), iv, options)
        : original(algorithm, key, iv, options);
  }
  crypto.twinflowDes = true;
}

interface S3rverStoredObject {
  bucket: string;
  key: string;
  metadata: Record<string, string>;
  content: Buffer | NodeJS.ReadableStream;
}

interface S3rverFilesystemStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5?: string): Promise<void>;
  putObject(object: S3rverStoredObject): Promise<{ size: number; md5: string }>;
}

/**
 * s3rver writes an object's bytes in place, then its checksum and metadata. A process killed in between (the
 * local runtime gets SIGKILLed; s3rver runs inside it) left a truncated object that later LISTs and GETs served as
 * if complete — S3 never shows a partial object. Objects are therefore written to a temporary file first, their
 * metadata next, renamed into place, and their checksum (the ETag) written last: a LIST only sees files named like
 * objects, so an interrupted write is invisible. Idempotent.
 */
function writeObjectsAtomically(): void {
  const { prototype } = require('s3rver/lib/stores/filesystem') as {
    prototype: S3rverFilesystemStore & { twinflowAtomic?: true };
  };
  if (prototype.twinflowAtomic) return;
  prototype.putObject = async function putObject(this: S3rverFilesystemStore, object) {
    const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
    const temp = `${objectPath}.${process.pid}.${Math.random().toString(16).slice(2)}.partial`;
    await mkdir(path.dirname(objectPath), { recursive: true });
    const md5 = createHash('md5');
    let size = 0;
    const source = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
    try {
      await pipeline(
        source,
        new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            md5.update(chunk);
            size += chunk.length;
            callback(null, chunk);
          },
        }),
        createWriteStream(temp),
      );
      const digest = md5.digest('hex');
      // s3rver's ETag is the `.md5` file. It goes away before the swap and comes back after it, so a kill in
      // between never pairs the new ETag with the old bytes (s3rver recomputes a missing one from the bytes).
      const md5Path = this.getResourcePath(object.bucket, object.key, 'object.md5');
      await rm(md5Path, { force: true });
      await this.putMetadata(object.bucket, object.key, object.metadata, undefined);
      await rename(temp, objectPath);
      await writeFile(md5Path, digest);
      return { size, md5: digest };
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  };
  prototype.twinflowAtomic = true;
}

/**
 * s3rver answers a LIST by walking the bucket directory and reading every object's metadata file, and it writes
 * objects, metadata and checksum files in place. A LIST racing a PUT or DELETE can therefore read a half-written
 * metadata file or stat a file that just vanished, and fail with 500 InternalError — which S3 never does. LISTs
 * and writes exclude each other here (FIFO, so neither starves); reads of single keys run freely.
 */
class ListWriteGate {
  private active: { kind: 'list' | 'write'; count: number } = { kind: 'write', count: 0 };
  private readonly waiting: { kind: 'list' | 'write'; start: () => void }[] = [];

  async run<T>(kind: 'list' | 'write', fn: () => Promise<T>): Promise<T> {
    await this.enter(kind);
    try {
      return await fn();
    } finally {
      this.leave();
    }
  }

  private enter(kind: 'list' | 'write'): Promise<void> {
    if (this.waiting.length === 0 && (this.active.count === 0 || this.active.kind === kind)) {
      this.active = { kind, count: this.active.count + 1 };
      return Promise.resolve();
    }
    return new Promise((start) => this.waiting.push({ kind, start }));
  }

  private leave(): void {
    this.active.count -= 1;
    const next = this.waiting[0];
    if (this.active.count > 0 || !next) return;
    // Admit the next run of waiters of one kind together (all queued writes, or all queued LISTs).
    this.active = { kind: next.kind, count: 0 };
    while (this.waiting[0]?.kind === next.kind) {
      this.active.count += 1;
      this.waiting.shift()?.start();
    }
  }
}

/** The client went away (while the request waited in a queue): its 'close' has fired and will not fire again. */
function isGone(res: http.ServerResponse): boolean {
  return res.closed || res.destroyed;
}

/** Runs `start` and settles when the response is closed — at once if the client has already gone. */
function untilClosed(res: http.ServerResponse, start: () => void): Promise<void> {
  return new Promise((resolve) => {
    if (isGone(res)) {
      resolve();
      return;
    }
    res.once('close', () => resolve());
    start();
  });
}

/**
 * Starts s3rver on loopback. s3rver ignores `If-Match` / `If-None-Match` on PUT, which the lake relies on for
 * optimistic concurrency (publish index, stream watermark), so conditional PUTs are checked here against the
 * stored ETag and serialised, the way S3 evaluates them atomically.
 */
export async function startLocalS3(options: LocalS3Options): Promise<LocalS3> {
  mkdirSync(options.directory, { recursive: true });
  allowS3rverContinuationTokens();
  writeObjectsAtomically();
  const S3rver = require('s3rver') as S3rverConstructor;
  const app = new S3rver({
    directory: options.directory,
    silent: true,
    allowMismatchedSignatures: true,
    vhostBuckets: false,
    configureBuckets: (options.buckets ?? []).map((name) => ({ name, configs: [] })),
  });
  await app.configureBuckets();
  const s3 = app.callback();
  // s3rver writes objects in place, so a GET racing a PUT of the same key can read half an object, and it
  // ignores conditional headers. Requests on one key are therefore queued (different keys run in parallel).
  const keyQueues = new Map<string, Promise<void>>();

  const serve = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (isGone(res)) return;
    const plain = await withDecodedBody(req);
    await untilClosed(res, () => s3(plain, res));
  };

  const conditionalPut = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    target: { bucket: string; key: string },
  ) => {
    const ifMatch = req.headers['if-match'];
    const ifNoneMatch = req.headers['if-none-match'];
    const current = await app.store
      .getMetadata(target.bucket, target.key)
      .then((meta) => meta.etag.replaceAll('"', ''))
      .catch(() => undefined);
    const matchWanted = typeof ifMatch === 'string' ? ifMatch.replaceAll('"', '') : undefined;
    const failed =
      (ifNoneMatch !== undefined && current !== undefined) ||
      (matchWanted !== undefined && current !== matchWanted);
    if (!failed) return serve(req, res);
    req.resume();
    preconditionFailed(res, target.key);
  };

  const gate = new ListWriteGate();

  const server = http.createServer((req, res) => {
    // Any credentials are fine locally (the SDK's default chain, LocalStack's `test`): s3rver would reject
    // every key but its own, so requests are handled as anonymous.
    delete req.headers.authorization;
    const isRead = req.method === 'GET' || req.method === 'HEAD';
    const target = req.method === 'POST' ? undefined : bucketAndKey(req.url ?? '/');
    if (!target) {
      // Bucket-level: a GET is a LIST; anything else (multi-object delete, bucket create) writes.
      void gate.run(isRead ? 'list' : 'write', () => untilClosed(res, () => s3(req, res)));
      return;
    }
    const isConditionalPut =
      req.method === 'PUT' &&
      (req.headers['if-match'] !== undefined || req.headers['if-none-match'] !== undefined) &&
      req.headers['x-amz-copy-source'] === undefined;
    const id = `${target.bucket}/${target.key}`;
    const handle = () => (isConditionalPut ? conditionalPut(req, res, target) : serve(req, res));
    const run = () =>
      (isRead ? handle() : gate.run('write', handle)).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(400, { 'Content-Type': 'text/plain' });
        res.end(String(error));
      });
    const next = (keyQueues.get(id) ?? Promise.resolve()).then(run, run);
    const settled = next.catch(() => undefined);
    keyQueues.set(id, settled);
    void settled.then(() => {
      if (keyQueues.get(id) === settled) keyQueues.delete(id);
    });
  });
  const port = await listen(server, options.port ?? 0);
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    port,
    async createBucket(name) {
      const response = await fetch(`${endpoint}/${encodeURIComponent(name)}`, { method: 'PUT' });
      if (!response.ok && response.status !== 409) {
        throw new Error(`cannot create bucket ${name}: HTTP ${response.status} ${await response.text()}`);
      }
    },
    async close() {
      await closeServer(server);
      app.logger.exceptions.unhandle();
      app.logger.close();
    },
  };
}

export interface LocalSqsOptions {
  port?: number;
  /**
   * Accepted for symmetry with S3; local-aws-sqs keeps queues in memory, so messages do not survive a restart.
   * Queues to recreate on start go in `queues`.
   */
  dataDir?: string;
  /** Queues created at start (same shape as CreateQueue input: `QueueName` + `Attributes`). */
  queues?: ISqsServerOptions['queues'];
}

/** One message as a local-aws-sqs queue holds it. */
export interface LocalSqsRecord {
  MessageId: string;
  MessageBody: string;
  MessageAttributes?: Record<string, MessageAttributeValue>;
  /** System attributes as strings: SentTimestamp, DeadLetterQueueSourceArn, AWSTraceHeader … */
  attributes: Record<string, string | undefined>;
}

/**
 * The operations of one local-aws-sqs queue that change which messages it holds, whatever protocol (JSON or
 * query) or internal path (redrive policy, move task) asked for it. Its message list itself is private.
 */
export interface LocalSqsQueue {
  readonly QueueName: string;
  /** Every message enters a queue here: sends, dead-lettering by the redrive policy, move tasks. */
  newRecord(record: LocalSqsRecord, delaySeconds?: number): unknown;
  setRecord(
    input: {
      MessageBody: string;
      MessageAttributes?: Record<string, MessageAttributeValue>;
      MessageSystemAttributes?: Record<string, MessageAttributeValue>;
    },
    messageId?: string,
  ): unknown;
  delete(receiptHandle: string): boolean;
  /** Purge (after its 60 s delay) and DeleteQueue. */
  clearRecords(): void;
}

export interface LocalSqs extends LocalServer {
  /** Queue URL for a queue name on this server. */
  queueUrl(name: string): string;
  /** The queue named `name`, to restore or observe its messages in process. */
  queue(name: string): LocalSqsQueue | undefined;
}

/**
 * Starts local-aws-sqs on loopback. Queue URLs embed the real port (chosen before the handler is built).
 * Redrive policies (maxReceiveCount → DLQ) and StartMessageMoveTask behave like SQS.
 */
export async function startLocalSqs(options: LocalSqsOptions = {}): Promise<LocalSqs> {
  const server = http.createServer();
  const port = await listen(server, options.port ?? 0);
  const { requestHandler, service } = createRequestHandler({
    port,
    hostname: '127.0.0.1',
    // Tests create and delete queues with fresh names; no need for AWS's 60 s name-reuse delay.
    emulateQueueCreationLifecycle: false,
    ...(options.queues ? { queues: options.queues } : {}),
  });
  server.on('request', (req, res) => {
    requestHandler(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(error));
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    port,
    queueUrl: (name) => `${endpoint}/123456789012/${name}`,
    // The package types records as `any`; LocalSqsQueue names the shape it actually uses.
    queue: (name) => service.Queues.find((q) => q.QueueName === name) as LocalSqsQueue | undefined,
    close: () => closeServer(server),
  };
}
