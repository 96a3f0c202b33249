import { type Dataset, isStreamed, listDatasets } from '../pipeline/datasets.ts';
import { InvalidInputError } from '../pipeline/errors.ts';

/**
 * Which declared dataset an ingest function consumes. One handler serves every streamed dataset; CDK creates one
 * function per dataset and names the dataset in `TWINFLOW_DATASET`. Side-effect free, so the function list
 * (lib/twinflow-functions.ts) and the local runtime read the same names.
 */

/** The variable naming the dataset an ingest function consumes. */
export const DATASET_VARIABLE = 'TWINFLOW_DATASET';

/**
 * The dataset of an ingest function without `TWINFLOW_DATASET`: the orders function predates declared datasets,
 * and keeps its deployed environment (and so its template) as it was.
 */
export const LEGACY_INGEST_DATASET = 'orders';

/** The name of the dataset an ingest function with this environment consumes (not checked). */
export function ingestDatasetName(env: Readonly<Record<string, unknown>>): string {
  const named = env[DATASET_VARIABLE];
  return typeof named === 'string' && named !== '' ? named : LEGACY_INGEST_DATASET;
}

/**
 * The declared, streamed dataset an ingest function consumes, from its environment.
 * @throws InvalidInputError naming `TWINFLOW_DATASET` when the dataset is not declared or has no stream.
 */
export function ingestDataset(env: Readonly<Record<string, unknown>>, datasets = listDatasets()): Dataset {
  const name = ingestDatasetName(env);
  const found = datasets.find((d) => d.name === name);
  if (!found) {
    throw new InvalidInputError(
      `${DATASET_VARIABLE}: unknown dataset "${name}" (declared: ${datasets.map((d) => d.name).join(', ')})`,
      DATASET_VARIABLE,
    );
  }
  if (!isStreamed(found)) {
    throw new InvalidInputError(
      `${DATASET_VARIABLE}: dataset "${name}" is batch-only (source: ${found.source}): it has no stream to ingest`,
      DATASET_VARIABLE,
    );
  }
  return found;
}
