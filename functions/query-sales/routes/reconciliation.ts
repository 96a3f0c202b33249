import { z } from 'zod';
import { InvalidInputError } from '../../pipeline/errors.ts';
import { MAX_TREND_DAYS, reconciliationTrend } from '../../reconcile/trend.ts';
import { servedModels } from '../../serving/metric-model.ts';
import { parseParams } from '../../serving/query-params.ts';
import { jsonResult, type Route } from '../route.ts';

const DEFAULT_DAYS = 7;

/** A declared minute model (default sales_minute); another name is a 400 naming the declared ones. */
function checkedModel(name = 'sales_minute'): string {
  const known = servedModels().map((m) => m.name);
  if (!known.includes(name)) {
    throw new InvalidInputError(`model: unknown model "${name}" (declared: ${known.join(', ')})`, 'model');
  }
  return name;
}

const reconciliationParamsSchema = z.strictObject({
  days: z
    .string()
    .regex(/^\d{1,2}$/, { error: `days must be a whole number 1..${MAX_TREND_DAYS}` })
    .transform(Number)
    .refine((days) => days >= 1 && days <= MAX_TREND_DAYS, {
      error: `days must be a whole number 1..${MAX_TREND_DAYS}`,
    })
    .optional(),
  model: z.string().max(64).optional(),
});

/**
 * `GET /reconciliation?days=N&model=M`: the reconciliation runs of model M (default sales_minute) of the last N days
 * (default 7) and the newest in full.
 */
export const reconciliationRoutes: Route[] = [
  {
    method: 'GET',
    path: '/reconciliation',
    handle: async ({ params, deps }) => {
      const { days = DEFAULT_DAYS, model } = parseParams(reconciliationParamsSchema, params);
      return jsonResult(
        await reconciliationTrend(deps.store, {
          days,
          model: checkedModel(model),
          now: deps.clock(),
          ...(deps.timeZone ? { timeZone: deps.timeZone } : {}),
        }),
      );
    },
  },
];
