import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { ServingDeps } from '../serving/sales.ts';

/** What a route returns: an API Gateway v2 structured response (JSON via `jsonResult`, or any text, e.g. HTML). */
export interface HttpResult {
  statusCode: number;
  headers?: Record<string, string>;
  body: string;
}

export interface RouteContext {
  /** Query parameters, one value per name (repeats were already refused with a 400). */
  params: Record<string, string>;
  deps: ServingDeps;
  event: APIGatewayProxyEventV2;
}

/**
 * One HTTP route of the query API. Add a route by exporting a `Route[]` from a module in `./routes/` and listing
 * it in `./routes/index.ts`. Throw `InvalidInputError(message, parameter)` (e.g. via `parseParams`) for a 400.
 */
export interface Route {
  method: 'GET';
  /** Exact path, e.g. `/sales/windows`. */
  path: `/${string}`;
  handle(context: RouteContext): Promise<HttpResult>;
}

/** A JSON response. Serving answers include realtime data, so they are never cached by intermediaries. */
export function jsonResult(
  body: unknown,
  statusCode = 200,
  headers: Record<string, string> = {},
): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}
