import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import httpCors from '@middy/http-cors';
import httpErrorHandler from '@middy/http-error-handler';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { log, logger, metrics } from '../lambda/observability.ts';
import type { ServingDeps } from '../serving/sales.ts';
import { env } from './env.ts';
import { dispatch } from './router.ts';
import { routes } from './routes/index.ts';

const deps: ServingDeps = {
  store: env.store,
  clock: () => new Date(),
  log,
  version: env.version,
  timeZone: env.timeZone,
};

/** Query API (API Gateway HTTP API, payload v2): GET /sales, /sales/windows, /health and registered routes. */
function serve(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  return dispatch(event, routes, deps, (route, statusCode, ms) => {
    metrics.addDimension('route', route);
    metrics.addMetric('queryMs', MetricUnit.Milliseconds, ms);
    if (statusCode >= 500) metrics.addMetric('queryFaults', MetricUnit.Count, 1);
    else if (statusCode >= 400) metrics.addMetric('queryRejected', MetricUnit.Count, 1);
  });
}

const chain = middy(serve)
  .use(injectLambdaContext(logger, { clearState: true }))
  .use(logMetrics(metrics, { captureColdStartMetric: true }))
  // Last resort only: dispatch already maps every failure to a JSON response.
  .use(
    httpErrorHandler({
      logger: (error: unknown) => log.error('unhandled', { error: String(error) }),
      fallbackMessage: JSON.stringify({
        error: 'internal',
        detail: 'the query failed; see the function logs',
      }),
    }),
  );

export const handler = env.corsOrigins.length > 0 ? chain.use(httpCors({ origins: env.corsOrigins })) : chain;
