import { datasetSummary, listDatasets } from '../../pipeline/datasets.ts';
import { noParamsSchema, parseParams } from '../../serving/query-params.ts';
import { jsonResult, type Route } from '../route.ts';

/** `GET /datasets`: the declared datasets with their models, dimensions, measures and ratios (`twinflow datasets --json`). */
export const datasetRoutes: Route[] = [
  {
    method: 'GET',
    path: '/datasets',
    handle: async ({ params }) => {
      parseParams(noParamsSchema, params);
      return jsonResult({ datasets: listDatasets().map(datasetSummary) });
    },
  },
];
