import { z } from 'zod';
import { opsSummary } from '../../serving/ops-summary.ts';
import { parseInstant, parseParams } from '../../serving/query-params.ts';
import { jsonResult, type Route } from '../route.ts';

function optionalInstant(parameter: string) {
  return z
    .string()
    .transform((value, ctx) => {
      try {
        return parseInstant(value, parameter);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    })
    .optional();
}

const opsParamsSchema = z.strictObject({ start: optionalInstant('start'), end: optionalInstant('end') });

/** `GET /ops/summary?start=&end=`: quarantine, top rejection reasons, late-event hours, DLQ depth. */
export const opsRoutes: Route[] = [
  {
    method: 'GET',
    path: '/ops/summary',
    handle: async ({ params, deps }) => {
      const { start, end } = parseParams(opsParamsSchema, params);
      return jsonResult(await opsSummary({ ...(start ? { start } : {}), ...(end ? { end } : {}) }, deps));
    },
  },
];
