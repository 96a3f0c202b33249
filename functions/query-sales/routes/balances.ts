import { queryBalance, servedBalances } from '../../serving/balances.ts';
import { queryDiscrepancies } from '../../serving/discrepancies.ts';
import { parseBalanceParams, parseDiscrepancyParams } from '../../serving/query-params.ts';
import { jsonResult, type Route } from '../route.ts';

/**
 * `GET /<balance>` for every declared balance (inventory's `GET /stock`): the levels at `at` (default now); and
 * `GET /<balance>/discrepancies?day=&limit=`: what a count day's batch found. From the dataset
 * declarations (CDK declares the same paths: lib/constructs/query-api.ts).
 */
export const balanceRoutes: Route[] = servedBalances().flatMap((balance): Route[] => [
  {
    method: 'GET',
    path: `/${balance.name}`,
    handle: async ({ params, deps }) =>
      jsonResult(await queryBalance(balance, parseBalanceParams(balance, params), deps)),
  },
  {
    method: 'GET',
    path: `/${balance.name}/discrepancies`,
    handle: async ({ params, deps }) =>
      jsonResult(await queryDiscrepancies(balance, parseDiscrepancyParams(params), deps)),
  },
]);
