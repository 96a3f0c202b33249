import { type App, type Environment, Validations } from 'aws-cdk-lib';
import { type Dataset, listDatasets } from '../functions/pipeline/datasets.ts';
import { ComputeStack } from './compute-stack.ts';
import type { StageConfig } from './stage-config.ts';
import { StorageStack } from './storage-stack.ts';
import { streamedDatasets } from './twinflow-functions.ts';

export interface TwinflowStacks {
  readonly storage: StorageStack;
  readonly compute: ComputeStack;
}

/** `dev` → `Dev`: stack names read `Twinflow-Dev-Storage`. */
export function stackPrefix(config: StageConfig): string {
  return `Twinflow-${config.stage.charAt(0).toUpperCase()}${config.stage.slice(1)}`;
}

/** `orders queue + DLQ`, `orders, stock_moves queues + DLQs`: what the storage stack holds for the streams. */
function queuesDescription(datasets: readonly Dataset[]): string {
  const names = streamedDatasets(datasets).map((d) => d.name);
  if (names.length === 0) return '';
  return names.length === 1 ? `${names[0]} queue + DLQ, ` : `${names.join(', ')} queues + DLQs, `;
}

/**
 * Adds one stage of Twinflow to `app`: the stateful storage stack and the stateless compute stack, wired through
 * props (CDK turns the references into stack exports), with per-dataset resources from the declarations
 * (default: `TWINFLOW_DATASETS_DIR` or `datasets/`). Used by bin/twinflow.ts and by `synthTemplate`.
 */
export function addTwinflowStage(
  app: App,
  config: StageConfig,
  env?: Environment,
  datasets: readonly Dataset[] = listDatasets(),
): TwinflowStacks {
  const prefix = stackPrefix(config);
  const tags = { project: 'twinflow', stage: config.stage };
  const storage = new StorageStack(app, `${prefix}-Storage`, {
    config,
    datasets,
    env,
    tags,
    description: `Twinflow ${config.stage}: lake bucket, ${queuesDescription(datasets)}alert topic (stateful)`,
    terminationProtection: config.retainData,
  });
  const compute = new ComputeStack(app, `${prefix}-Compute`, {
    config,
    env,
    tags,
    description: `Twinflow ${config.stage}: functions, schedules, query API, alarms, dashboard (stateless)`,
    datasets,
    lakeBucket: storage.lakeBucket,
    streams: storage.streams,
    alertTopic: storage.alertTopic,
  });
  Validations.of(compute).acknowledge({
    id: 'Annotation::@aws-cdk/core:crossStackReferencesDefaultStrong',
    reason:
      'Strong references are intended: CloudFormation then refuses to delete a storage export the compute stack uses.',
  });
  return { storage, compute };
}
