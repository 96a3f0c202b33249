import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { type HttpApi, startHttpApi } from '../../local/http-api.ts';
import { lambdaContext } from './lambda-context.ts';

type Handler = (
  event: APIGatewayProxyEventV2,
  context: unknown,
) => Promise<APIGatewayProxyStructuredResultV2>;

/**
 * The real `query-sales` handler, in this process, behind the local runtime's HTTP adapter on loopback (real HTTP
 * parsing). Call it after setting the handler's environment (`LAKE_DIR`, log level): the handler reads it when it
 * is first imported. A thrown invocation is reported the way the runtime's function host reports one.
 */
export async function startQueryApi(): Promise<HttpApi> {
  const { handler } = (await import('../../functions/query-sales/handler.ts')) as unknown as {
    handler: Handler;
  };
  return startHttpApi({
    routes: [
      {
        logicalId: 'Default',
        routeKey: '$default',
        functionId: 'query-sales',
        authorizationType: 'NONE',
        payloadFormatVersion: '2.0',
      },
    ],
    invoke: async (_functionId, event) => {
      const started = performance.now();
      const outcome = { requestId: event.requestContext.requestId, coldStart: false };
      try {
        const result = await handler(event, lambdaContext('query-sales'));
        return { ...outcome, ok: true, result, durationMs: performance.now() - started };
      } catch (error) {
        return {
          ...outcome,
          ok: false,
          error: { name: 'Error', message: String(error) },
          durationMs: performance.now() - started,
        };
      }
    },
  });
}
