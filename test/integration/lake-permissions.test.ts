import { S3Client } from '@aws-sdk/client-s3';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { writeLandingExport } from '../../local/landing-export.ts';
import { actionsOnKey, canList, type S3Permission, s3Permissions, synthStage } from '../infra/helpers.ts';
import { fixture, lambdaContext } from '../support/lambda-context.ts';
import { LOCAL_CREDENTIALS, useLocalS3 } from '../support/local-aws.ts';

/**
 * The local runtime does not enforce IAM, so a role that misses a prefix its code touches would only fail once
 * deployed. This runs every handler through its events/ fixtures against a real S3 server, records each S3 call
 * its client sends, and checks the call against that function's synthesized role, as IAM would.
 */

const LAKE_PREFIX = 'tenant-a/lake';
const s3 = useLocalS3();

type Fn = 'RunBatch' | 'IngestOrders' | 'CompactRealtime' | 'QuerySales' | 'ReconcileViews';
type Handler = (event: unknown, context: unknown) => Promise<unknown>;
interface S3Call {
  command: string;
  input: Record<string, unknown>;
}

const calls = new Map<Fn, S3Call[]>();
let caller: Fn | undefined;
let permissions: Record<Fn, S3Permission[]>;

/** Invokes `handler` as function `fn`, attributing every S3 call made meanwhile to it. */
async function invoke(fn: Fn, handler: Handler, event: unknown): Promise<unknown> {
  caller = fn;
  try {
    return await handler(event, lambdaContext(fn));
  } finally {
    caller = undefined;
  }
}

/**
 * What IAM checks for one S3 call (Service Authorization Reference for Amazon S3): each key of a multi-object
 * delete is authorized as `s3:DeleteObject`; HeadObject is `s3:GetObject`. A read of a missing key also needs
 * listing under it, or S3 answers 403 instead of the 404 the store treats as "not there yet".
 */
function violations(fn: Fn): string[] {
  const granted = permissions[fn];
  const allowed = (action: string, key: string) => actionsOnKey(granted, key, action).length > 0;
  const problems: string[] = [];
  for (const { command, input } of calls.get(fn) ?? []) {
    const key = String(input['Key']);
    switch (command) {
      case 'GetObjectCommand':
      case 'HeadObjectCommand':
        if (!allowed('s3:GetObject', key)) problems.push(`${command} ${key}: no s3:GetObject`);
        if (!canList(granted, key)) problems.push(`${command} ${key}: a missing key would be 403, not 404`);
        break;
      case 'PutObjectCommand':
        if (!allowed('s3:PutObject', key)) problems.push(`${command} ${key}: no s3:PutObject`);
        break;
      case 'ListObjectsV2Command':
        if (!canList(granted, String(input['Prefix'] ?? ''))) {
          problems.push(`${command} ${String(input['Prefix'])}: no s3:ListBucket for this prefix`);
        }
        break;
      case 'DeleteObjectsCommand': {
        const objects = (input['Delete'] as { Objects: { Key: string }[] }).Objects;
        for (const object of objects) {
          if (!allowed('s3:DeleteObject', object.Key))
            problems.push(`delete ${object.Key}: no s3:DeleteObject`);
        }
        break;
      }
      default:
        problems.push(`${command}: unknown to this check; add its IAM actions here and to LakeAccess`);
    }
  }
  return problems;
}

const commands = (fn: Fn) => new Set((calls.get(fn) ?? []).map(({ command }) => command));

beforeAll(async () => {
  const synth = synthStage('dev', { lake: { prefix: LAKE_PREFIX } });
  permissions = {
    RunBatch: s3Permissions(synth.computeTemplate, 'RunBatch'),
    IngestOrders: s3Permissions(synth.computeTemplate, 'IngestOrders'),
    CompactRealtime: s3Permissions(synth.computeTemplate, 'CompactRealtime'),
    QuerySales: s3Permissions(synth.computeTemplate, 'QuerySales'),
    ReconcileViews: s3Permissions(synth.computeTemplate, 'ReconcileViews'),
  };
  // Observe, not replace: every call still goes to the S3 server.
  const send = S3Client.prototype.send;
  vi.spyOn(S3Client.prototype, 'send').mockImplementation(function (
    this: S3Client,
    ...args: Parameters<S3Client['send']>
  ) {
    const [command] = args;
    if (caller) {
      const recorded = calls.get(caller) ?? [];
      recorded.push({ command: command.constructor.name, input: command.input as Record<string, unknown> });
      calls.set(caller, recorded);
    }
    return send.apply(this, args);
  } as S3Client['send']);

  const seed = s3.store(LAKE_PREFIX);
  for (const day of ['2026-11-18', '2026-11-19', '2026-11-20']) {
    await writeLandingExport({ day, orders: 50, seed: 7 }, seed);
  }
  Object.assign(process.env, {
    LAKE_BUCKET: s3.bucket,
    LAKE_PREFIX,
    AWS_ENDPOINT_URL_S3: s3.server.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    POWERTOOLS_LOG_LEVEL: 'ERROR',
    POWERTOOLS_METRICS_DISABLED: 'true',
    // Delete covered partials in the same run, so the compaction's delete path is exercised too.
    COMPACTION_GRACE_SECONDS: '0',
  });
  delete process.env['LAKE_DIR'];
  delete process.env['ALERT_TOPIC_ARN'];
  delete process.env['ORDERS_DLQ_URL'];
});

/** Handlers read their env at import (cold start), so they are imported only after it is set. */
const handlerOf = (module: unknown) => (module as { handler: Handler }).handler;

describe('every S3 call a handler makes is allowed by its synthesized role (lake prefix "tenant-a/lake")', () => {
  it('run-batch: backfill and single day', async () => {
    const handler = handlerOf(await import('../../functions/run-batch/handler.ts'));
    await invoke('RunBatch', handler, await fixture('batch-backfill.json'));
    await invoke('RunBatch', handler, await fixture('batch-day.json'));

    // HeadObject: the neighbouring days' published order_facts (cross-day duplicates), authorized as s3:GetObject.
    expect(commands('RunBatch')).toEqual(
      new Set(['ListObjectsV2Command', 'GetObjectCommand', 'HeadObjectCommand', 'PutObjectCommand']),
    );
    expect(violations('RunBatch')).toEqual([]);
  });

  it('ingest-orders: valid, malformed and redelivered messages', async () => {
    const handler = handlerOf(await import('../../functions/ingest-orders/handler.ts'));
    for (const name of ['sqs-orders.json', 'sqs-mixed.json', 'sqs-redelivery.json']) {
      await invoke('IngestOrders', handler, await fixture(name));
    }

    expect(commands('IngestOrders')).toContain('PutObjectCommand');
    expect(violations('IngestOrders')).toEqual([]);
  });

  it('compact-realtime: compacts, deletes covered partials and reads the watermark', async () => {
    const handler = handlerOf(await import('../../functions/compact-realtime/handler.ts'));
    await invoke('CompactRealtime', handler, await fixture('scheduled-compaction.json'));

    expect(commands('CompactRealtime')).toContain('DeleteObjectsCommand');
    const watermark = `${LAKE_PREFIX}/state/stream/orders/watermark.json`;
    expect(calls.get('CompactRealtime')?.some(({ input }) => input['Key'] === watermark)).toBe(true);
    expect(violations('CompactRealtime')).toEqual([]);
  });

  it('query-sales: sales, windows, health, ops summary and reconciliation routes', async () => {
    const handler = handlerOf(await import('../../functions/query-sales/handler.ts'));
    const template = (await fixture('apigw-sales-1day.json')) as APIGatewayProxyEventV2;
    const request = (rawPath: string, rawQueryString: string): APIGatewayProxyEventV2 => ({
      ...template,
      routeKey: `GET ${rawPath}`,
      rawPath,
      rawQueryString,
      queryStringParameters: Object.fromEntries(new URLSearchParams(rawQueryString)),
      requestContext: {
        ...template.requestContext,
        routeKey: `GET ${rawPath}`,
        http: { ...template.requestContext.http, path: rawPath },
      },
    });
    const events = [
      template,
      await fixture('apigw-sales-30days.json'),
      await fixture('apigw-windows.json'),
      request('/health', ''),
      request('/ops/summary', 'start=2026-11-18&end=2026-11-22'),
      request('/reconciliation', 'days=7'),
    ];
    for (const event of events) {
      const response = (await invoke('QuerySales', handler, event)) as APIGatewayProxyStructuredResultV2;
      expect(response.statusCode, String(response.body)).toBe(200);
    }

    expect(commands('QuerySales')).not.toContain('PutObjectCommand');
    expect(violations('QuerySales')).toEqual([]);
  });

  it('reconcile-views: the hourly schedule over the lookback days', async () => {
    const handler = handlerOf(await import('../../functions/reconcile-views/handler.ts'));
    await invoke('ReconcileViews', handler, await fixture('scheduled-hourly-reconcile.json'));

    expect(commands('ReconcileViews')).toContain('PutObjectCommand');
    expect(violations('ReconcileViews')).toEqual([]);
  });
});
