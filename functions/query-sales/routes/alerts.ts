import { z } from 'zod';
import { listAlerts } from '../../alerts/rules.ts';
import { parseParams } from '../../serving/query-params.ts';
import { jsonResult, type Route } from '../route.ts';

const alertsParams = z.strictObject({
  limit: z
    .string()
    .regex(/^\d{1,3}$/, 'limit must be a whole number 1..500')
    .transform(Number)
    .refine((n) => n >= 1 && n <= 500, 'limit must be a whole number 1..500')
    .default(50),
});

/** `GET /alerts?limit=`: the declared alert rules, the open alerts (one per crossing) and the recent ones. */
export const alertRoutes: Route[] = [
  {
    method: 'GET',
    path: '/alerts',
    handle: async ({ params, deps }) =>
      jsonResult(await listAlerts(deps, parseParams(alertsParams, params).limit)),
  },
];
