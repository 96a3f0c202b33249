import {
  DescribeExecutionCommand,
  ListExecutionsCommand,
  SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AslMachine, TaskFailure } from '../../local/state-machine.ts';
import { type LocalStepFunctions, startLocalStepFunctions } from '../../local/step-functions.ts';
import { executionEnded } from '../support/step-functions.ts';

/**
 * The local Step Functions API (local/step-functions.ts) through the real SDK client over loopback HTTP: executions
 * run asynchronously from the definition, StartExecution is idempotent for a running name and input and refuses a
 * used name otherwise, a failed execution says why.
 */

const FN = 'arn:aws:lambda:local:000000000000:function:Work';
const machine: AslMachine = {
  StartAt: 'Work',
  States: {
    Work: { Type: 'Task', Resource: FN, ResultPath: '$.result', Next: 'Done?' },
    'Done?': {
      Type: 'Choice',
      Choices: [{ Variable: '$.result.ok', BooleanEquals: true, Next: 'Done' }],
      Default: 'Failed',
    },
    Done: { Type: 'Succeed' },
    Failed: { Type: 'Fail', Error: 'NotOk', Cause: 'the work said no' },
  },
};

let server: LocalStepFunctions;
let client: SFNClient;
let arn: string;
/** Work waits for this before it answers, so a test can hold an execution RUNNING. */
let hold: Promise<void> = Promise.resolve();
const calls: unknown[] = [];
const printed: string[] = [];

beforeAll(async () => {
  server = await startLocalStepFunctions({
    machines: [{ logicalId: 'WorkMachine', definition: machine }],
    host: {
      async invoke(functionId, payload) {
        expect(functionId).toBe('Work');
        calls.push(payload);
        await hold;
        const p = payload as { mode?: string };
        if (p.mode === 'crash') throw new TaskFailure('WorkerCrashed', 'the worker fell over');
        return { ok: p.mode !== 'no' };
      },
      getObject: async () => '[]',
      sleep: async () => {},
    },
    onExecution: (e) => printed.push(`${e.name} ${e.status}`),
  });
  arn = server.stateMachineArns['WorkMachine'] ?? '';
  client = new SFNClient({
    endpoint: server.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
});

afterAll(async () => {
  client.destroy();
  await server.close();
});

/** DescribeExecution until it is no longer RUNNING (at most 10 s). */
const ended = (executionArn: string) =>
  executionEnded(client, executionArn, { timeoutMs: 10_000, pollMs: 20 });

async function refusal(send: Promise<unknown>): Promise<string> {
  return send.then(
    () => 'accepted',
    (error: Error) => error.name,
  );
}

describe('the local Step Functions API', () => {
  it('starts an execution asynchronously and describes it until it succeeds, with its output', async () => {
    // Arrange: the work waits, so StartExecution must answer before the execution ends.
    let release = () => {};
    hold = new Promise<void>((resolve) => {
      release = resolve;
    });

    // Act
    const started = await client.send(
      new StartExecutionCommand({
        stateMachineArn: arn,
        name: 'first',
        input: JSON.stringify({ day: 'd1' }),
      }),
    );
    const running = await client.send(new DescribeExecutionCommand({ executionArn: started.executionArn }));
    release();
    const done = await ended(started.executionArn ?? '');

    // Assess
    expect(started.executionArn).toBe('arn:aws:states:us-east-1:123456789012:execution:WorkMachine:first');
    expect(started.startDate).toBeInstanceOf(Date);
    expect(running.status).toBe('RUNNING');
    expect(done).toMatchObject({ status: 'SUCCEEDED', name: 'first', stateMachineArn: arn });
    expect(JSON.parse(done.output ?? '')).toEqual({ day: 'd1', result: { ok: true } });
    expect(done.stopDate).toBeInstanceOf(Date);
    expect(printed).toEqual(expect.arrayContaining(['first RUNNING', 'first SUCCEEDED']));
  });

  it('returns the running execution for the same name and input, and refuses a used name otherwise', async () => {
    let release = () => {};
    hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    const input = JSON.stringify({ day: 'd2' });
    const before = calls.length;

    const first = await client.send(
      new StartExecutionCommand({ stateMachineArn: arn, name: 'again', input }),
    );
    const second = await client.send(
      new StartExecutionCommand({ stateMachineArn: arn, name: 'again', input }),
    );
    const otherInput = await refusal(
      client.send(new StartExecutionCommand({ stateMachineArn: arn, name: 'again', input: '{"day":"d3"}' })),
    );
    release();
    await ended(first.executionArn ?? '');
    const afterEnd = await refusal(
      client.send(new StartExecutionCommand({ stateMachineArn: arn, name: 'again', input })),
    );

    expect(second).toMatchObject({ executionArn: first.executionArn, startDate: first.startDate });
    expect(calls.length - before).toBe(1);
    expect(otherInput).toBe('ExecutionAlreadyExists');
    expect(afterEnd).toBe('ExecutionAlreadyExists');
    const listed = await client.send(new ListExecutionsCommand({ stateMachineArn: arn }));
    expect(listed.executions?.filter((e) => e.name === 'again')).toHaveLength(1);
  });

  it('a failed execution is FAILED with its error and cause: a Fail state, or a task that keeps failing', async () => {
    hold = Promise.resolve();
    const said = await client.send(
      new StartExecutionCommand({ stateMachineArn: arn, name: 'said-no', input: '{"mode":"no"}' }),
    );
    const crashed = await client.send(
      new StartExecutionCommand({ stateMachineArn: arn, name: 'crashed', input: '{"mode":"crash"}' }),
    );

    expect(await ended(said.executionArn ?? '')).toMatchObject({
      status: 'FAILED',
      error: 'NotOk',
      cause: 'the work said no',
    });
    expect(await ended(crashed.executionArn ?? '')).toMatchObject({
      status: 'FAILED',
      error: 'WorkerCrashed',
      cause: 'the worker fell over',
    });
    const failed = await client.send(
      new ListExecutionsCommand({ stateMachineArn: arn, statusFilter: 'FAILED' }),
    );
    expect(failed.executions?.map((e) => e.name).sort()).toEqual(['crashed', 'said-no']);
  });

  it('refuses what AWS refuses, by the error names the SDK knows', async () => {
    const missing = `${arn}-missing`;
    expect(await refusal(client.send(new StartExecutionCommand({ stateMachineArn: missing })))).toBe(
      'StateMachineDoesNotExist',
    );
    expect(
      await refusal(
        client.send(new StartExecutionCommand({ stateMachineArn: arn, name: 'no spaces allowed' })),
      ),
    ).toBe('InvalidName');
    expect(
      await refusal(
        client.send(new StartExecutionCommand({ stateMachineArn: arn, name: 'bad', input: '{' })),
      ),
    ).toBe('InvalidExecutionInput');
    expect(
      await refusal(
        client.send(
          new DescribeExecutionCommand({ executionArn: `${arn.replace('stateMachine', 'execution')}:nope` }),
        ),
      ),
    ).toBe('ExecutionDoesNotExist');
  });
});
