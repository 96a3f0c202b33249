/**
 * Reads a synthesized CloudFormation template into the local runtime's plan: which buckets and queues to serve,
 * which handler each function runs, and what triggers it (SQS event source mappings, EventBridge schedules, HTTP
 * API routes). Pure: no I/O, so a test can change the stage config and see the plan follow.
 */

import { FUNCTION_NAMES, TWINFLOW_FUNCTIONS, type TwinflowFunctionName } from '../lib/twinflow-functions.ts';

/** A CloudFormation template as JSON (the shape `lib/synth.ts` returns). */
export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, unknown>;
  [section: string]: unknown;
}

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  [key: string]: unknown;
}

/** Metadata key / tag that names a function's handler source, e.g. `functions/run-batch/handler.ts`. */
export const ENTRY_METADATA_KEY = 'twinflow:entry';

export interface BucketPlan {
  logicalId: string;
  /** Local bucket name: the logical id lowercased (CDK generates the cloud name). */
  name: string;
}

export interface QueuePlan {
  logicalId: string;
  /** Local queue name: the logical id. */
  name: string;
  visibilityTimeoutSeconds: number;
  messageRetentionSeconds: number;
  redrive?: { deadLetterQueueId: string; maxReceiveCount: number };
}

export interface TopicPlan {
  logicalId: string;
  name: string;
}

export interface FunctionPlan {
  logicalId: string;
  /** The Twinflow function this resource runs. */
  name: TwinflowFunctionName;
  entry: string;
  /** Exported name of the handler (`index.handler` → `handler`). */
  handlerExport: string;
  timeoutSeconds: number;
  memoryMb: number;
  /** Environment variables as CloudFormation values (literals or `Ref`/`Fn::GetAtt`/`Fn::Join` …). */
  environment: Record<string, unknown>;
}

export interface EventSourcePlan {
  logicalId: string;
  functionId: string;
  queueId: string;
  batchSize: number;
  maxBatchingWindowSeconds: number;
  reportBatchItemFailures: boolean;
  /** `ScalingConfig.MaximumConcurrency`; AWS's default scaling when absent. */
  maxConcurrency?: number;
  enabled: boolean;
}

export interface ScheduleTargetPlan {
  functionId: string;
  /** A constant JSON input replacing the scheduled event (`Targets[].Input`). */
  input?: unknown;
  maxEventAgeSeconds?: number;
  maxRetryAttempts?: number;
}

export interface SchedulePlan {
  logicalId: string;
  expression: string;
  enabled: boolean;
  description?: string;
  targets: ScheduleTargetPlan[];
}

export interface RoutePlan {
  logicalId: string;
  /** `GET /sales`, `ANY /{proxy+}` or `$default`. */
  routeKey: string;
  functionId: string;
  authorizationType: string;
  payloadFormatVersion: string;
}

/** An HTTP API's `CorsConfiguration`: API Gateway answers preflights and sets the CORS headers itself. */
export interface CorsPlan {
  allowOrigins: string[];
  allowMethods: string[];
  allowHeaders: string[];
  exposeHeaders: string[];
  allowCredentials: boolean;
  maxAgeSeconds?: number;
}

export interface NotEmulated {
  logicalId: string;
  type: string;
  reason: string;
}

export interface RuntimePlan {
  buckets: BucketPlan[];
  queues: QueuePlan[];
  topics: TopicPlan[];
  functions: FunctionPlan[];
  eventSources: EventSourcePlan[];
  schedules: SchedulePlan[];
  routes: RoutePlan[];
  /** The HTTP API's CORS configuration, when the template sets one. */
  cors?: CorsPlan;
  notEmulated: NotEmulated[];
}

/** Resource types that have no local behaviour, and why that is fine. */
const PASSIVE_TYPES: Record<string, string> = {
  'AWS::IAM::Role': 'IAM is not enforced locally',
  'AWS::IAM::Policy': 'IAM is not enforced locally',
  'AWS::Lambda::Permission': 'IAM is not enforced locally',
  'AWS::S3::BucketPolicy': 'IAM is not enforced locally',
  'AWS::SQS::QueuePolicy': 'IAM is not enforced locally',
  'AWS::SNS::TopicPolicy': 'IAM is not enforced locally',
  'AWS::KMS::Key': 'no encryption at rest locally',
  'AWS::Logs::LogGroup': 'function logs go to <data>/logs/<function>.log',
  'AWS::CloudWatch::Alarm': 'no CloudWatch locally (metrics are in the function logs)',
  'AWS::CloudWatch::Dashboard': 'no CloudWatch locally (the query API serves /dashboard)',
  'AWS::ApiGatewayV2::Stage': 'one local stage; throttling and access logs are not emulated',
  'AWS::ApiGatewayV2::Integration': 'served by the local HTTP API',
  'Custom::S3AutoDeleteObjects': 'deployment-time custom resource',
  'AWS::CDK::Metadata': 'CDK bookkeeping',
};

type Getter = (key: string) => unknown;

function props(resource: CfnResource): Getter {
  const properties = resource.Properties ?? {};
  return (key) => properties[key];
}

function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function corsPlan(cors: Record<string, unknown>): CorsPlan {
  const maxAge = cors['MaxAge'];
  return {
    allowOrigins: stringsOf(cors['AllowOrigins']),
    allowMethods: stringsOf(cors['AllowMethods']),
    allowHeaders: stringsOf(cors['AllowHeaders']),
    exposeHeaders: stringsOf(cors['ExposeHeaders']),
    allowCredentials: cors['AllowCredentials'] === true,
    ...(typeof maxAge === 'number' ? { maxAgeSeconds: maxAge } : {}),
  };
}

function numberOr(value: unknown, fallback: number): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
    return Number(value);
  return fallback;
}

/** The logical id a `Ref`/`Fn::GetAtt` points at, or undefined for anything else. */
export function referencedId(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const record = value as Record<string, unknown>;
  if (typeof record['Ref'] === 'string') return record['Ref'];
  const getAtt = record['Fn::GetAtt'];
  if (Array.isArray(getAtt) && typeof getAtt[0] === 'string') return getAtt[0];
  if (typeof getAtt === 'string') return getAtt.split('.')[0];
  return undefined;
}

/** `integrations/<Ref>` in a route's Target (a `Fn::Join` in CDK output). */
function integrationIdOf(target: unknown): string | undefined {
  const join = (target as Record<string, unknown> | undefined)?.['Fn::Join'];
  if (Array.isArray(join) && Array.isArray(join[1])) {
    for (const part of join[1] as unknown[]) {
      const id = referencedId(part);
      if (id) return id;
    }
  }
  if (typeof target === 'string') return target.replace(/^integrations\//, '');
  return undefined;
}

function tagValue(resource: CfnResource, key: string): string | undefined {
  const tags = resource.Properties?.['Tags'];
  if (!Array.isArray(tags)) return undefined;
  for (const tag of tags as { Key?: unknown; Value?: unknown }[]) {
    if (tag.Key === key && typeof tag.Value === 'string') return tag.Value;
  }
  return undefined;
}

/**
 * Which Twinflow function a Lambda resource runs: `Metadata['twinflow:entry']`, else a `twinflow:entry` tag,
 * else the logical id (`IngestOrdersFunction234912EE` → ingest-orders). Undefined for CDK's own functions.
 */
export function functionNameOf(logicalId: string, resource: CfnResource): TwinflowFunctionName | undefined {
  const entry = resource.Metadata?.[ENTRY_METADATA_KEY] ?? tagValue(resource, ENTRY_METADATA_KEY);
  const byEntry =
    typeof entry === 'string'
      ? FUNCTION_NAMES.find((name) => {
          const known = TWINFLOW_FUNCTIONS[name].entry;
          return entry === known || entry.endsWith(`/${known}`);
        })
      : undefined;
  return byEntry ?? FUNCTION_NAMES.find((name) => logicalId.startsWith(TWINFLOW_FUNCTIONS[name].id));
}

function parseJsonProperty(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/** Local S3 bucket names must be lowercase, 3..63 characters. */
export function localBucketName(logicalId: string): string {
  return logicalId
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
    .slice(0, 63);
}

/**
 * The local runtime's plan for a template: every resource either becomes part of the plan or is listed in
 * `notEmulated` with the reason. Throws when a trigger points at something the template does not define.
 */
export function planFromTemplate(template: CfnTemplate): RuntimePlan {
  const plan: RuntimePlan = {
    buckets: [],
    queues: [],
    topics: [],
    functions: [],
    eventSources: [],
    schedules: [],
    routes: [],
    notEmulated: [],
  };
  const resources = template.Resources;
  const functionIds = new Set<string>();

  for (const [logicalId, resource] of Object.entries(resources)) {
    const get = props(resource);
    switch (resource.Type) {
      case 'AWS::S3::Bucket':
        plan.buckets.push({ logicalId, name: localBucketName(logicalId) });
        break;
      case 'AWS::SQS::Queue': {
        const redrive = parseJsonProperty(get('RedrivePolicy')) as Record<string, unknown> | undefined;
        const deadLetterQueueId = referencedId(redrive?.['deadLetterTargetArn']);
        plan.queues.push({
          logicalId,
          name: logicalId,
          visibilityTimeoutSeconds: numberOr(get('VisibilityTimeout'), 30),
          messageRetentionSeconds: numberOr(get('MessageRetentionPeriod'), 345_600),
          ...(redrive && deadLetterQueueId
            ? { redrive: { deadLetterQueueId, maxReceiveCount: numberOr(redrive['maxReceiveCount'], 1) } }
            : {}),
        });
        break;
      }
      case 'AWS::SNS::Topic':
        plan.topics.push({ logicalId, name: logicalId });
        break;
      case 'AWS::Lambda::Function': {
        const name = functionNameOf(logicalId, resource);
        if (!name) {
          plan.notEmulated.push({ logicalId, type: resource.Type, reason: 'not a Twinflow handler' });
          break;
        }
        const handler = String(get('Handler') ?? 'index.handler');
        const environment = (get('Environment') as { Variables?: Record<string, unknown> } | undefined)
          ?.Variables;
        functionIds.add(logicalId);
        plan.functions.push({
          logicalId,
          name,
          entry: TWINFLOW_FUNCTIONS[name].entry,
          handlerExport: handler.slice(handler.lastIndexOf('.') + 1) || 'handler',
          timeoutSeconds: numberOr(get('Timeout'), 3),
          memoryMb: numberOr(get('MemorySize'), 128),
          environment: { ...(environment ?? {}) },
        });
        break;
      }
      default:
        break;
    }
  }

  const queueIds = new Set(plan.queues.map((q) => q.logicalId));
  for (const queue of plan.queues) {
    if (queue.redrive && !queueIds.has(queue.redrive.deadLetterQueueId)) {
      throw new Error(
        `queue ${queue.logicalId}: dead-letter queue ${queue.redrive.deadLetterQueueId} not found`,
      );
    }
  }

  for (const [logicalId, resource] of Object.entries(resources)) {
    const get = props(resource);
    switch (resource.Type) {
      case 'AWS::Lambda::EventSourceMapping': {
        const functionId = referencedId(get('FunctionName'));
        const queueId = referencedId(get('EventSourceArn'));
        if (!functionId || !queueId || !functionIds.has(functionId) || !queueIds.has(queueId)) {
          plan.notEmulated.push({
            logicalId,
            type: resource.Type,
            reason: 'event source is not a local queue feeding a Twinflow function',
          });
          break;
        }
        const responseTypes = get('FunctionResponseTypes');
        const scaling = get('ScalingConfig') as { MaximumConcurrency?: unknown } | undefined;
        plan.eventSources.push({
          logicalId,
          functionId,
          queueId,
          batchSize: numberOr(get('BatchSize'), 10),
          maxBatchingWindowSeconds: numberOr(get('MaximumBatchingWindowInSeconds'), 0),
          reportBatchItemFailures:
            Array.isArray(responseTypes) && responseTypes.includes('ReportBatchItemFailures'),
          ...(scaling?.MaximumConcurrency !== undefined
            ? { maxConcurrency: numberOr(scaling.MaximumConcurrency, 2) }
            : {}),
          enabled: get('Enabled') !== false && get('Enabled') !== 'false',
        });
        break;
      }
      case 'AWS::Events::Rule': {
        const expression = get('ScheduleExpression');
        if (typeof expression !== 'string') {
          plan.notEmulated.push({
            logicalId,
            type: resource.Type,
            reason: 'event pattern rules are not emulated',
          });
          break;
        }
        const targets: ScheduleTargetPlan[] = [];
        for (const target of (get('Targets') as Record<string, unknown>[] | undefined) ?? []) {
          const functionId = referencedId(target['Arn']);
          if (!functionId || !functionIds.has(functionId)) continue;
          const retry = target['RetryPolicy'] as Record<string, unknown> | undefined;
          targets.push({
            functionId,
            ...(target['Input'] !== undefined ? { input: parseJsonProperty(target['Input']) } : {}),
            ...(retry?.['MaximumEventAgeInSeconds'] !== undefined
              ? { maxEventAgeSeconds: numberOr(retry['MaximumEventAgeInSeconds'], 86_400) }
              : {}),
            ...(retry?.['MaximumRetryAttempts'] !== undefined
              ? { maxRetryAttempts: numberOr(retry['MaximumRetryAttempts'], 185) }
              : {}),
          });
        }
        const description = get('Description');
        plan.schedules.push({
          logicalId,
          expression,
          enabled: (get('State') ?? 'ENABLED') === 'ENABLED',
          ...(typeof description === 'string' ? { description } : {}),
          targets,
        });
        break;
      }
      case 'AWS::ApiGatewayV2::Api': {
        const cors = get('CorsConfiguration') as Record<string, unknown> | undefined;
        if (cors) plan.cors = corsPlan(cors);
        break;
      }
      case 'AWS::ApiGatewayV2::Route': {
        const routeKey = get('RouteKey');
        const integrationId = integrationIdOf(get('Target'));
        const integration = integrationId ? resources[integrationId] : undefined;
        const functionId = referencedId(integration?.Properties?.['IntegrationUri']);
        if (typeof routeKey !== 'string' || !functionId || !functionIds.has(functionId)) {
          plan.notEmulated.push({
            logicalId,
            type: resource.Type,
            reason: 'route does not integrate a Twinflow function',
          });
          break;
        }
        plan.routes.push({
          logicalId,
          routeKey,
          functionId,
          authorizationType: String(get('AuthorizationType') ?? 'NONE'),
          payloadFormatVersion: String(integration?.Properties?.['PayloadFormatVersion'] ?? '2.0'),
        });
        break;
      }
      case 'AWS::S3::Bucket':
      case 'AWS::SQS::Queue':
      case 'AWS::SNS::Topic':
      case 'AWS::Lambda::Function':
        break;
      default:
        plan.notEmulated.push({
          logicalId,
          type: resource.Type,
          reason: PASSIVE_TYPES[resource.Type] ?? 'no local emulation',
        });
    }
  }
  return plan;
}

/** The plan's function for `name` (the CLI's names), or an error listing what the template defines. */
export function functionByName(plan: RuntimePlan, name: TwinflowFunctionName): FunctionPlan {
  const found = plan.functions.find((f) => f.name === name);
  if (!found) {
    throw new Error(
      `the template defines no ${name} function (has: ${plan.functions.map((f) => f.name).join(', ') || 'none'})`,
    );
  }
  return found;
}
