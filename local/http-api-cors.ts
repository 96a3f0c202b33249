import type http from 'node:http';
import type { CorsPlan } from './template-plan.ts';

/**
 * CORS the way API Gateway HTTP APIs apply a `CorsConfiguration`: the gateway answers preflights itself (no
 * route needed), sets the configured headers on every response to an allowed origin, and ignores the CORS
 * headers the integration returns. Browsers then enforce methods and headers against what it answered.
 */

function headerOf(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The `Access-Control-Allow-Origin` for `origin`, or undefined when the configuration does not allow it. */
function allowedOrigin(cors: CorsPlan, origin: string | undefined): string | undefined {
  if (!origin) return undefined;
  const lower = origin.toLowerCase();
  for (const allowed of cors.allowOrigins) {
    if (allowed === '*') return '*';
    const wildcard = /^(https?):\/\/\*$/.exec(allowed);
    if (wildcard ? lower.startsWith(`${wildcard[1]}://`) : allowed.toLowerCase() === lower) return origin;
  }
  return undefined;
}

/** A browser's preflight: OPTIONS with an Origin and the method it wants to use. */
export function isPreflight(method: string, headers: http.IncomingHttpHeaders): boolean {
  return (
    method === 'OPTIONS' &&
    headerOf(headers, 'origin') !== undefined &&
    headerOf(headers, 'access-control-request-method') !== undefined
  );
}

/**
 * A response's headers as the gateway sends them: for a preflight its own 204's headers; otherwise the
 * integration's headers without its CORS headers, plus the configured ones when the origin is allowed.
 */
export function corsResponseHeaders(
  cors: CorsPlan,
  method: string,
  requestHeaders: http.IncomingHttpHeaders,
  responseHeaders: Record<string, string>,
): Record<string, string> {
  const headers = Object.fromEntries(
    Object.entries(responseHeaders).filter(([name]) => !name.toLowerCase().startsWith('access-control-')),
  );
  const origin = allowedOrigin(cors, headerOf(requestHeaders, 'origin'));
  if (!origin) return headers;
  const credentials: Record<string, string> = cors.allowCredentials
    ? { 'access-control-allow-credentials': 'true' }
    : {};
  if (isPreflight(method, requestHeaders)) {
    return {
      ...headers,
      'access-control-allow-origin': origin,
      ...(cors.allowMethods.length > 0
        ? { 'access-control-allow-methods': cors.allowMethods.join(',') }
        : {}),
      ...(cors.allowHeaders.length > 0
        ? { 'access-control-allow-headers': cors.allowHeaders.join(',') }
        : {}),
      ...(cors.maxAgeSeconds !== undefined ? { 'access-control-max-age': String(cors.maxAgeSeconds) } : {}),
      ...credentials,
    };
  }
  return {
    ...headers,
    'access-control-allow-origin': origin,
    ...(cors.exposeHeaders.length > 0
      ? { 'access-control-expose-headers': cors.exposeHeaders.join(',') }
      : {}),
    ...credentials,
  };
}
