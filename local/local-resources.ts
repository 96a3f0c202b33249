import type { FunctionPlan, RuntimePlan } from './template-plan.ts';

/**
 * Local stand-ins for the names, URLs and ARNs CloudFormation would generate, and the environment each function
 * gets: the template's variables with every `Ref`/`Fn::GetAtt` replaced by the local resource, plus endpoints.
 */

export const LOCAL_ACCOUNT_ID = '123456789012';
export const LOCAL_REGION = 'us-east-1';

/** Where the local servers listen. */
export interface LocalEndpoints {
  s3: string;
  sqs: string;
  /** The local SNS sink (alerts), when running. */
  sns?: string;
  /** The local Step Functions API (local/step-functions.ts), when the template has state machines. */
  stepFunctions?: string;
}

/** `Ref` / `Fn::GetAtt` of a template resource, as the local runtime names it. */
export function localAttribute(
  plan: RuntimePlan,
  endpoints: LocalEndpoints,
  logicalId: string,
  attribute: string,
): string {
  const bucket = plan.buckets.find((b) => b.logicalId === logicalId);
  if (bucket) {
    if (attribute === 'Arn') return `arn:aws:s3:::${bucket.name}`;
    if (attribute === 'RegionalDomainName' || attribute === 'DomainName') return new URL(endpoints.s3).host;
    return bucket.name;
  }
  const queue = plan.queues.find((q) => q.logicalId === logicalId);
  if (queue) {
    if (attribute === 'Arn') return queueArn(queue.name);
    if (attribute === 'QueueName') return queue.name;
    return queueUrl(endpoints, queue.name);
  }
  const topic = plan.topics.find((t) => t.logicalId === logicalId);
  if (topic) {
    if (attribute === 'TopicName') return topic.name;
    // No SNS locally: an empty topic ARN makes the functions use their local alert sink (alerts/ in the lake).
    if (!endpoints.sns) return '';
    return `arn:aws:sns:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:${topic.name}`;
  }
  const machine = plan.stateMachines.find((m) => m.logicalId === logicalId);
  if (machine) {
    if (attribute === 'Name') return machine.name;
    return stateMachineArn(machine.name);
  }
  const fn = plan.functions.find((f) => f.logicalId === logicalId);
  if (fn) {
    if (attribute === 'Arn') return `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${fn.name}`;
    return fn.name;
  }
  throw new Error(`cannot resolve ${attribute} of ${logicalId}: not a resource the local runtime emulates`);
}

/** A state machine's local ARN (the local Step Functions API knows it by this). */
export function stateMachineArn(name: string): string {
  return `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:stateMachine:${name}`;
}

export function queueArn(name: string): string {
  return `arn:aws:sqs:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:${name}`;
}

export function queueUrl(endpoints: LocalEndpoints, name: string): string {
  return `${endpoints.sqs}/${LOCAL_ACCOUNT_ID}/${name}`;
}

const PSEUDO_PARAMETERS: Record<string, string> = {
  'AWS::Region': LOCAL_REGION,
  'AWS::AccountId': LOCAL_ACCOUNT_ID,
  'AWS::Partition': 'aws',
  'AWS::URLSuffix': 'amazonaws.com',
  'AWS::StackName': 'twinflow-local',
  'AWS::NoValue': '',
};

/** Evaluates the intrinsic functions CDK emits in environment values: Ref, Fn::GetAtt, Fn::Join, Fn::Sub. */
export function resolveValue(
  value: unknown,
  attribute: (logicalId: string, attribute: string) => string,
): string {
  if (value === null || value === undefined) return '';
  if (typeof value !== 'object') return String(value);
  const record = value as Record<string, unknown>;
  const ref = record['Ref'];
  if (typeof ref === 'string') return PSEUDO_PARAMETERS[ref] ?? attribute(ref, 'Ref');
  const getAtt = record['Fn::GetAtt'];
  if (Array.isArray(getAtt)) return attribute(String(getAtt[0]), String(getAtt[1]));
  const join = record['Fn::Join'];
  if (Array.isArray(join) && Array.isArray(join[1])) {
    return (join[1] as unknown[]).map((part) => resolveValue(part, attribute)).join(String(join[0]));
  }
  const sub = record['Fn::Sub'];
  if (typeof sub === 'string') {
    return sub.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
      const [id, att] = name.split('.');
      return PSEUDO_PARAMETERS[name] ?? attribute(id ?? name, att ?? 'Ref');
    });
  }
  throw new Error(`unsupported CloudFormation value ${JSON.stringify(value)}`);
}

/**
 * Host variables a worker keeps (its own `process.env` replaces the parent's). `TWINFLOW_DATASETS_DIR` is part of
 * the code locally: a deployed bundle carries the declarations it was synthesized from, a local worker reads the
 * same folder the template was synthesized from.
 */
const HOST_VARIABLES = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TWINFLOW_DATASETS_DIR'];

/**
 * What any AWS client needs to reach the local servers: the region under both names (the JS SDK and AWS CLI v2
 * read AWS_REGION; boto3 and AWS CLI v1 only AWS_DEFAULT_REGION), dummy credentials and the service endpoints.
 * Functions get it, and so does `<data>/endpoints.env` for other tools.
 */
export function localAwsEnvironment(endpoints: LocalEndpoints): Record<string, string> {
  return {
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    ...(endpoints.sns ? { AWS_ENDPOINT_URL_SNS: endpoints.sns } : {}),
    ...(endpoints.stepFunctions ? { AWS_ENDPOINT_URL_SFN: endpoints.stepFunctions } : {}),
    // s3rver does not understand aws-chunked uploads with trailing checksums.
    AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
  };
}

/**
 * A function's environment as Lambda would set it, pointed at the local servers: template variables (resolved)
 * and the local AWS environment.
 */
export function functionEnvironment(
  plan: RuntimePlan,
  fn: FunctionPlan,
  endpoints: LocalEndpoints,
  hostEnv: NodeJS.ProcessEnv = {},
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of HOST_VARIABLES) {
    const value = hostEnv[name];
    if (value !== undefined) env[name] = value;
  }
  const attribute = (logicalId: string, att: string) => localAttribute(plan, endpoints, logicalId, att);
  for (const [name, value] of Object.entries(fn.environment)) env[name] = resolveValue(value, attribute);
  // Workers cannot take node flags; lambda-worker.ts turns source maps on.
  delete env['NODE_OPTIONS'];
  Object.assign(env, localAwsEnvironment(endpoints), {
    AWS_LAMBDA_FUNCTION_NAME: fn.name,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.name}`,
  });
  return env;
}
