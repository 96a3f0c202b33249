import { z } from 'zod';
import { MAX_TREND_DAYS, reconciliationTrend } from '../../reconcile/trend.ts';
import { parseParams } from '../../serving/query-params.ts';
import { jsonResult, type Route } from '../route.ts';

const DEFAULT_DAYS = 7;

const reconciliationParamsSchema = z.strictObject({
  days: z
    .string()
    .regex(/^\d{1,2}$/, { error: `days must be a whole number 1..${MAX_TREND_DAYS}` })
    .transform(Number)
    .refine((days) => days >= 1 && days <= MAX_TREND_DAYS, {
      error: `days must be a whole number 1..${MAX_TREND_DAYS}`,
    })
    .optional(),
});

/** `GET /reconciliation?days=N`: the reconciliation runs of the last N days (default 7) and the newest in full. */
export const reconciliationRoutes: Route[] = [
  {
    method: 'GET',
    path: '/reconciliation',
    handle: async ({ params, deps }) => {
      const { days = DEFAULT_DAYS } = parseParams(reconciliationParamsSchema, params);
      return jsonResult(
        await reconciliationTrend(deps.store, {
          days,
          now: deps.clock(),
          ...(deps.timeZone ? { timeZone: deps.timeZone } : {}),
        }),
      );
    },
  },
];
