import path from 'node:path';
import { type CfnResource, type Duration, RemovalPolicy, Size, Validations } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { PROJECT_ROOT, twinflowBundling } from './lambda-bundling.ts';

/** Operational settings every function shares; see `StageConfig`. */
export interface FunctionDefaults {
  readonly serviceName: string;
  readonly metricsNamespace: string;
  readonly logLevel: string;
  readonly logRetentionDays: number;
  readonly retainData: boolean;
}

export interface TwinflowFunctionProps {
  /** Handler file relative to the repository root, e.g. `functions/run-batch/handler.ts` (exports `handler`). */
  readonly entry: string;
  readonly description: string;
  readonly memorySize: number;
  /** /tmp in MB (Lambda's default 512 MB when absent). */
  readonly ephemeralStorageMb?: number;
  readonly timeout: Duration;
  /** Function-specific variables (its settings); the lake variables come from `LakeAccess.connect`. */
  readonly environment?: Record<string, string>;
  readonly defaults: FunctionDefaults;
}

/**
 * A Twinflow Lambda function: Node.js 22 on x86_64 (the DuckDB binary we package), ESM bundle with DuckDB
 * copied alongside, Powertools configuration, and its own log group with retention.
 */
export class TwinflowFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: TwinflowFunctionProps) {
    super(scope, id);
    const { defaults } = props;
    const retention = defaults.logRetentionDays as logs.RetentionDays;
    if (!Object.values(logs.RetentionDays).includes(retention)) {
      throw new Error(
        `logRetentionDays ${defaults.logRetentionDays} is not a CloudWatch Logs retention value`,
      );
    }

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention,
      removalPolicy: defaults.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: path.join(PROJECT_ROOT, props.entry),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.X86_64,
      memorySize: props.memorySize,
      ...(props.ephemeralStorageMb ? { ephemeralStorageSize: Size.mebibytes(props.ephemeralStorageMb) } : {}),
      timeout: props.timeout,
      logGroup: this.logGroup,
      bundling: twinflowBundling(),
      environment: {
        POWERTOOLS_SERVICE_NAME: defaults.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: defaults.metricsNamespace,
        POWERTOOLS_LOG_LEVEL: defaults.logLevel,
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
    });

    // The local runtime maps a template's function back to its handler source through this metadata.
    (this.function.node.defaultChild as CfnResource).addMetadata('twinflow:entry', props.entry);

    Validations.of(this.function).acknowledge(
      {
        id: 'AwsSolutions-L1',
        reason:
          'Pinned to Node.js 22 (LTS): the runtime the DuckDB native binding and the bundle target are built and tested for.',
      },
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          'AWSLambdaBasicExecutionRole only allows writing CloudWatch Logs, which every function must do.',
      },
    );
  }
}
