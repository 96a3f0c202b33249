import { readFileSync } from 'node:fs';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { PROJECT_ROOT } from './constructs/lambda-bundling.ts';
import { type StageConfig, type StageConfigOverrides, stageConfig } from './stage-config.ts';
import { addTwinflowStage, type TwinflowStacks } from './twinflow-app.ts';

/** A CloudFormation template as JSON. */
export interface TemplateJson {
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; [key: string]: unknown }>;
  Outputs?: Record<string, { Value: unknown; Export?: { Name: unknown }; [key: string]: unknown }>;
  [section: string]: unknown;
}

export interface SynthOptions {
  /** Run esbuild and package the functions (slow). Default false: assets are not built. */
  readonly bundling?: boolean;
  /** Cloud assembly directory; default a fresh temp directory. */
  readonly outdir?: string;
  /**
   * Run CDK's built-in CloudFormation schema validation (a WebAssembly linter, seconds per synth). Default false
   * here for speed; `cdk synth` always runs it, and test/infra/nag.test.ts runs it once.
   */
  readonly cfnValidation?: boolean;
}

/** The feature flags in cdk.json, so tests and tools synthesize exactly what `cdk synth` does. */
function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  return cdkJson.context ?? {};
}

/** Builds both stacks of `stage` (with optional config overrides) in a fresh app, without synthesizing yet. */
export function buildStage(
  stage: string,
  overrides: StageConfigOverrides = {},
  options: SynthOptions = {},
): TwinflowStacks & { app: App; config: StageConfig } {
  const config = stageConfig(stage, overrides);
  const context: Record<string, unknown> = { ...cdkJsonContext(), stage };
  if (!options.bundling) context['aws:cdk:bundling-stacks'] = [];
  const app = new App({
    context,
    outdir: options.outdir,
    analyticsReporting: false,
    builtinCloudFormationValidation: options.cfnValidation ?? false,
  });
  return { app, config, ...addTwinflowStage(app, config) };
}

/**
 * The synthesized template of `stage` as ONE CloudFormation document: the storage and compute stacks' resources
 * together, cross-stack `Fn::ImportValue`s replaced by the exported expressions (`Ref`/`Fn::GetAtt` on the
 * storage resources), and the compute stack's outputs. Bundling is skipped, so this is fast, offline and free of
 * side effects. The local runtime reads queues, event source mappings, rules and routes from it.
 */
export function synthTemplate(stage: string, overrides: StageConfigOverrides = {}): TemplateJson {
  const { app, storage, compute } = buildStage(stage, overrides);
  const assembly = app.synth();
  const storageTemplate = assembly.getStackByName(storage.stackName).template as TemplateJson;
  const computeTemplate = assembly.getStackByName(compute.stackName).template as TemplateJson;
  return mergeTemplates(storageTemplate, computeTemplate);
}

/** Merges a producer and a consumer stack's templates, resolving the consumer's imports of producer exports. */
export function mergeTemplates(producer: TemplateJson, consumer: TemplateJson): TemplateJson {
  const exports = new Map<string, unknown>();
  for (const output of Object.values(producer.Outputs ?? {})) {
    if (typeof output.Export?.Name === 'string') exports.set(output.Export.Name, output.Value);
  }
  const resolve = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(resolve);
    if (node === null || typeof node !== 'object') return node;
    const record = node as Record<string, unknown>;
    const imported = record['Fn::ImportValue'];
    if (Object.keys(record).length === 1 && typeof imported === 'string' && exports.has(imported)) {
      return exports.get(imported);
    }
    return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, resolve(value)]));
  };
  const resources: TemplateJson['Resources'] = { ...producer.Resources };
  for (const [id, resource] of Object.entries(consumer.Resources)) {
    if (id in resources) throw new Error(`Logical ID ${id} exists in both stacks; cannot merge templates`);
    resources[id] = resolve(resource) as TemplateJson['Resources'][string];
  }
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Resources: resources,
    Outputs: resolve(consumer.Outputs ?? {}) as TemplateJson['Outputs'],
  };
}
