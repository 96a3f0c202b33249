import { type Dataset, listDatasets, type ModelDeclaration } from '../pipeline/datasets.ts';
import { type RealtimeViewRef, realtimeViewsOf } from '../pipeline/realtime-view.ts';

/**
 * A measure as the serving layer sums it: counts and sums are whole numbers, money is per currency, distinct
 * values are sets (unioned, then counted).
 */
export interface ServedMeasure {
  name: string;
  kind: 'count' | 'sum' | 'money' | 'distinct';
  /** Money only: the dimension holding its ISO 4217 code. */
  currency?: string;
}

/** A declared ratio: `numerator / denominator`, two count or sum measures of the model, of each answer's sums. */
export interface ServedRatio {
  name: string;
  numerator: string;
  denominator: string;
}

/** A declared minute model, ready to serve: what `GET /metrics/{model}` and `twinflow query --model` read. */
export interface ServedModel {
  name: string;
  dataset: string;
  dimensions: string[];
  measures: ServedMeasure[];
  /** Served after the measures in every row, total and window (none for most models). */
  ratios: ServedRatio[];
  /** Dimensions that hold a money measure's currency: always kept apart, never summed across. */
  currencyDimensions: string[];
  /** The declared day rollup of this model (whole published days at granularity=day read it), if any. */
  daily?: string;
  /** Where its realtime view lives (a batch-only dataset's stays empty). */
  realtime: RealtimeViewRef;
}

function served(ds: Dataset, model: ModelDeclaration): ServedModel {
  const measures = Object.entries(model.measures).map(
    ([name, m]): ServedMeasure =>
      m.kind === 'money' ? { name, kind: m.kind, currency: m.currency } : { name, kind: m.kind },
  );
  const daily = ds.models.find((other) => other.rollup_of === model.name);
  return {
    name: model.name,
    dataset: ds.name,
    dimensions: model.dimensions,
    measures,
    ratios: Object.entries(model.ratios).map(([name, r]) => ({ name, ...r })),
    currencyDimensions: [...new Set(measures.flatMap((m) => (m.currency ? [m.currency] : [])))],
    ...(daily ? { daily: daily.name } : {}),
    realtime: { model: model.name, manifestModel: realtimeViewsOf(ds).manifestModel },
  };
}

const servedOf = new WeakMap<readonly Dataset[], ServedModel[]>();

/**
 * Every declared minute model (the ones served over HTTP and the CLI), in dataset then declaration order; built
 * once per set of declarations (a response formats every row through its model).
 */
export function servedModels(): ServedModel[] {
  const datasets = listDatasets();
  let models = servedOf.get(datasets);
  if (!models) {
    models = datasets.flatMap((ds) =>
      ds.models.filter((m) => m.grain === 'minute').map((m) => served(ds, m)),
    );
    servedOf.set(datasets, models);
  }
  return models;
}

/** A served model by name; the error names the declared ones. */
export function servedModel(name: string): ServedModel {
  const models = servedModels();
  const found = models.find((m) => m.name === name);
  if (!found) {
    throw new UnknownModelError(
      name,
      models.map((m) => m.name),
    );
  }
  return found;
}

/** A model no dataset declares (HTTP 404, CLI exit 2). */
export class UnknownModelError extends Error {
  constructor(
    readonly model: string,
    readonly known: string[],
  ) {
    super(`unknown model "${model.slice(0, 64)}" (declared: ${known.join(', ')})`);
    this.name = 'UnknownModelError';
  }
}

/** The HTTP routes of every served model: `/metrics/<model>`, `/metrics/<model>/windows` and `/metrics/<model>/top`. */
export function metricRoutePaths(): string[] {
  return servedModels().flatMap((m) => [
    `/metrics/${m.name}`,
    `/metrics/${m.name}/windows`,
    `/metrics/${m.name}/top`,
  ]);
}
