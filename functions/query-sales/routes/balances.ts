import { queryBalance, servedBalances } from '../../serving/balances.ts';
import { parseBalanceParams } from '../../serving/query-params.ts';
import { jsonResult, type Route } from '../route.ts';

/**
 * `GET /<balance>` for every declared balance (inventory's `GET /stock`): the levels at `at` (default now), from the
 * dataset declarations (CDK declares the same paths: lib/constructs/query-api.ts).
 */
export const balanceRoutes: Route[] = servedBalances().map(
  (balance): Route => ({
    method: 'GET',
    path: `/${balance.name}`,
    handle: async ({ params, deps }) =>
      jsonResult(await queryBalance(balance, parseBalanceParams(balance, params), deps)),
  }),
);
