import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { InvocationOutcome } from './function-host.ts';
import { corsResponseHeaders, isPreflight } from './http-api-cors.ts';
import { LOCAL_ACCOUNT_ID } from './local-resources.ts';
import type { CorsPlan, RoutePlan } from './template-plan.ts';

/**
 * The HTTP API on loopback: requests become API Gateway v2 (payload 2.0) events for the route's function, and
 * results become responses the way API Gateway maps them. Routes come from the template; anything else is a
 * 404 `{"message":"Not Found"}`, like API Gateway. The template's CORS configuration is applied as API Gateway
 * applies it, and so is its payload limit (10 MB). IAM authorization is not checked locally.
 */

/** API Gateway HTTP APIs refuse a request body over 10 MB with 413. */
export const MAX_REQUEST_BODY_BYTES = 10 * 1024 * 1024;

export interface HttpApiOptions {
  routes: readonly RoutePlan[];
  cors?: CorsPlan;
  port?: number;
  invoke: (functionId: string, event: APIGatewayProxyEventV2) => Promise<InvocationOutcome>;
  onRequest?: (report: { method: string; path: string; status: number; ms: number }) => void;
}

interface MatchedRoute {
  route: RoutePlan;
  pathParameters: Record<string, string>;
}

function routeParts(routeKey: string): { method: string; segments: string[] } | undefined {
  if (routeKey === '$default') return undefined;
  const [method = 'ANY', routePath = '/'] = routeKey.split(' ');
  return { method: method.toUpperCase(), segments: routePath.split('/').filter(Boolean) };
}

/** API Gateway's route selection: exact method and path beat parameters, which beat greedy paths and `$default`. */
export function matchRoute(
  routes: readonly RoutePlan[],
  method: string,
  path: string,
): MatchedRoute | undefined {
  const segments = path.split('/').filter(Boolean);
  let best: { match: MatchedRoute; score: number } | undefined;
  for (const route of routes) {
    const parts = routeParts(route.routeKey);
    if (!parts) {
      if (!best) best = { match: { route, pathParameters: {} }, score: -1 };
      continue;
    }
    if (parts.method !== 'ANY' && parts.method !== method) continue;
    const pathParameters: Record<string, string> = {};
    let score = parts.method === 'ANY' ? 0 : 1;
    let ok = true;
    for (let i = 0; i < parts.segments.length; i++) {
      const part = parts.segments[i] ?? '';
      const greedy = /^\{(.+)\+\}$/.exec(part);
      if (greedy?.[1]) {
        if (i >= segments.length) ok = false;
        else pathParameters[greedy[1]] = segments.slice(i).join('/');
        score += 1;
        break;
      }
      const segment = segments[i];
      if (segment === undefined) {
        ok = false;
        break;
      }
      const param = /^\{(.+)\}$/.exec(part);
      if (param?.[1]) {
        pathParameters[param[1]] = decodeURIComponent(segment);
        score += 10;
      } else if (part === segment) {
        score += 100;
      } else {
        ok = false;
        break;
      }
      if (i === parts.segments.length - 1 && segments.length !== parts.segments.length) ok = false;
    }
    if (parts.segments.length === 0 && segments.length > 0) ok = false;
    if (ok && (!best || score > best.score)) best = { match: { route, pathParameters }, score };
  }
  return best?.match;
}

function clfTime(date: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(date.getUTCDate())}/${months[date.getUTCMonth()]}/${date.getUTCFullYear()}:${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

/** The payload 2.0 event API Gateway builds for a request. */
export function toApiGatewayEvent(
  request: {
    method: string;
    url: string;
    headers: http.IncomingHttpHeaders;
    body: Buffer;
    sourceIp: string;
    host: string;
  },
  matched: MatchedRoute,
): APIGatewayProxyEventV2 {
  const url = new URL(request.url, 'http://local');
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    if (name === 'cookie') {
      cookies = String(value).split(/;\s*/);
      continue;
    }
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) query[key] = key in query ? `${query[key]},${value}` : value;
  const now = new Date();
  const contentType = headers['content-type'] ?? '';
  const isText =
    /^(text\/|application\/(json|x-www-form-urlencoded|xml))/.test(contentType) || contentType === '';
  return {
    version: '2.0',
    routeKey: matched.route.routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.replace(/^\?/, ''),
    ...(cookies ? { cookies } : {}),
    headers,
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(Object.keys(matched.pathParameters).length > 0 ? { pathParameters: matched.pathParameters } : {}),
    requestContext: {
      accountId: LOCAL_ACCOUNT_ID,
      apiId: 'local',
      domainName: request.host,
      domainPrefix: request.host.split('.')[0] ?? request.host,
      http: {
        method: request.method,
        path: url.pathname,
        protocol: 'HTTP/1.1',
        sourceIp: request.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey: matched.route.routeKey,
      stage: '$default',
      time: clfTime(now),
      timeEpoch: now.getTime(),
    },
    ...(request.body.length > 0
      ? { body: isText ? request.body.toString('utf8') : request.body.toString('base64') }
      : {}),
    isBase64Encoded: request.body.length > 0 && !isText,
  };
}

/** API Gateway's mapping of a payload 2.0 result: a `statusCode` object as is, anything else as a JSON 200. */
export function fromLambdaResult(result: unknown): {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
} {
  if (result !== null && typeof result === 'object' && 'statusCode' in result) {
    const r = result as {
      statusCode: number;
      headers?: Record<string, unknown>;
      body?: string;
      isBase64Encoded?: boolean;
      cookies?: string[];
    };
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(r.headers ?? {})) headers[name.toLowerCase()] = String(value);
    const body = Buffer.from(r.body ?? '', r.isBase64Encoded ? 'base64' : 'utf8');
    return { status: r.statusCode, headers, body };
  }
  const body = typeof result === 'string' ? result : JSON.stringify(result);
  return { status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from(body) };
}

export interface HttpApi {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startHttpApi(options: HttpApiOptions): Promise<HttpApi> {
  const server = http.createServer(async (req, res) => {
    const started = performance.now();
    const method = (req.method ?? 'GET').toUpperCase();
    const path = new URL(req.url ?? '/', 'http://local').pathname;
    const send = (status: number, headers: Record<string, string>, body: Buffer | string) => {
      res.writeHead(status, {
        'apigw-requestid': randomUUID(),
        ...(options.cors ? corsResponseHeaders(options.cors, method, req.headers, headers) : headers),
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
      options.onRequest?.({ method, path, status, ms: performance.now() - started });
    };
    try {
      if (options.cors && isPreflight(method, req.headers)) {
        req.resume();
        send(204, {}, '');
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      // Past the limit the rest is read and dropped: the client gets its 413 once it has sent the body.
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size <= MAX_REQUEST_BODY_BYTES) chunks.push(chunk as Buffer);
      }
      if (size > MAX_REQUEST_BODY_BYTES) {
        send(413, { 'content-type': 'application/json' }, '{"message":"Request Entity Too Large"}');
        return;
      }
      const matched = matchRoute(options.routes, method, path);
      if (!matched) {
        send(404, { 'content-type': 'application/json' }, '{"message":"Not Found"}');
        return;
      }
      const event = toApiGatewayEvent(
        {
          method,
          url: req.url ?? '/',
          headers: req.headers,
          body: Buffer.concat(chunks),
          sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
          host: req.headers.host ?? '127.0.0.1',
        },
        matched,
      );
      const outcome = await options.invoke(matched.route.functionId, event);
      if (!outcome.ok) {
        send(500, { 'content-type': 'application/json' }, '{"message":"Internal Server Error"}');
        return;
      }
      const response = fromLambdaResult(outcome.result);
      send(response.status, response.headers, response.body);
    } catch {
      send(500, { 'content-type': 'application/json' }, '{"message":"Internal Server Error"}');
    }
  });
  server.listen(options.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
