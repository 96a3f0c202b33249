import { describe, expect, it } from 'vitest';
import { recordIdOfItemIdentifier } from '../../functions/stream/kafka-records.ts';
import { sqsRecordOf } from '../../functions/stream/sqs-records.ts';
import type { InvocationOutcome } from '../../local/function-host.ts';
import { fromLambdaResult, matchRoute, startHttpApi, toApiGatewayEvent } from '../../local/http-api.ts';
import { createScaledClock } from '../../local/scaled-clock.ts';
import { nextFireTime, parseSchedule } from '../../local/schedule-expression.ts';
import { Scheduler } from '../../local/scheduler.ts';
import { recordsToRetry } from '../../local/sqs-event-source.ts';
import { parseOverrides } from '../../local/stage-overrides.ts';
import type { CorsPlan, RoutePlan } from '../../local/template-plan.ts';

const at = (iso: string) => new Date(iso);

describe('schedule expressions', () => {
  it('cron(0 2 * * ? *) fires at 02:00 UTC, the next day once past', () => {
    const schedule = parseSchedule('cron(0 2 * * ? *)');

    expect(nextFireTime(schedule, at('2026-11-21T01:59:30Z'))).toEqual(at('2026-11-21T02:00:00Z'));
    expect(nextFireTime(schedule, at('2026-11-21T02:00:00Z'))).toEqual(at('2026-11-22T02:00:00Z'));
  });

  it('cron day-of-week uses EventBridge numbering (1 = Sunday) and names', () => {
    const weekdays = parseSchedule('cron(30 9 ? * MON-FRI *)');
    const sundays = parseSchedule('cron(0 0 ? * 1 *)');

    // 2026-11-21 is a Saturday.
    expect(nextFireTime(weekdays, at('2026-11-21T12:00:00Z'))).toEqual(at('2026-11-23T09:30:00Z'));
    expect(nextFireTime(sundays, at('2026-11-21T12:00:00Z'))).toEqual(at('2026-11-22T00:00:00Z'));
  });

  it('rate counts periods from when the rule started', () => {
    const schedule = parseSchedule('rate(5 minutes)');
    const anchor = at('2026-11-21T10:00:07Z');

    expect(nextFireTime(schedule, anchor, anchor)).toEqual(at('2026-11-21T10:05:07Z'));
    expect(nextFireTime(schedule, at('2026-11-21T10:12:00Z'), anchor)).toEqual(at('2026-11-21T10:15:07Z'));
  });

  it('rejects what it cannot schedule faithfully', () => {
    expect(() => parseSchedule('cron(0 2 * * * *)')).toThrow(/exactly one of day-of-month and day-of-week/);
    expect(() => parseSchedule('cron(0 2 L * ? *)')).toThrow(/not supported/);
    expect(() => parseSchedule('every 5 minutes')).toThrow(/expected rate/);
  });
});

describe('scheduler on a scaled clock', () => {
  it('fires EventBridge-shaped events whose time follows the scaled clock', async () => {
    const clock = createScaledClock(3600, { real: Date.now(), scaled: Date.parse('2026-11-21T10:00:00Z') });
    const events: { time: string; 'detail-type': string; resources: string[] }[] = [];
    const scheduler = new Scheduler(
      [
        {
          logicalId: 'HourlyRule',
          expression: 'rate(1 hour)',
          enabled: true,
          targets: [{ functionId: 'Fn' }],
        },
      ],
      {
        clock,
        invoke: async (_fn, event) => {
          events.push(event as (typeof events)[number]);
          return { requestId: 'r', ok: true, result: null, durationMs: 1, coldStart: false };
        },
      },
    );

    scheduler.start();
    await new Promise((resolve) => setTimeout(resolve, 2300));
    await scheduler.stop();

    // One scaled hour per real second.
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events[0]).toMatchObject({
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      resources: ['arn:aws:events:us-east-1:123456789012:rule/HourlyRule'],
      detail: {},
    });
    // Rates count from when the scheduler started (a few scaled seconds after the clock's origin).
    expect(events[0]?.time).toMatch(/^2026-11-21T11:0\d:\d\dZ$/);
    expect(Date.parse(events[1]?.time ?? '') - Date.parse(events[0]?.time ?? '')).toBe(3_600_000);
  });
});

describe('HTTP API emulation', () => {
  const routes: RoutePlan[] = [
    'GET /sales',
    'GET /sales/windows',
    'GET /items/{id}',
    'ANY /files/{proxy+}',
  ].map((routeKey) => ({
    logicalId: routeKey,
    routeKey,
    functionId: 'Q',
    authorizationType: 'NONE',
    payloadFormatVersion: '2.0',
  }));

  it('selects the most specific route and extracts path parameters; unknown paths match nothing', () => {
    expect(matchRoute(routes, 'GET', '/sales')?.route.routeKey).toBe('GET /sales');
    expect(matchRoute(routes, 'GET', '/sales/windows')?.route.routeKey).toBe('GET /sales/windows');
    expect(matchRoute(routes, 'GET', '/items/p-1')?.pathParameters).toEqual({ id: 'p-1' });
    expect(matchRoute(routes, 'DELETE', '/files/a/b')?.pathParameters).toEqual({ proxy: 'a/b' });
    expect(matchRoute(routes, 'POST', '/sales')).toBeUndefined();
    expect(matchRoute(routes, 'GET', '/sales/nope')).toBeUndefined();
    expect(matchRoute(routes, 'GET', '/')).toBeUndefined();
  });

  it('builds a payload 2.0 event with query parameters joined like API Gateway', () => {
    const matched = matchRoute(routes, 'GET', '/sales')!;

    const event = toApiGatewayEvent(
      {
        method: 'GET',
        url: '/sales?start=2026-11-21T00:00:00Z&product_id=p-1&product_id=p-2',
        headers: { host: '127.0.0.1:3000', 'user-agent': 'test' },
        body: Buffer.alloc(0),
        sourceIp: '127.0.0.1',
        host: '127.0.0.1:3000',
      },
      matched,
    );

    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'GET /sales',
      rawPath: '/sales',
      queryStringParameters: { start: '2026-11-21T00:00:00Z', product_id: 'p-1,p-2' },
      requestContext: { http: { method: 'GET', path: '/sales' }, stage: '$default' },
      isBase64Encoded: false,
    });
  });

  it('maps results like API Gateway: a statusCode object as is, anything else as JSON 200', () => {
    expect(
      fromLambdaResult({ statusCode: 400, headers: { 'Content-Type': 'application/json' }, body: '{"e":1}' }),
    ).toEqual({
      status: 400,
      headers: { 'content-type': 'application/json' },
      body: Buffer.from('{"e":1}'),
    });
    expect(fromLambdaResult({ ok: true }).status).toBe(200);
    expect(fromLambdaResult({ ok: true }).body.toString()).toBe('{"ok":true}');
  });
});

describe('HTTP API on loopback: CORS and payload limit from the template', () => {
  const cors: CorsPlan = {
    allowOrigins: ['http://localhost:3000'],
    allowMethods: ['GET', 'OPTIONS'],
    allowHeaders: ['authorization', 'content-type'],
    exposeHeaders: [],
    allowCredentials: false,
    maxAgeSeconds: 3600,
  };
  const route: RoutePlan = {
    logicalId: 'RouteSales',
    routeKey: 'GET /sales',
    functionId: 'Q',
    authorizationType: 'NONE',
    payloadFormatVersion: '2.0',
  };

  const corsHeadersOf = (response: Response) => {
    const found: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      if (name.startsWith('access-control-')) found[name] = value;
    });
    return found;
  };

  /** The local HTTP API in front of a function answering with its own (wide-open) CORS header. */
  async function apiWithCors() {
    const bodies: number[] = [];
    const api = await startHttpApi({
      routes: [route, { ...route, logicalId: 'RouteIngest', routeKey: 'POST /sales' }],
      cors,
      invoke: async (_id, event): Promise<InvocationOutcome> => {
        bodies.push(event.body?.length ?? 0);
        return {
          ok: true,
          requestId: 'r',
          coldStart: false,
          durationMs: 1,
          result: {
            statusCode: 200,
            headers: { 'content-type': 'application/json', 'access-control-allow-origin': '*' },
            body: '{}',
          },
        };
      },
    });
    return { api, bodies };
  }

  it('answers preflights itself and replaces the function’s CORS headers with the configured ones', async () => {
    const { api, bodies } = await apiWithCors();
    try {
      const preflight = (origin: string) =>
        fetch(`${api.url}/sales`, {
          method: 'OPTIONS',
          headers: { origin, 'access-control-request-method': 'GET' },
        });
      const allowed = await preflight('http://localhost:3000');
      const denied = await preflight('http://evil.example');
      const get = (origin: string) => fetch(`${api.url}/sales`, { headers: { origin } });
      const fromAllowed = await get('http://localhost:3000');
      const fromDenied = await get('http://evil.example');

      expect(allowed.status).toBe(204);
      expect(corsHeadersOf(allowed)).toEqual({
        'access-control-allow-origin': 'http://localhost:3000',
        'access-control-allow-methods': 'GET,OPTIONS',
        'access-control-allow-headers': 'authorization,content-type',
        'access-control-max-age': '3600',
      });
      expect(denied.status).toBe(204);
      expect(denied.headers.get('access-control-allow-origin')).toBeNull();
      expect(bodies).toHaveLength(2); // preflights never reach the function
      expect(fromAllowed.status).toBe(200);
      expect(fromAllowed.headers.get('access-control-allow-origin')).toBe('http://localhost:3000');
      expect(fromDenied.headers.get('access-control-allow-origin')).toBeNull();
    } finally {
      await api.close();
    }
  });

  it('refuses a request body over 10 MB with 413 and a JSON message; 10 MB passes', async () => {
    const TEN_MB = 10 * 1024 * 1024;
    const { api, bodies } = await apiWithCors();
    try {
      const post = (bytes: number) =>
        fetch(`${api.url}/sales`, {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream' },
          body: Buffer.alloc(bytes, 1),
        });
      const over = await post(TEN_MB + 1);
      const atLimit = await post(TEN_MB);

      expect([over.status, await over.json()]).toEqual([413, { message: 'Request Entity Too Large' }]);
      expect(atLimit.status).toBe(200);
      expect(bodies).toEqual([Math.ceil(TEN_MB / 3) * 4]); // base64 of the 10 MB body
    } finally {
      await api.close();
    }
  });
});

describe('SQS event source rules', () => {
  const records = ['a', 'b', 'c'].map((id) =>
    sqsRecordOf(
      { MessageId: id, ReceiptHandle: `rh-${id}`, Body: '{}', Attributes: { ApproximateReceiveCount: '1' } },
      'arn:q',
    ),
  );
  const ok = (result: unknown): InvocationOutcome => ({
    requestId: 'r',
    ok: true,
    result,
    durationMs: 1,
    coldStart: false,
  });

  it('retries exactly the reported batchItemFailures', () => {
    expect([
      ...recordsToRetry(records, ok({ batchItemFailures: [{ itemIdentifier: 'b' }] }), true).retry,
    ]).toEqual(['b']);
    expect(recordsToRetry(records, ok({ batchItemFailures: [] }), true).retry.size).toBe(0);
  });

  it('retries the whole batch when the invocation fails or reports an unknown record', () => {
    const failed: InvocationOutcome = {
      requestId: 'r',
      ok: false,
      error: { name: 'Error', message: 'x' },
      durationMs: 1,
      coldStart: false,
    };

    expect(recordsToRetry(records, failed, true).retry.size).toBe(3);
    expect(
      recordsToRetry(records, ok({ batchItemFailures: [{ itemIdentifier: 'zzz' }] }), true).retry.size,
    ).toBe(3);
  });

  it('reads a Kafka item identifier as its record, and an SQS-style string or a foreign record as a batch failure', () => {
    const kafka = [{ messageId: 'twinflow.orders-0-7' }, { messageId: 'twinflow.orders-1-12' }];
    const respond = (itemIdentifier: unknown) => ok({ batchItemFailures: [{ itemIdentifier }] });
    const retryOf = (itemIdentifier: unknown) =>
      recordsToRetry(kafka, respond(itemIdentifier), true, recordIdOfItemIdentifier);

    expect([...retryOf({ partition: 'twinflow.orders-1', offset: 12 }).retry]).toEqual([
      'twinflow.orders-1-12',
    ]);
    expect(retryOf({ partition: 'twinflow.orders-1', offset: '12' }).batchFailure).toBeUndefined();
    for (const malformed of [
      'twinflow.orders-1-12',
      { 'topic-partition': 'twinflow.orders-1', offset: 12 },
      { partition: 'twinflow.orders-1', offset: 13 },
      { partition: 'twinflow.orders-2', offset: 12 },
      { partition: 'twinflow.orders-1', offset: -1 },
      null,
    ]) {
      expect(retryOf(malformed)).toMatchObject({ batchFailure: expect.stringMatching(/unknown record/) });
      expect(retryOf(malformed).retry.size).toBe(2);
    }
  });

  it('ignores batchItemFailures when the mapping does not report them', () => {
    expect(
      recordsToRetry(records, ok({ batchItemFailures: [{ itemIdentifier: 'b' }] }), false).retry.size,
    ).toBe(0);
  });

  it('shapes records like Lambda', () => {
    expect(records[0]).toMatchObject({
      messageId: 'a',
      receiptHandle: 'rh-a',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:q',
    });
  });
});

describe('stage overrides from the command line', () => {
  it('parses section.key=value into typed values', () => {
    expect(
      parseOverrides([
        'stream.batchSize=10',
        'stream.maxBatchingWindowSeconds=1',
        'compaction.schedule=rate(1 minute)',
      ]),
    ).toEqual({
      stream: { batchSize: 10, maxBatchingWindowSeconds: 1 },
      compaction: { schedule: 'rate(1 minute)' },
    });
    expect(() => parseOverrides(['nonsense'])).toThrow(/section.key=value/);
  });
});
