import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { InvalidInputError } from '../pipeline/errors.ts';
import { RangeTooLargeError } from '../serving/errors.ts';
import { paramsFromQueryString } from '../serving/query-params.ts';
import type { ServingDeps } from '../serving/sales.ts';
import { type HttpResult, jsonResult, type Route } from './route.ts';

/** Called once per request: the route matched (or `unmatched`), the status and the time taken. */
export type Observe = (route: string, statusCode: number, ms: number) => void;

/** The request path without the stage prefix (named stages) or a trailing slash. */
function pathOf(event: APIGatewayProxyEventV2): string {
  let path = event.rawPath || '/';
  const stage = event.requestContext?.stage;
  if (stage && stage !== '$default' && (path === `/${stage}` || path.startsWith(`/${stage}/`))) {
    path = path.slice(stage.length + 1) || '/';
  }
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

function queryParams(event: APIGatewayProxyEventV2): Record<string, string> {
  if (event.rawQueryString !== undefined) return paramsFromQueryString(event.rawQueryString);
  // Without rawQueryString (hand-written events) repeats cannot be seen: API Gateway already joined them.
  const params: Record<string, string> = Object.create(null);
  for (const [name, value] of Object.entries(event.queryStringParameters ?? {})) {
    if (value !== undefined) params[name] = value;
  }
  return params;
}

function badRequest(error: InvalidInputError): HttpResult {
  return jsonResult(
    {
      error: error instanceof RangeTooLargeError ? 'range_too_large' : 'invalid_parameter',
      parameter: error.parameter ?? 'query',
      detail: error.message,
      ...(error instanceof RangeTooLargeError ? { limit: error.limit } : {}),
    },
    400,
  );
}

/**
 * Routes an API Gateway HTTP API (payload v2) request to the route table. Bad input → 400 naming the parameter,
 * unknown path → 404, other method → 405; anything else that fails is a fault → 500 (logged, details hidden).
 */
export async function dispatch(
  event: APIGatewayProxyEventV2,
  routes: readonly Route[],
  deps: ServingDeps,
  observe: Observe = () => {},
): Promise<HttpResult> {
  const started = performance.now();
  const method = event.requestContext?.http?.method?.toUpperCase() ?? 'GET';
  const path = pathOf(event);
  const onPath = routes.filter((route) => route.path === path);
  const route = onPath.find((candidate) => candidate.method === method);
  let result: HttpResult;
  if (onPath.length === 0) {
    result = jsonResult({ error: 'not_found', detail: `no route ${method} ${path.slice(0, 200)}` }, 404);
  } else if (!route) {
    const allow = [...new Set(onPath.map((r) => r.method)), 'OPTIONS'].join(', ');
    result =
      method === 'OPTIONS'
        ? { statusCode: 204, headers: { allow }, body: '' }
        : jsonResult({ error: 'method_not_allowed', detail: `${method} is not allowed on ${path}` }, 405, {
            allow,
          });
  } else {
    try {
      result = await route.handle({ params: queryParams(event), deps, event });
    } catch (error) {
      if (error instanceof InvalidInputError) {
        result = badRequest(error);
      } else {
        deps.log.error('request failed', {
          route: `${route.method} ${route.path}`,
          error: (error as Error).message,
          stack: (error as Error).stack,
        });
        result = jsonResult(
          {
            error: 'internal',
            detail: 'the query failed; see the function logs',
            request_id: event.requestContext?.requestId,
          },
          500,
        );
      }
    }
  }
  observe(
    route ? `${route.method} ${route.path}` : 'unmatched',
    result.statusCode,
    performance.now() - started,
  );
  return result;
}
