import type { AlertsResponse, RuleAlert } from '../functions/alerts/rules.ts';
import type { ReconciliationTrend } from '../functions/reconcile/trend.ts';
import type { BalanceResponse, LevelJson } from '../functions/serving/balances.ts';
import type { DiscrepancyRecord } from '../functions/serving/discrepancies.ts';
import type { HealthResponse } from '../functions/serving/health.ts';
import type { OpsSummary } from '../functions/serving/ops-summary.ts';
import type { SalesResponse } from '../functions/serving/sales.ts';
import type { WindowsResponse } from '../functions/serving/windows.ts';

export type {
  AlertsResponse,
  BalanceResponse,
  HealthResponse,
  LevelJson,
  OpsSummary,
  ReconciliationTrend,
  RuleAlert,
  SalesResponse,
  WindowsResponse,
};

/** `GET /<balance>/discrepancies`: a count day's record (`day` is '' before any), and every recorded day. */
export type DiscrepanciesResponse = DiscrepancyRecord & { recorded_days: string[] };

/** A failed API call, with what the API said (its JSON `{error, parameter, detail}` when there is one). */
export class ApiError extends Error {
  constructor(
    readonly path: string,
    readonly status: number,
    detail: string,
  ) {
    super(`GET ${path} failed${status ? ` (HTTP ${status})` : ''}: ${detail}`);
    this.name = 'ApiError';
  }
}

/**
 * The API root, relative to the page: `/dashboard` → `/`, `/prod/dashboard` → `/prod/` (a named API Gateway
 * stage), so the page works locally and behind API Gateway without configuration.
 */
export function apiBase(pathname: string): string {
  return pathname.replace(/\/dashboard\/?$/, '/') || '/';
}

function describe(body: unknown, fallback: string): string {
  if (body && typeof body === 'object') {
    const { error, parameter, detail, message } = body as Record<string, unknown>;
    const parts = [error, detail ?? message].filter((part) => typeof part === 'string' && part !== '');
    if (typeof parameter === 'string') parts.push(`(parameter ${parameter})`);
    if (parts.length > 0) return parts.join(': ');
  }
  return fallback;
}

/** GETs `path` (relative to the API root) with `params`; any non-2xx or unreadable body throws an `ApiError`. */
export async function getJson<T>(path: string, params: Record<string, string> = {}): Promise<T> {
  const url = new URL(apiBase(window.location.pathname) + path, window.location.origin);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  let response: Response;
  try {
    response = await fetch(url, { headers: { accept: 'application/json' }, cache: 'no-store' });
  } catch (error) {
    throw new ApiError(`/${path}`, 0, `network error: ${(error as Error).message}`);
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    throw new ApiError(
      `/${path}`,
      response.status,
      describe(body, text.slice(0, 200) || response.statusText),
    );
  }
  if (body === undefined) throw new ApiError(`/${path}`, response.status, 'the response is not JSON');
  return body as T;
}
