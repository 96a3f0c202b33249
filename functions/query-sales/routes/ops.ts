import { z } from 'zod';
import { opsSummary } from '../../serving/ops-summary.ts';
import { instant, parseParams } from '../../serving/query-params.ts';
import { jsonResult, type Route } from '../route.ts';

const opsParamsSchema = z.strictObject({
  start: instant('start').optional(),
  end: instant('end').optional(),
});

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
