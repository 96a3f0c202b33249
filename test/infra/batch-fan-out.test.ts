import { describe, expect, it } from 'vitest';
import { type AslState, functionOfArn, stateMachinesOf } from '../../local/state-machine.ts';
import type { CfnTemplate } from '../../local/template-plan.ts';
import { logicalId, s3Permissions, synthStage } from './helpers.ts';

/** The batch fan-out state machine (lib/constructs/batch-fan-out.ts) as deployed. */
describe('batch fan-out on Step Functions', () => {
  const dev = synthStage('dev', { batch: { fanOutMaxConcurrency: 12 } });
  const template = dev.computeTemplate.toJSON() as CfnTemplate;
  const [machine] = stateMachinesOf(template);
  const states = machine?.definition.States ?? {};
  const processorStates = (map: string) =>
    (states[map]?.['ItemProcessor'] as { States: Record<string, AslState> } | undefined)?.States ?? {};
  const fanOutFn = logicalId(dev.computeTemplate, 'AWS::Lambda::Function', 'BatchFanOutFunction');

  it('plans, then one function under the threshold or a Distributed Map by file, one by bucket and the merge', () => {
    expect(machine?.definition.StartAt).toBe('Plan');
    expect(states['Plan']).toMatchObject({ Type: 'Task', Next: 'FanOut?', ResultPath: '$.plan' });
    expect(states['FanOut?']).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.plan.mode', StringEquals: 'fan-out', Next: 'MapFiles' }],
      Default: 'OneFunction',
    });
    expect(states['MapFiles']).toMatchObject({
      Type: 'Map',
      MaxConcurrency: 12,
      ItemReader: {
        Resource: 'arn:aws:states:::s3:getObject',
        ReaderConfig: { InputType: 'JSON' },
        Parameters: { 'Bucket.$': '$.plan.items.bucket', 'Key.$': '$.plan.items.key' },
      },
      ItemSelector: { step: 'map', 'item.$': '$$.Map.Item.Value' },
      ItemProcessor: { ProcessorConfig: { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' } },
      ResultPath: null,
      Next: 'ReduceBuckets',
    });
    expect(states['ReduceBuckets']).toMatchObject({
      Type: 'Map',
      MaxConcurrency: 12,
      ItemsPath: '$.plan.reduceItems',
      ItemSelector: { step: 'reduce', 'item.$': '$$.Map.Item.Value' },
      ResultPath: null,
      Next: 'Merge',
    });
    expect(states['Merge']).toMatchObject({
      Type: 'Task',
      Parameters: { step: 'merge', 'job.$': '$.plan.job' },
    });
    // Every task, the workers' included, is the one fan-out function.
    const tasks: AslState[] = [
      ...Object.values(states),
      ...['MapFiles', 'ReduceBuckets'].flatMap((m) => Object.values(processorStates(m))),
    ].filter((s) => s.Type === 'Task');
    expect(tasks).toHaveLength(5);
    for (const task of tasks) expect(functionOfArn(String(task['Resource']))).toBe(fanOutFn);
  });

  it('retries every step on its own (not bad input) and fails the day, naming the cause, when one keeps failing', () => {
    const worker = processorStates('MapFiles')['MapFile'];
    for (const state of [states['Plan'], states['Merge'], states['OneFunction'], worker]) {
      const retries = ((state?.['Retry'] ?? []) as { ErrorEquals: string[]; MaxAttempts: number }[]).filter(
        (r) => !r.ErrorEquals.some((e) => e.startsWith('Lambda.')),
      );
      expect(retries).toEqual([
        { ErrorEquals: ['InvalidInputError'], MaxAttempts: 0 },
        expect.objectContaining({
          ErrorEquals: ['States.ALL'],
          MaxAttempts: 3,
          BackoffRate: 2,
          JitterStrategy: 'FULL',
        }),
      ]);
    }
    for (const name of ['Plan', 'OneFunction', 'MapFiles', 'ReduceBuckets', 'Merge']) {
      expect(states[name]?.['Catch'], name).toEqual([
        { ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'BatchDayFailed' },
      ]);
    }
    expect(states['BatchDayFailed']).toEqual({
      Type: 'Fail',
      Error: 'BatchDayFailed',
      CausePath: '$.error.Cause',
    });
  });

  it('is traced, logged, bounded in time, and its item reader may read only the batch state prefix', () => {
    dev.computeTemplate.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: { Level: 'ALL', IncludeExecutionData: false },
    });
    expect(machine?.definition.TimeoutSeconds).toBe(6 * 3600);
    const policies = JSON.stringify(dev.computeTemplate.findResources('AWS::IAM::Policy'));
    expect(policies).toContain('/state/batch/*');
  });

  it('gives the fan-out function exactly run-batch’s lake grants and its settings from the stage', () => {
    expect(s3Permissions(dev.computeTemplate, 'BatchFanOut')).toEqual(
      s3Permissions(dev.computeTemplate, 'RunBatch'),
    );
    const tuned = synthStage('dev', { batch: { fanOutThresholdBytes: 5e9, fanOutBuckets: 64 } });
    tuned.computeTemplate.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: { BATCH_FAN_OUT_THRESHOLD_BYTES: '5000000000', BATCH_FAN_OUT_BUCKETS: '64' },
      },
    });
    expect(() => synthStage('dev', { batch: { fanOutMaxConcurrency: 0 } })).toThrow(
      /batch.fanOutMaxConcurrency must be an integer in 1..10000/,
    );
  });

  it('lets run-batch start executions of this state machine, and do nothing else on Step Functions', () => {
    const runBatchFn = logicalId(dev.computeTemplate, 'AWS::Lambda::Function', 'RunBatchFunction');
    const machineId = logicalId(dev.computeTemplate, 'AWS::StepFunctions::StateMachine', 'BatchFanOutDay');
    const fn = template.Resources[runBatchFn] as unknown as {
      Properties: {
        Role: { 'Fn::GetAtt': [string, string] };
        Environment: { Variables: Record<string, unknown> };
      };
    };
    expect(fn.Properties.Environment.Variables['BATCH_FAN_OUT_STATE_MACHINE_ARN']).toEqual({
      Ref: machineId,
    });
    const roleId = fn.Properties.Role['Fn::GetAtt'][0];
    type Policy = { Properties: { Roles: { Ref: string }[]; PolicyDocument: { Statement: Statement[] } } };
    type Statement = { Action: string | string[]; Resource: unknown };
    const statements = Object.values(
      dev.computeTemplate.findResources('AWS::IAM::Policy') as Record<string, Policy>,
    )
      .filter((policy) => policy.Properties.Roles.some((role) => role.Ref === roleId))
      .flatMap((policy) => policy.Properties.PolicyDocument.Statement);
    const states = statements.filter((st) =>
      ([] as string[]).concat(st.Action).some((a) => a.startsWith('states:')),
    );
    expect(states).toEqual([
      expect.objectContaining({
        Action: 'states:StartExecution',
        Effect: 'Allow',
        Resource: { Ref: machineId },
      }),
    ]);
  });
});
