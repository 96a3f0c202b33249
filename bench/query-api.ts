/**
 * The query API the way `twinflow start` (`npm start`) serves it, for benchmarks: the stage's synthesized template
 * (the CLI's template cache), a local S3 (s3rver) holding the lake, the query-sales function in `FunctionHost`
 * worker containers with the environment the runtime gives it (`functionEnvironment`: `LAKE_BUCKET` on the local
 * S3), and the runtime's HTTP API adapter (`startHttpApi`: API Gateway v2 events) on 127.0.0.1 in front.
 * Only the query function is started: the runtime's pollers and schedules (compaction, batch) would change the
 * lake under the measurement, and no request here reaches them.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import type { ObjectStore } from '../functions/pipeline/object-store.ts';
import { openStore } from '../functions/pipeline/open-store.ts';
import { type LocalS3, startLocalS3 } from '../local/aws-servers.ts';
import { FunctionHost, type InvocationOutcome } from '../local/function-host.ts';
import { type HttpApi, startHttpApi } from '../local/http-api.ts';
import { functionEnvironment, LOCAL_REGION } from '../local/local-resources.ts';
import { REPO_ROOT } from '../local/runtime.ts';
import { planFromTemplate } from '../local/template-plan.ts';
import { loadTemplate } from '../local/template-source.ts';

/** `s3`: the lake in the local S3, as `twinflow start` wires it; `dir`: `LAKE_DIR` on the seeded directory. */
export type LakeMode = 's3' | 'dir';

export interface QueryApi {
  url: string;
  lake: LakeMode;
  /** The lake the function reads: the local S3 bucket, or the seeded directory in `dir` mode. */
  store: ObjectStore;
  /** Files copied into the local S3 and how long it took (0 in `dir` mode). */
  upload: { files: number; ms: number };
  /** The last invocation behind a request: the handler's time in its worker, and whether it was a cold start. */
  lastInvocation: InvocationOutcome | undefined;
  /** Replaces the function's containers: the next request is a cold start (new worker, DuckDB, caches). */
  recycle(): Promise<void>;
  close(): Promise<void>;
}

export interface QueryApiOptions {
  /** The seeded lake (a local directory store). */
  lake: ObjectStore;
  lakeDir: string;
  /** Scratch space: the local S3's objects, the function's logs and its TMPDIR (download cache, DuckDB home). */
  dataDir: string;
  mode: LakeMode;
  stage?: string;
}

export async function startQueryApi(options: QueryApiOptions): Promise<QueryApi> {
  const stack: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const close of stack.splice(0).reverse()) await close().catch(() => undefined);
  };
  try {
    const { template } = await loadTemplate({
      repoRoot: REPO_ROOT,
      stage: options.stage ?? 'dev',
      overrides: {},
      // The cache `twinflow start` uses (keyed by a hash of the CDK sources).
      cacheDir: path.join(REPO_ROOT, 'node_modules', '.cache', 'twinflow-cdk'),
    });
    const plan = planFromTemplate(template);
    const fn = plan.functions.find((f) => f.name === 'query-sales');
    if (!fn) throw new Error('the template has no query-sales function');
    const routes = plan.routes.filter((r) => r.functionId === fn.logicalId);
    const lakeBucket = fn.environment['LAKE_BUCKET'];
    const bucketId =
      lakeBucket && typeof lakeBucket === 'object' ? (lakeBucket as { Ref?: string }).Ref : undefined;
    const bucket = plan.buckets.find((b) => b.logicalId === bucketId);
    if (!bucket) throw new Error('query-sales has no LAKE_BUCKET bucket of the template');

    const s3: LocalS3 = await startLocalS3({
      directory: path.join(options.dataDir, 's3'),
      buckets: plan.buckets.map((b) => b.name),
    });
    stack.push(() => s3.close());

    const upload = { files: 0, ms: 0 };
    let store = options.lake;
    if (options.mode === 's3') {
      const started = performance.now();
      const client = new S3Client({
        region: LOCAL_REGION,
        endpoint: s3.endpoint,
        forcePathStyle: true,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        // As the runtime sets for its functions: s3rver does not understand trailing checksums.
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
      stack.push(async () => client.destroy());
      const target = openStore(`s3://${bucket.name}`, {
        client,
        cacheDir: path.join(options.dataDir, 'upload-cache'),
      });
      const keys = (await options.lake.list('')).map((info) => info.key);
      const limit = pLimit(8);
      await Promise.all(keys.map((key) => limit(() => target.putFile(key, path.join(options.lakeDir, key)))));
      upload.files = keys.length;
      upload.ms = performance.now() - started;
      store = target;
    }

    // The function's environment as the runtime builds it; its TMPDIR (S3 download cache, DuckDB home) is ours.
    const tmp = path.join(options.dataDir, 'function-tmp');
    await mkdir(tmp, { recursive: true });
    const environment = functionEnvironment(
      plan,
      fn,
      // No SQS here: the query function never calls it (the runtime would point it at its local SQS).
      { s3: s3.endpoint, sqs: 'http://127.0.0.1:9' },
      { ...process.env, TMPDIR: tmp },
    );
    if (options.mode === 'dir') {
      delete environment['LAKE_BUCKET'];
      delete environment['LAKE_PREFIX'];
      environment['LAKE_DIR'] = options.lakeDir;
    }
    const logsDir = path.join(options.dataDir, 'logs');
    await mkdir(logsDir, { recursive: true });
    const log = createWriteStream(path.join(logsDir, `${fn.name}.log`), { flags: 'a' });
    const sink = new PassThrough();
    sink.pipe(log);
    stack.push(async () => {
      log.end();
    });
    const newHost = () =>
      new FunctionHost({
        name: fn.name,
        entryPath: path.resolve(REPO_ROOT, fn.entry),
        handlerExport: fn.handlerExport,
        environment,
        timeoutSeconds: fn.timeoutSeconds,
        memoryMb: fn.memoryMb,
        // As in the runtime; requests here are sequential, so one container serves them all.
        maxInstances: 4,
        logSink: sink,
      });
    let host = newHost();
    stack.push(() => host.close());

    let lastInvocation: InvocationOutcome | undefined;
    const http: HttpApi = await startHttpApi({
      routes,
      port: 0,
      invoke: async (_functionId, event) => {
        lastInvocation = await host.invoke(event);
        return lastInvocation;
      },
    });
    stack.push(() => http.close());

    return {
      url: http.url,
      lake: options.mode,
      store,
      upload,
      get lastInvocation() {
        return lastInvocation;
      },
      async recycle() {
        const old = host;
        host = newHost();
        await old.close();
      },
      close: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
