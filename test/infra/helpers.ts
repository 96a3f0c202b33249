import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { datasetsDir } from '../../functions/pipeline/datasets.ts';
import type { StageConfigOverrides } from '../../lib/stage-config.ts';
import { buildStage } from '../../lib/synth.ts';

/** Both stacks of a stage synthesized once (bundling skipped), with their assertion templates. */
export function synthStage(stage = 'dev', overrides: StageConfigOverrides = {}) {
  const built = buildStage(stage, overrides);
  return {
    ...built,
    storageTemplate: Template.fromStack(built.storage),
    computeTemplate: Template.fromStack(built.compute),
  };
}

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

/** The logical ID of the single resource of `type` whose ID starts with `prefix`. */
export function logicalId(template: Template, type: string, prefix: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.startsWith(prefix));
  if (ids.length !== 1)
    throw new Error(`expected one ${type} starting with ${prefix}, found ${ids.join(', ')}`);
  return ids[0]!;
}

/**
 * One S3 permission of a role: the action, the resource suffix after the bucket ARN (`'/views/*'`; `''` is the
 * bucket itself) and the statement's condition block, e.g. `{ StringLike: { 's3:prefix': ['views/*'] } }`.
 */
export interface S3Permission {
  action: string;
  resource: string;
  condition?: Record<string, Record<string, string | string[]>>;
}

/** Every S3 permission the role of function `fnPrefix` is allowed, e.g. `{action: 's3:PutObject', resource: '/views/*'}`. */
export function s3Permissions(template: Template, fnPrefix: string): S3Permission[] {
  const functionId = logicalId(template, 'AWS::Lambda::Function', `${fnPrefix}Function`);
  const fn = template.toJSON().Resources[functionId] as {
    Properties: { Role: { 'Fn::GetAtt': [string, string] } };
  };
  const roleId = fn.Properties.Role['Fn::GetAtt'][0];
  const policies = Object.values(template.findResources('AWS::IAM::Policy') as Resources).filter((policy) =>
    (policy.Properties['Roles'] as { Ref: string }[]).some((role) => role.Ref === roleId),
  );
  const permissions: S3Permission[] = [];
  for (const policy of policies) {
    const document = policy.Properties['PolicyDocument'] as {
      Statement: { Action: string | string[]; Resource: unknown; Condition?: S3Permission['condition'] }[];
    };
    for (const statement of document.Statement) {
      const actions = ([] as string[]).concat(statement.Action).filter((action) => action.startsWith('s3:'));
      const resources = ([] as unknown[]).concat(statement.Resource);
      for (const action of actions) {
        for (const resource of resources) {
          permissions.push({
            action,
            resource: s3ResourceSuffix(resource),
            ...(statement.Condition ? { condition: statement.Condition } : {}),
          });
        }
      }
    }
  }
  return permissions;
}

/**
 * Would a ListObjectsV2 call with `Prefix=listPrefix` be allowed? Only bucket-level `s3:ListBucket` grants count,
 * and a grant with conditions counts only if its sole condition is a StringLike on `s3:prefix` that matches.
 */
export function canList(permissions: readonly S3Permission[], listPrefix: string): boolean {
  return permissions.some((permission) => {
    if (permission.resource !== '' || !allows(permission.action, 's3:ListBucket')) return false;
    if (!permission.condition) return true;
    const { StringLike, ...others } = permission.condition;
    if (Object.keys(others).length > 0 || !StringLike) return false;
    const { 's3:prefix': patterns, ...otherKeys } = StringLike;
    if (Object.keys(otherKeys).length > 0 || patterns === undefined) return false;
    return ([] as string[]).concat(patterns).some((pattern) => allows(pattern, listPrefix));
  });
}

/** `{Fn::Join: ['', [<bucket arn>, '/views/*']]}` → '/views/*'; the bare bucket ARN → '' (bucket-level). */
function s3ResourceSuffix(resource: unknown): string {
  if (typeof resource === 'string') return resource;
  const join = (resource as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join) return join[1].filter((part): part is string => typeof part === 'string').join('');
  return '';
}

/** Does `action` (possibly a wildcard like `s3:GetObject*`) allow `wanted` (e.g. `s3:GetObject`)? */
export function allows(action: string, wanted: string): boolean {
  const pattern = new RegExp(`^${action.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
  return pattern.test(wanted);
}

/** Actions the function may perform on keys under `prefix` (e.g. 'landing/orders/dt=2024-01-01/x.csv'). */
export function actionsOnKey(permissions: readonly S3Permission[], key: string, wanted: string) {
  return permissions.filter(
    (permission) =>
      permission.resource !== '' &&
      allows(permission.action, wanted) &&
      allows(permission.resource.replace(/^\//, ''), key),
  );
}

/**
 * A project's `datasets/` as a team extends it: the shipped declarations plus fixture folders of
 * test/datasets/fixtures/, in a fresh temp directory (removed with `remove`).
 */
export function datasetsWithFixtures(...fixtures: string[]): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-datasets-'));
  cpSync(datasetsDir(), dir, { recursive: true });
  for (const name of fixtures) {
    cpSync(path.join(FIXTURES, name), path.join(dir, name), { recursive: true });
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

const FIXTURES = path.join(import.meta.dirname, '..', 'datasets', 'fixtures');

/** Runs `build` with `TWINFLOW_DATASETS_DIR` set to `dir`, as `cdk synth` with that variable would. */
export function withDatasetsDir<T>(dir: string, build: () => T): T {
  const before = process.env['TWINFLOW_DATASETS_DIR'];
  process.env['TWINFLOW_DATASETS_DIR'] = dir;
  try {
    return build();
  } finally {
    if (before === undefined) delete process.env['TWINFLOW_DATASETS_DIR'];
    else process.env['TWINFLOW_DATASETS_DIR'] = before;
  }
}
