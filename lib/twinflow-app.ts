import { type App, type Environment, Validations } from 'aws-cdk-lib';
import { ComputeStack } from './compute-stack.ts';
import type { StageConfig } from './stage-config.ts';
import { StorageStack } from './storage-stack.ts';

export interface TwinflowStacks {
  readonly storage: StorageStack;
  readonly compute: ComputeStack;
}

/** `dev` → `Dev`: stack names read `Twinflow-Dev-Storage`. */
export function stackPrefix(config: StageConfig): string {
  return `Twinflow-${config.stage.charAt(0).toUpperCase()}${config.stage.slice(1)}`;
}

/**
 * Adds one stage of Twinflow to `app`: the stateful storage stack and the stateless compute stack, wired through
 * props (CDK turns the references into stack exports). Used by bin/twinflow.ts and by `synthTemplate`.
 */
export function addTwinflowStage(app: App, config: StageConfig, env?: Environment): TwinflowStacks {
  const prefix = stackPrefix(config);
  const tags = { project: 'twinflow', stage: config.stage };
  const storage = new StorageStack(app, `${prefix}-Storage`, {
    config,
    env,
    tags,
    description: `Twinflow ${config.stage}: lake bucket, orders queue + DLQ, alert topic (stateful)`,
    terminationProtection: config.retainData,
  });
  const compute = new ComputeStack(app, `${prefix}-Compute`, {
    config,
    env,
    tags,
    description: `Twinflow ${config.stage}: functions, schedules, query API, alarms, dashboard (stateless)`,
    lakeBucket: storage.lakeBucket,
    ordersQueue: storage.ordersQueue,
    ordersQueueVisibilityTimeout: storage.ordersQueueVisibilityTimeout,
    ordersDeadLetterQueue: storage.ordersDeadLetterQueue,
    alertTopic: storage.alertTopic,
  });
  Validations.of(compute).acknowledge({
    id: 'Annotation::@aws-cdk/core:crossStackReferencesDefaultStrong',
    reason:
      'Strong references are intended: CloudFormation then refuses to delete a storage export the compute stack uses.',
  });
  return { storage, compute };
}
