import type { Route } from '../route.ts';
import { alertRoutes } from './alerts.ts';
import { balanceRoutes } from './balances.ts';
import { dashboardRoutes } from './dashboard.ts';
import { datasetRoutes } from './datasets.ts';
import { metricRoutes } from './metrics.ts';
import { opsRoutes } from './ops.ts';
import { reconciliationRoutes } from './reconciliation.ts';
import { salesRoutes } from './sales.ts';

/**
 * The route table of the query API. To add routes (e.g. GET /reconciliation, GET /dashboard): write
 * `routes/<name>.ts` exporting a `Route[]`, import it here and spread it into the list. Static imports keep the
 * Lambda bundle self-contained; CDK must also declare the route on the HTTP API.
 */
export const routes: readonly Route[] = [
  ...salesRoutes,
  ...metricRoutes,
  ...balanceRoutes,
  ...alertRoutes,
  ...datasetRoutes,
  ...reconciliationRoutes,
  ...opsRoutes,
  ...dashboardRoutes,
];
