import type { Route } from '../route.ts';
import { DASHBOARD_CSP, DASHBOARD_HTML } from './dashboard-page.generated.ts';

/**
 * `GET /dashboard`: the operations page, built into the bundle (see dashboard/build.ts). It calls the JSON API
 * with relative URLs, so it works on the local runtime and behind API Gateway (where a browser cannot sign IAM
 * requests: use a stage with auth `none` or a signing proxy).
 */
export const dashboardRoutes: Route[] = [
  {
    method: 'GET',
    path: '/dashboard',
    // Query parameters are ignored: the page keeps its state itself, a stray `?utm=` must not break it.
    handle: async () => {
      return {
        statusCode: 200,
        headers: {
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy': DASHBOARD_CSP,
          // The page only changes with a deploy; revalidate so a new deploy shows at once.
          'cache-control': 'no-cache',
          'x-content-type-options': 'nosniff',
          'referrer-policy': 'no-referrer',
          'x-frame-options': 'DENY',
        },
        body: DASHBOARD_HTML,
      };
    },
  },
];
