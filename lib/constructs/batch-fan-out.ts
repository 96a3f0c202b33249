import { type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import type { LakeAccess } from './lake-access.ts';

export interface BatchFanOutProps {
  /** The batch-fan-out function: every step (plan, single, map, reduce, merge) is one invocation of it. */
  readonly function: lambda.IFunction;
  readonly lake: LakeAccess;
  /** Map and reduce workers at a time (Distributed Map MaxConcurrency). */
  readonly maxConcurrency: number;
  readonly logRetentionDays: number;
  readonly retainData: boolean;
}

/**
 * A batch day on Step Functions (input `{day, dataset}`): plan it; under the threshold, run it in one function;
 * else a Distributed Map over its export files (ItemReader: the item list the plan wrote to the lake), a
 * Distributed Map over its key buckets, and the merge that publishes — functions/batch/fan-out.ts. Each item
 * retries on its own; an item that keeps failing fails the day (`BatchDayFailed`, the cause names the item) and
 * publishes nothing; a new execution of the same day resumes from the finished parts. The local runtime runs this
 * definition from the template (local/state-machine.ts).
 */
export class BatchFanOut extends Construct {
  readonly stateMachine: sfn.StateMachine;

  constructor(scope: Construct, id: string, props: BatchFanOutProps) {
    super(scope, id);
    // Every task invokes the one function; input that can never succeed is not retried, anything else (S3
    // throttling, a lost worker) is, with backoff.
    const task = (name: string, options: { payload?: Record<string, unknown>; resultPath?: string } = {}) =>
      new tasks.LambdaInvoke(this, name, {
        lambdaFunction: props.function,
        payloadResponseOnly: true,
        ...(options.payload ? { payload: sfn.TaskInput.fromObject(options.payload) } : {}),
        ...(options.resultPath ? { resultPath: options.resultPath } : {}),
      })
        .addRetry({ errors: ['InvalidInputError'], maxAttempts: 0 })
        .addRetry({
          errors: ['States.ALL'],
          maxAttempts: 3,
          interval: Duration.seconds(2),
          backoffRate: 2,
          jitterStrategy: sfn.JitterType.FULL,
        });
    // A Distributed Map whose every item is one `step` of the function; its results are discarded (a state's
    // output is at most 256 KB: the parts are in the lake).
    const fanOutMap = (
      id: string,
      comment: string,
      step: string,
      items: Pick<sfn.DistributedMapProps, 'itemReader' | 'itemsPath'>,
      worker: string,
    ) =>
      new sfn.DistributedMap(this, id, {
        comment,
        ...items,
        itemSelector: { step, item: sfn.JsonPath.objectAt('$$.Map.Item.Value') },
        maxConcurrency: props.maxConcurrency,
        mapExecutionType: sfn.StateMachineType.STANDARD,
        resultPath: sfn.JsonPath.DISCARD,
      }).itemProcessor(task(worker));

    const failed = new sfn.Fail(this, 'BatchDayFailed', {
      error: 'BatchDayFailed',
      causePath: '$.error.Cause',
    });
    const day = { day: sfn.JsonPath.stringAt('$.day'), dataset: sfn.JsonPath.stringAt('$.dataset') };
    const plan = task('Plan', { payload: { step: 'plan', ...day }, resultPath: '$.plan' });
    const single = task('OneFunction', { payload: { step: 'single', ...day }, resultPath: '$.result' });
    const mapFiles = fanOutMap(
      'MapFiles',
      'One item per export file: validate, quarantine, valid rows into key buckets',
      'map',
      {
        itemReader: new sfn.S3JsonItemReader({
          bucketNamePath: sfn.JsonPath.stringAt('$.plan.items.bucket'),
          key: sfn.JsonPath.stringAt('$.plan.items.key'),
        }),
      },
      'MapFile',
    );
    const reduceBuckets = fanOutMap(
      'ReduceBuckets',
      'One item per key bucket: the dedup rule and the additive models',
      'reduce',
      { itemsPath: sfn.JsonPath.stringAt('$.plan.reduceItems') },
      'ReduceBucket',
    );
    const merge = task('Merge', {
      payload: { step: 'merge', job: sfn.JsonPath.objectAt('$.plan.job') },
      resultPath: '$.result',
    });
    for (const state of [plan, single, mapFiles, reduceBuckets, merge]) {
      state.addCatch(failed, { errors: ['States.ALL'], resultPath: '$.error' });
    }
    const done = new sfn.Succeed(this, 'Published');
    const definition = plan.next(
      new sfn.Choice(this, 'FanOut?')
        .when(
          sfn.Condition.stringEquals('$.plan.mode', 'fan-out'),
          mapFiles.next(reduceBuckets).next(merge).next(done),
        )
        .otherwise(single.next(done)),
    );

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: props.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      comment:
        'Twinflow batch day: one function under the threshold, else map by file, reduce by key bucket, merge',
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      // A day of 1B orders runs for tens of minutes; a stuck one must not run forever.
      timeout: Duration.hours(6),
      tracingEnabled: true,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
    });
    // The ItemReader reads the plan's item list, under the fan-out's prefix of the lake only.
    // What Step Functions itself needs, per cdk-nag's finding ids: X-Ray and log delivery take no resource, a
    // task may invoke any version of its function, a Distributed Map runs and stops its own child executions.
    const stack = Stack.of(this);
    const logicalId = (construct: Construct) => stack.getLogicalId(construct.node.defaultChild as CfnElement);
    const executions = `arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${logicalId(this.stateMachine)}"}]}]}`;
    const reasons: Record<string, string> = {
      '*': 'X-Ray segments and CloudWatch log delivery (tracing and execution logs) are not resource-scoped actions.',
      [`<${logicalId(props.function)}.Arn>:*`]:
        'Invoking the fan-out function, any of its versions (LambdaInvoke).',
      [`${executions}/*:*`]: 'The Distributed Map starts and stops its own child executions, no others.',
      [`${executions}:*`]: 'The Distributed Map describes and stops its own map runs, no others.',
    };
    for (const [resource, reason] of Object.entries(reasons)) {
      Validations.of(this.stateMachine).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${resource}]`,
        reason,
      });
    }
    const items = props.lake.keyPattern('state/batch/');
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [props.lake.bucket.arnForObjects(items)],
      }),
    );
    Validations.of(this.stateMachine).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${props.lake.nagBucketArn(this)}/${items}]`,
      reason:
        'The ItemReader reads the item lists the plan writes under the batch state prefix; no other keys.',
    });
  }
}
