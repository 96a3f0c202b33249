import { servedModels } from '../../serving/metric-model.ts';
import { queryMetric } from '../../serving/metric-query.ts';
import { parseMetricParams, parseMetricWindowsParams, parseTopParams } from '../../serving/query-params.ts';
import { topOf } from '../../serving/top.ts';
import { metricWindows } from '../../serving/windows.ts';
import { jsonResult, type Route } from '../route.ts';

/**
 * `GET /metrics/{model}`, `GET /metrics/{model}/windows` and `GET /metrics/{model}/top` for every declared minute
 * model, from the dataset declarations (CDK declares the same paths: lib/constructs/query-api.ts). `/sales` is the
 * orders model.
 */
export const metricRoutes: Route[] = servedModels().flatMap((model): Route[] => [
  {
    method: 'GET',
    path: `/metrics/${model.name}`,
    handle: async ({ params, deps }) =>
      jsonResult(
        await queryMetric(model, parseMetricParams(model, params, deps.clock(), deps.timeZone), deps),
      ),
  },
  {
    method: 'GET',
    path: `/metrics/${model.name}/windows`,
    handle: async ({ params, deps }) =>
      jsonResult(await metricWindows(model, parseMetricWindowsParams(model, params), deps)),
  },
  {
    method: 'GET',
    path: `/metrics/${model.name}/top`,
    handle: async ({ params, deps }) => jsonResult(await topOf(model, parseTopParams(model, params), deps)),
  },
]);
