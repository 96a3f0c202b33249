import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { stateMachineArn as localStateMachineArn } from './local-resources.ts';
import { type AslMachine, runStateMachine, type StateMachineHost } from './state-machine.ts';

/**
 * A minimal Step Functions API on loopback (the AWS JSON 1.0 protocol: `POST /` with
 * `X-Amz-Target: AWSStepFunctions.<Operation>`) for the template's state machines: StartExecution,
 * DescribeExecution, ListExecutions. An execution runs asynchronously, as in AWS, by `runStateMachine`
 * (local/state-machine.ts) from the template's definition, invoking the runtime's functions. STANDARD semantics:
 * StartExecution with the name and input of a running execution returns that execution; a name already used by
 * an ended execution, or with another input, is `ExecutionAlreadyExists`. Executions live in memory: a restart
 * forgets them (a fanned-out day's parts stay in the lake, so a new execution resumes).
 */

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED';

export interface LocalExecution {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  status: ExecutionStatus;
  input: string;
  startDate: Date;
  stopDate?: Date;
  output?: string;
  error?: string;
  cause?: string;
}

export interface LocalStepFunctionsOptions {
  machines: readonly { logicalId: string; definition: AslMachine }[];
  host: StateMachineHost;
  port?: number;
  /** An execution started or ended (the runtime prints it). */
  onExecution?: (execution: LocalExecution) => void;
}

export interface LocalStepFunctions {
  endpoint: string;
  port: number;
  /** Every state machine's local ARN, by logical id. */
  stateMachineArns: Record<string, string>;
  executions(): LocalExecution[];
  /** Resolves when no execution is running. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** An error as the JSON protocol returns it: the SDK reads `__type` (and `x-amzn-errortype`) as the error name. */
class ApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const NAME = /^[A-Za-z0-9_-]{1,80}$/;
const epochSeconds = (date: Date) => date.getTime() / 1000;

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startLocalStepFunctions(
  options: LocalStepFunctionsOptions,
): Promise<LocalStepFunctions> {
  const machines = new Map(options.machines.map((m) => [localStateMachineArn(m.logicalId), m.definition]));
  const executions = new Map<string, LocalExecution>();
  const running = new Set<Promise<void>>();
  let closed = false;

  const summary = (e: LocalExecution) => ({
    executionArn: e.executionArn,
    stateMachineArn: e.stateMachineArn,
    name: e.name,
    status: e.status,
    startDate: epochSeconds(e.startDate),
    ...(e.stopDate ? { stopDate: epochSeconds(e.stopDate) } : {}),
  });

  const run = (execution: LocalExecution, machine: AslMachine) => {
    const done = runStateMachine(machine, JSON.parse(execution.input), options.host)
      .then(
        (result) => {
          if (result.status === 'SUCCEEDED') {
            execution.status = 'SUCCEEDED';
            execution.output = JSON.stringify(result.output ?? null);
          } else {
            execution.status = 'FAILED';
            execution.error = result.error;
            execution.cause = result.cause;
          }
        },
        (error: Error) => {
          // Not a state's failure: the definition cannot run here, or the runtime is stopping.
          execution.status = closed ? 'ABORTED' : 'FAILED';
          execution.error = closed ? 'States.Aborted' : 'States.Runtime';
          execution.cause = closed ? `the local runtime stopped: ${error.message}` : error.message;
        },
      )
      .finally(() => {
        execution.stopDate = new Date();
        running.delete(done);
        options.onExecution?.(execution);
      });
    running.add(done);
  };

  const operations: Record<string, (body: Record<string, unknown>) => unknown> = {
    StartExecution(body) {
      const stateMachineArn = String(body['stateMachineArn'] ?? '');
      const machine = machines.get(stateMachineArn);
      if (!machine)
        throw new ApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`);
      const name = body['name'] === undefined ? randomUUID() : String(body['name']);
      if (!NAME.test(name)) throw new ApiError('InvalidName', `Invalid Name: '${name}'`);
      const input = body['input'] === undefined ? '{}' : String(body['input']);
      try {
        JSON.parse(input);
      } catch {
        throw new ApiError('InvalidExecutionInput', 'Invalid State Machine Execution Input: not JSON');
      }
      const executionArn = `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
      const existing = executions.get(executionArn);
      if (existing) {
        if (existing.status === 'RUNNING' && existing.input === input) {
          return { executionArn, startDate: epochSeconds(existing.startDate) };
        }
        throw new ApiError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
      }
      if (closed) throw new ApiError('ServiceUnavailable', 'the local runtime is stopping', 503);
      const execution: LocalExecution = {
        executionArn,
        stateMachineArn,
        name,
        status: 'RUNNING',
        input,
        startDate: new Date(),
      };
      executions.set(executionArn, execution);
      options.onExecution?.(execution);
      run(execution, machine);
      return { executionArn, startDate: epochSeconds(execution.startDate) };
    },
    DescribeExecution(body) {
      const execution = executions.get(String(body['executionArn'] ?? ''));
      if (!execution) {
        throw new ApiError(
          'ExecutionDoesNotExist',
          `Execution Does Not Exist: '${String(body['executionArn'])}'`,
        );
      }
      return {
        ...summary(execution),
        input: execution.input,
        ...(execution.output !== undefined ? { output: execution.output } : {}),
        ...(execution.error !== undefined ? { error: execution.error } : {}),
        ...(execution.cause !== undefined ? { cause: execution.cause } : {}),
      };
    },
    ListExecutions(body) {
      const stateMachineArn = String(body['stateMachineArn'] ?? '');
      if (!machines.has(stateMachineArn)) {
        throw new ApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${stateMachineArn}'`);
      }
      const filter = body['statusFilter'];
      const max = Number(body['maxResults'] ?? 0);
      const list = [...executions.values()]
        .filter((e) => e.stateMachineArn === stateMachineArn && (filter === undefined || e.status === filter))
        .sort((a, b) => b.startDate.getTime() - a.startDate.getTime());
      return { executions: (max > 0 ? list.slice(0, max) : list).map(summary) };
    },
  };

  const server = http.createServer((req, res) => {
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.0', ...headers });
      res.end(JSON.stringify(body));
    };
    readBody(req)
      .then((text) => {
        const target = String(req.headers['x-amz-target'] ?? '');
        const operation = target.startsWith('AWSStepFunctions.')
          ? operations[target.slice('AWSStepFunctions.'.length)]
          : undefined;
        if (req.method !== 'POST' || !operation) {
          throw new ApiError(
            'UnknownOperationException',
            `${target || 'no X-Amz-Target'} is not emulated locally`,
          );
        }
        reply(200, operation(text.trim() === '' ? {} : (JSON.parse(text) as Record<string, unknown>)));
      })
      .catch((error: unknown) => {
        const e =
          error instanceof ApiError
            ? error
            : new ApiError(
                error instanceof SyntaxError ? 'SerializationException' : 'InternalFailure',
                String(error),
                error instanceof SyntaxError ? 400 : 500,
              );
        reply(e.status, { __type: e.type, message: e.message }, { 'x-amzn-errortype': e.type });
      });
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    stateMachineArns: Object.fromEntries(
      options.machines.map((m) => [m.logicalId, localStateMachineArn(m.logicalId)]),
    ),
    executions: () => [...executions.values()],
    async idle() {
      while (running.size > 0) await Promise.allSettled([...running]);
    },
    async close() {
      closed = true;
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
