/**
 * Reads a synthesized CloudFormation template into the local runtime's plan: which buckets and queues to serve,
 * which handler each function runs, and what triggers it (SQS event source mappings, EventBridge schedules, HTTP
 * API routes). Pure: no I/O, so a test can change the stage config and see the plan follow.
 */

import {
  type FunctionIdentity,
  functionIdentity,
  TWINFLOW_FUNCTIONS,
  type TwinflowFunctionName,
} from '../lib/twinflow-functions.ts';

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

/** A Step Functions state machine: the local Step Functions API runs its definition (local/step-functions.ts). */
export interface StateMachineResourcePlan {
  logicalId: string;
  /** Local name: the logical id (its ARN is `arn:aws:states:…:stateMachine:<logical id>`). */
  name: string;
}

export interface FunctionPlan {
  logicalId: string;
  /** The Twinflow function this resource runs (`ingest-<dataset>` for a dataset's ingest function). */
  name: TwinflowFunctionName;
  entry: string;
  /** The dataset an ingest function consumes (from its `TWINFLOW_DATASET`). */
  dataset?: string;
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

/** A Kafka event source mapping (MSK or self-managed): the local runtime points it at its own broker. */
export interface KafkaEventSourcePlan {
  logicalId: string;
  functionId: string;
  topic: string;
  consumerGroupId: string;
  /** The cluster the template names: bootstrap servers (self-managed) or the MSK cluster's ARN. */
  cluster: { bootstrapServers: string[] } | { clusterArn: unknown };
  startingPosition: 'TRIM_HORIZON' | 'LATEST';
  batchSize: number;
  maxBatchingWindowSeconds: number;
  reportBatchItemFailures: boolean;
  /** -1: until the record expires (AWS's default). */
  retryAttempts: number;
  maxRecordAgeSeconds: number;
  /** The on-failure destination, when it is a queue of the template. */
  onFailureQueueId?: string;
  /** Concurrent partitions: the provisioned maximum pollers, else AWS's default of one per partition. */
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
  stateMachines: StateMachineResourcePlan[];
  functions: FunctionPlan[];
  eventSources: EventSourcePlan[];
  kafkaEventSources: KafkaEventSourcePlan[];
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

function environmentOf(resource: CfnResource): Record<string, unknown> {
  const environment = resource.Properties?.['Environment'] as
    | { Variables?: Record<string, unknown> }
    | undefined;
  return { ...(environment?.Variables ?? {}) };
}

/**
 * Which Twinflow function a Lambda resource runs: by `Metadata['twinflow:entry']` (else a `twinflow:entry` tag)
 * and its environment (an ingest function's `TWINFLOW_DATASET`), so every dataset's ingest function maps with no
 * code of its own; else by the logical id (`IngestOrdersFunction234912EE` → ingest-orders). Undefined for CDK's
 * own functions.
 */
export function functionIdentityOf(logicalId: string, resource: CfnResource): FunctionIdentity | undefined {
  const entry = resource.Metadata?.[ENTRY_METADATA_KEY] ?? tagValue(resource, ENTRY_METADATA_KEY);
  if (typeof entry === 'string') {
    const identity = functionIdentity(entry, environmentOf(resource));
    if (identity) return identity;
  }
  const spec = Object.values(TWINFLOW_FUNCTIONS).find((s) => logicalId.startsWith(`${s.id}Function`));
  if (!spec) return undefined;
  return {
    name: spec.name,
    entry: spec.entry,
    ...(spec.dataset !== undefined ? { dataset: spec.dataset } : {}),
  };
}

/** The name of the Twinflow function a Lambda resource runs (see `functionIdentityOf`). */
export function functionNameOf(logicalId: string, resource: CfnResource): TwinflowFunctionName | undefined {
  return functionIdentityOf(logicalId, resource)?.name;
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

function queuePlan(logicalId: string, get: Getter): QueuePlan {
  const redrive = parseJsonProperty(get('RedrivePolicy')) as Record<string, unknown> | undefined;
  const deadLetterQueueId = referencedId(redrive?.['deadLetterTargetArn']);
  return {
    logicalId,
    name: logicalId,
    visibilityTimeoutSeconds: numberOr(get('VisibilityTimeout'), 30),
    messageRetentionSeconds: numberOr(get('MessageRetentionPeriod'), 345_600),
    ...(redrive && deadLetterQueueId
      ? { redrive: { deadLetterQueueId, maxReceiveCount: numberOr(redrive['maxReceiveCount'], 1) } }
      : {}),
  };
}

/** The plan of a Lambda resource that runs a Twinflow handler; undefined for CDK's own functions. */
function functionPlan(logicalId: string, resource: CfnResource): FunctionPlan | undefined {
  const identity = functionIdentityOf(logicalId, resource);
  if (!identity) return undefined;
  const get = props(resource);
  const handler = String(get('Handler') ?? 'index.handler');
  return {
    logicalId,
    name: identity.name,
    entry: identity.entry,
    ...(identity.dataset !== undefined ? { dataset: identity.dataset } : {}),
    handlerExport: handler.slice(handler.lastIndexOf('.') + 1) || 'handler',
    timeoutSeconds: numberOr(get('Timeout'), 3),
    memoryMb: numberOr(get('MemorySize'), 128),
    environment: environmentOf(resource),
  };
}

/** First pass: what triggers point at (buckets, queues, topics, functions). */
function addTarget(plan: RuntimePlan, logicalId: string, resource: CfnResource): void {
  switch (resource.Type) {
    case 'AWS::S3::Bucket':
      plan.buckets.push({ logicalId, name: localBucketName(logicalId) });
      break;
    case 'AWS::SQS::Queue':
      plan.queues.push(queuePlan(logicalId, props(resource)));
      break;
    case 'AWS::SNS::Topic':
      plan.topics.push({ logicalId, name: logicalId });
      break;
    case 'AWS::StepFunctions::StateMachine':
      plan.stateMachines.push({ logicalId, name: logicalId });
      break;
    case 'AWS::Lambda::Function': {
      const fn = functionPlan(logicalId, resource);
      if (fn) plan.functions.push(fn);
      else plan.notEmulated.push({ logicalId, type: resource.Type, reason: 'not a Twinflow handler' });
      break;
    }
    default:
      break;
  }
}

function checkDeadLetterQueues(queues: readonly QueuePlan[]): void {
  const queueIds = new Set(queues.map((q) => q.logicalId));
  for (const queue of queues) {
    if (queue.redrive && !queueIds.has(queue.redrive.deadLetterQueueId)) {
      throw new Error(
        `queue ${queue.logicalId}: dead-letter queue ${queue.redrive.deadLetterQueueId} not found`,
      );
    }
  }
}

/** Names are how `invoke` and the logs tell functions apart: two resources must not run the same function. */
function checkFunctionNames(functions: readonly FunctionPlan[]): void {
  const seen = new Map<string, string>();
  for (const fn of functions) {
    const other = seen.get(fn.name);
    if (other) throw new Error(`functions ${other} and ${fn.logicalId} both run ${fn.name}`);
    seen.set(fn.name, fn.logicalId);
  }
}

/** The logical ids of the first pass's functions and queues, which triggers must point at. */
interface Targets {
  functionIds: ReadonlySet<string>;
  queueIds: ReadonlySet<string>;
}

function eventSourcePlan(logicalId: string, get: Getter, targets: Targets): EventSourcePlan | undefined {
  const functionId = referencedId(get('FunctionName'));
  const queueId = referencedId(get('EventSourceArn'));
  if (!functionId || !queueId || !targets.functionIds.has(functionId) || !targets.queueIds.has(queueId)) {
    return undefined;
  }
  const responseTypes = get('FunctionResponseTypes');
  const scaling = get('ScalingConfig') as { MaximumConcurrency?: unknown } | undefined;
  return {
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
  };
}

function kafkaEventSourcePlan(
  logicalId: string,
  get: Getter,
  targets: Targets,
): KafkaEventSourcePlan | undefined {
  const functionId = referencedId(get('FunctionName'));
  const [topic] = stringsOf(get('Topics'));
  if (!functionId || !targets.functionIds.has(functionId) || topic === undefined) return undefined;
  const selfManaged = get('SelfManagedEventSource') as
    | { Endpoints?: { KafkaBootstrapServers?: unknown } }
    | undefined;
  const groupConfig = (get('SelfManagedKafkaEventSourceConfig') ??
    get('AmazonManagedKafkaEventSourceConfig')) as { ConsumerGroupId?: unknown } | undefined;
  const destination = (get('DestinationConfig') as { OnFailure?: { Destination?: unknown } } | undefined)
    ?.OnFailure?.Destination;
  const onFailureQueueId = referencedId(destination);
  const responseTypes = get('FunctionResponseTypes');
  const pollers = get('ProvisionedPollerConfig') as { MaximumPollers?: unknown } | undefined;
  return {
    logicalId,
    functionId,
    topic,
    // Lambda's default group id is the mapping's UUID; the logical id stands in for it.
    consumerGroupId:
      typeof groupConfig?.ConsumerGroupId === 'string' ? groupConfig.ConsumerGroupId : logicalId,
    cluster: selfManaged
      ? { bootstrapServers: stringsOf(selfManaged.Endpoints?.KafkaBootstrapServers) }
      : { clusterArn: get('EventSourceArn') },
    startingPosition: get('StartingPosition') === 'LATEST' ? 'LATEST' : 'TRIM_HORIZON',
    batchSize: numberOr(get('BatchSize'), 100),
    maxBatchingWindowSeconds: numberOr(get('MaximumBatchingWindowInSeconds'), 0.5),
    reportBatchItemFailures:
      Array.isArray(responseTypes) && responseTypes.includes('ReportBatchItemFailures'),
    retryAttempts: numberOr(get('MaximumRetryAttempts'), -1),
    maxRecordAgeSeconds: numberOr(get('MaximumRecordAgeInSeconds'), -1),
    ...(onFailureQueueId && targets.queueIds.has(onFailureQueueId) ? { onFailureQueueId } : {}),
    ...(pollers?.MaximumPollers !== undefined ? { maxConcurrency: numberOr(pollers.MaximumPollers, 1) } : {}),
    enabled: get('Enabled') !== false && get('Enabled') !== 'false',
  };
}

/** A schedule rule's plan, with only the targets that are Twinflow functions; undefined for event patterns. */
function schedulePlan(logicalId: string, get: Getter, targets: Targets): SchedulePlan | undefined {
  const expression = get('ScheduleExpression');
  if (typeof expression !== 'string') return undefined;
  const scheduleTargets: ScheduleTargetPlan[] = [];
  for (const target of (get('Targets') as Record<string, unknown>[] | undefined) ?? []) {
    const functionId = referencedId(target['Arn']);
    if (!functionId || !targets.functionIds.has(functionId)) continue;
    const retry = target['RetryPolicy'] as Record<string, unknown> | undefined;
    scheduleTargets.push({
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
  return {
    logicalId,
    expression,
    enabled: (get('State') ?? 'ENABLED') === 'ENABLED',
    ...(typeof description === 'string' ? { description } : {}),
    targets: scheduleTargets,
  };
}

function routePlan(
  logicalId: string,
  get: Getter,
  resources: CfnTemplate['Resources'],
  targets: Targets,
): RoutePlan | undefined {
  const routeKey = get('RouteKey');
  const integrationId = integrationIdOf(get('Target'));
  const integration = integrationId ? resources[integrationId] : undefined;
  const functionId = referencedId(integration?.Properties?.['IntegrationUri']);
  if (typeof routeKey !== 'string' || !functionId || !targets.functionIds.has(functionId)) return undefined;
  return {
    logicalId,
    routeKey,
    functionId,
    authorizationType: String(get('AuthorizationType') ?? 'NONE'),
    payloadFormatVersion: String(integration?.Properties?.['PayloadFormatVersion'] ?? '2.0'),
  };
}

/** Second pass: triggers (event sources, schedules, routes), the API's CORS, and what is not emulated. */
function addTrigger(
  plan: RuntimePlan,
  logicalId: string,
  resource: CfnResource,
  resources: CfnTemplate['Resources'],
  targets: Targets,
): void {
  const get = props(resource);
  const notEmulated = (reason: string) => plan.notEmulated.push({ logicalId, type: resource.Type, reason });
  switch (resource.Type) {
    case 'AWS::Lambda::EventSourceMapping': {
      if (get('Topics') !== undefined) {
        const kafka = kafkaEventSourcePlan(logicalId, get, targets);
        if (kafka) plan.kafkaEventSources.push(kafka);
        else notEmulated('Kafka event source does not feed a Twinflow function');
        break;
      }
      const eventSource = eventSourcePlan(logicalId, get, targets);
      if (eventSource) plan.eventSources.push(eventSource);
      else notEmulated('event source is not a local queue feeding a Twinflow function');
      break;
    }
    case 'AWS::Events::Rule': {
      const schedule = schedulePlan(logicalId, get, targets);
      if (schedule) plan.schedules.push(schedule);
      else notEmulated('event pattern rules are not emulated');
      break;
    }
    case 'AWS::ApiGatewayV2::Api': {
      const cors = get('CorsConfiguration') as Record<string, unknown> | undefined;
      if (cors) plan.cors = corsPlan(cors);
      break;
    }
    case 'AWS::ApiGatewayV2::Route': {
      const route = routePlan(logicalId, get, resources, targets);
      if (route) plan.routes.push(route);
      else notEmulated('route does not integrate a Twinflow function');
      break;
    }
    case 'AWS::S3::Bucket':
    case 'AWS::SQS::Queue':
    case 'AWS::SNS::Topic':
    case 'AWS::StepFunctions::StateMachine':
    case 'AWS::Lambda::Function':
      break;
    default:
      notEmulated(PASSIVE_TYPES[resource.Type] ?? 'no local emulation');
  }
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
    stateMachines: [],
    functions: [],
    eventSources: [],
    kafkaEventSources: [],
    schedules: [],
    routes: [],
    notEmulated: [],
  };
  const resources = Object.entries(template.Resources);
  for (const [logicalId, resource] of resources) addTarget(plan, logicalId, resource);
  checkDeadLetterQueues(plan.queues);
  checkFunctionNames(plan.functions);
  const targets: Targets = {
    functionIds: new Set(plan.functions.map((f) => f.logicalId)),
    queueIds: new Set(plan.queues.map((q) => q.logicalId)),
  };
  for (const [logicalId, resource] of resources) {
    addTrigger(plan, logicalId, resource, template.Resources, targets);
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
