import { health } from '../../serving/health.ts';
import {
  noParamsSchema,
  parseParams,
  parseSalesParams,
  parseWindowsParams,
} from '../../serving/query-params.ts';
import { querySales } from '../../serving/sales.ts';
import { salesWindows } from '../../serving/windows.ts';
import { jsonResult, type Route } from '../route.ts';

/** `GET /sales`, `GET /sales/windows`, `GET /health`: thin adapters over the serving core. */
export const salesRoutes: Route[] = [
  {
    method: 'GET',
    path: '/sales',
    handle: async ({ params, deps }) =>
      jsonResult(await querySales(parseSalesParams(params, deps.clock(), deps.timeZone), deps)),
  },
  {
    method: 'GET',
    path: '/sales/windows',
    handle: async ({ params, deps }) => jsonResult(await salesWindows(parseWindowsParams(params), deps)),
  },
  {
    method: 'GET',
    path: '/health',
    handle: async ({ params, deps }) => {
      parseParams(noParamsSchema, params);
      return jsonResult(await health(deps));
    },
  },
];
