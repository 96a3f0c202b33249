import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import type { CfnTemplate } from './template-plan.ts';

/**
 * Runs a Step Functions state machine of the synthesized template locally, from its definition (Amazon States
 * Language, JSONPath): the states the Twinflow definitions use — Task (a Lambda function), Choice, Map (inline or
 * distributed, with `ItemReader` from S3, `ItemsPath`, `ItemSelector`, `MaxConcurrency`), Pass, Succeed, Fail — with
 * `Parameters`, `ResultPath`, `Retry` (interval, backoff, max delay) and `Catch`. A field this emulation does not
 * know fails the run, naming the state and the field, rather than being ignored.
 */

/** A Lambda function ARN in a resolved local definition: the function's logical id is its name. */
const LOCAL_ARN_PREFIX = 'arn:aws:lambda:local:000000000000:function:';

export interface StateMachinePlan {
  logicalId: string;
  definition: AslMachine;
}

export interface AslMachine {
  StartAt: string;
  States: Record<string, AslState>;
  TimeoutSeconds?: number;
  Comment?: string;
}

export type AslState = Record<string, unknown> & { Type: string };

/** What the state machine needs from the runtime: functions to invoke and the objects an ItemReader reads. */
export interface StateMachineHost {
  /** Invokes the function with this logical id; resolves its result or rejects with a `TaskFailure`. */
  invoke(functionLogicalId: string, payload: unknown): Promise<unknown>;
  getObject(bucket: string, key: string): Promise<string>;
  /** Waits between retries (tests pass a short one). */
  sleep?(ms: number): Promise<void>;
}

/** A failed state: `error` is what `ErrorEquals` matches (a function's error name), `cause` its message. */
export class TaskFailure extends Error {
  constructor(
    readonly error: string,
    override readonly cause: string,
  ) {
    super(`${error}: ${cause}`);
    this.name = 'TaskFailure';
  }
}

export type ExecutionResult =
  | { status: 'SUCCEEDED'; output: unknown; executionId: string }
  | { status: 'FAILED'; error: string; cause: string; executionId: string };

/** The template's state machines, their definitions resolved (functions by logical id, partition `aws`). */
export function stateMachinesOf(template: CfnTemplate): StateMachinePlan[] {
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::StepFunctions::StateMachine')
    .map(([logicalId, r]) => ({
      logicalId,
      definition: JSON.parse(resolveString(r.Properties?.['DefinitionString'], logicalId)) as AslMachine,
    }));
}

/** The logical id of the function a resolved `Resource` names, if it names one. */
export function functionOfArn(arn: string): string | undefined {
  return arn.startsWith(LOCAL_ARN_PREFIX) ? arn.slice(LOCAL_ARN_PREFIX.length).split(':')[0] : undefined;
}

function resolveString(value: unknown, where: string): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const v = value as Record<string, unknown>;
    if (Array.isArray(v['Fn::Join'])) {
      const [separator, parts] = v['Fn::Join'] as [string, unknown[]];
      return parts.map((p) => resolveString(p, where)).join(separator);
    }
    if (Array.isArray(v['Fn::GetAtt'])) {
      const [id, attribute] = v['Fn::GetAtt'] as [string, string];
      if (attribute === 'Arn') return `${LOCAL_ARN_PREFIX}${id}`;
    }
    if (typeof v['Ref'] === 'string') {
      const ref = v['Ref'];
      if (ref === 'AWS::Partition') return 'aws';
      if (ref === 'AWS::Region') return 'local';
      if (ref === 'AWS::AccountId') return '000000000000';
      if (ref === 'AWS::URLSuffix') return 'amazonaws.com';
      return ref;
    }
  }
  throw new Error(`state machine ${where}: cannot resolve ${JSON.stringify(value)} in its definition`);
}

const KNOWN_FIELDS: Record<string, readonly string[]> = {
  Task: [
    'Resource',
    'Parameters',
    'ResultPath',
    'ResultSelector',
    'InputPath',
    'OutputPath',
    'Retry',
    'Catch',
  ],
  Choice: ['Choices', 'Default', 'InputPath', 'OutputPath'],
  Map: [
    'ItemReader',
    'ItemsPath',
    'ItemSelector',
    'ItemProcessor',
    'Iterator',
    'MaxConcurrency',
    'ResultPath',
    'InputPath',
    'OutputPath',
    'Retry',
    'Catch',
    'Label',
  ],
  Pass: ['Result', 'ResultPath', 'Parameters', 'InputPath', 'OutputPath'],
  Succeed: ['InputPath', 'OutputPath'],
  Fail: ['Error', 'Cause', 'ErrorPath', 'CausePath'],
};
const COMMON_FIELDS = ['Type', 'Next', 'End', 'Comment'];

function checkFields(name: string, state: AslState): void {
  const known = KNOWN_FIELDS[state.Type];
  if (!known) throw new Error(`state "${name}": type ${state.Type} is not emulated locally`);
  for (const field of Object.keys(state)) {
    if (!known.includes(field) && !COMMON_FIELDS.includes(field)) {
      throw new Error(`state "${name}" (${state.Type}): field ${field} is not emulated locally`);
    }
  }
}

/** `$.a.b`, `$`, `$$.Map.Item.Value`: the value at a reference path. */
function readPath(path: string, input: unknown, context: Record<string, unknown>): unknown {
  const [root, rest] = path.startsWith('$$') ? [context, path.slice(2)] : [input, path.slice(1)];
  if (rest === '') return root;
  if (!rest.startsWith('.')) throw new Error(`path ${path} is not a simple reference path ($.a.b)`);
  let value: unknown = root;
  for (const key of rest.slice(1).split('.')) {
    if (value === null || typeof value !== 'object' || !(key in value)) {
      throw new TaskFailure('States.Runtime', `the path ${path} does not exist in the input`);
    }
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** A payload template: `"key.$": "<path>"` takes the value at the path, everything else is copied. */
function applyTemplate(template: unknown, input: unknown, context: Record<string, unknown>): unknown {
  if (Array.isArray(template)) return template.map((t) => applyTemplate(t, input, context));
  if (template === null || typeof template !== 'object') return template;
  return Object.fromEntries(
    Object.entries(template as Record<string, unknown>).map(([key, value]) =>
      key.endsWith('.$')
        ? [key.slice(0, -2), readPath(String(value), input, context)]
        : [key, applyTemplate(value, input, context)],
    ),
  );
}

/** The state's input with `result` at `ResultPath` (`$` replaces it, null discards the result). */
function placeResult(input: unknown, result: unknown, resultPath: unknown): unknown {
  if (resultPath === null) return input;
  if (resultPath === undefined || resultPath === '$') return result;
  const keys = String(resultPath)
    .replace(/^\$\.?/, '')
    .split('.');
  const copy = structuredClone((input ?? {}) as Record<string, unknown>);
  let at: Record<string, unknown> = copy;
  for (const key of keys.slice(0, -1)) {
    at[key] = at[key] && typeof at[key] === 'object' ? at[key] : {};
    at = at[key] as Record<string, unknown>;
  }
  at[keys.at(-1) as string] = result;
  return copy;
}

function matches(errorEquals: unknown, error: string): boolean {
  const names = Array.isArray(errorEquals) ? errorEquals.map(String) : [];
  return names.some(
    (n) => n === error || n === 'States.ALL' || (n === 'States.TaskFailed' && error !== 'States.Timeout'),
  );
}

interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: string;
}

function evaluateChoice(
  rule: Record<string, unknown>,
  input: unknown,
  ctx: Record<string, unknown>,
): boolean {
  if (Array.isArray(rule['And'])) return rule['And'].every((r) => evaluateChoice(r, input, ctx));
  if (Array.isArray(rule['Or'])) return rule['Or'].some((r) => evaluateChoice(r, input, ctx));
  if (rule['Not']) return !evaluateChoice(rule['Not'] as Record<string, unknown>, input, ctx);
  const variable = String(rule['Variable']);
  const present = () => {
    try {
      readPath(variable, input, ctx);
      return true;
    } catch {
      return false;
    }
  };
  if ('IsPresent' in rule) return present() === rule['IsPresent'];
  if (!present()) return false;
  const value = readPath(variable, input, ctx);
  if ('StringEquals' in rule) return value === rule['StringEquals'];
  if ('BooleanEquals' in rule) return value === rule['BooleanEquals'];
  if ('NumericEquals' in rule) return value === rule['NumericEquals'];
  if ('NumericGreaterThan' in rule) return Number(value) > Number(rule['NumericGreaterThan']);
  throw new Error(`choice rule ${JSON.stringify(rule)} is not emulated locally`);
}

/** Runs an execution of `machine` on `input` to its end. */
export async function runStateMachine(
  machine: AslMachine,
  input: unknown,
  host: StateMachineHost,
): Promise<ExecutionResult> {
  const executionId = randomUUID();
  let timer: NodeJS.Timeout | undefined;
  try {
    const run = runStates(machine, input, host, {});
    // The machine's own limit (the fan-out's 6 h), as AWS enforces it: the execution fails with States.Timeout. A
    // task still running is not stopped (neither is a Lambda invocation in AWS); its result is ignored.
    const timeout =
      machine.TimeoutSeconds === undefined
        ? undefined
        : new Promise<never>((_, reject) => {
            timer = setTimeout(
              () =>
                reject(
                  new TaskFailure(
                    'States.Timeout',
                    `the execution ran longer than the state machine's TimeoutSeconds (${machine.TimeoutSeconds} s)`,
                  ),
                ),
              (machine.TimeoutSeconds as number) * 1000,
            );
          });
    if (timeout) run.catch(() => {});
    const output = await (timeout ? Promise.race([run, timeout]) : run);
    return { status: 'SUCCEEDED', output, executionId };
  } catch (error) {
    if (error instanceof TaskFailure)
      return { status: 'FAILED', error: error.error, cause: error.cause, executionId };
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

async function runStates(
  machine: Pick<AslMachine, 'StartAt' | 'States'>,
  input: unknown,
  host: StateMachineHost,
  context: Record<string, unknown>,
): Promise<unknown> {
  for (const [name, state] of Object.entries(machine.States)) checkFields(name, state);
  let name: string | undefined = machine.StartAt;
  let value: unknown = input;
  while (name !== undefined) {
    const state: AslState | undefined = machine.States[name];
    if (!state) throw new Error(`the definition has no state "${name}"`);
    const effective: unknown =
      state['InputPath'] === undefined ? value : readPath(String(state['InputPath']), value, context);
    let next: string | undefined;
    let output: unknown;
    switch (state.Type) {
      case 'Succeed':
        return effective;
      case 'Fail': {
        const error = state['ErrorPath']
          ? readPath(String(state['ErrorPath']), effective, context)
          : state['Error'];
        const cause = state['CausePath']
          ? readPath(String(state['CausePath']), effective, context)
          : state['Cause'];
        throw new TaskFailure(String(error ?? 'States.Fail'), String(cause ?? ''));
      }
      case 'Choice': {
        const choices: (Record<string, unknown> & { Next: string })[] =
          (state['Choices'] as (Record<string, unknown> & { Next: string })[] | undefined) ?? [];
        const chosen: { Next: string } | undefined = choices.find((c: Record<string, unknown>) =>
          evaluateChoice(c, effective, context),
        );
        next = chosen?.Next ?? (state['Default'] as string | undefined);
        if (next === undefined)
          throw new TaskFailure('States.NoChoiceMatched', `no choice of "${name}" matched`);
        value = effective;
        name = next;
        continue;
      }
      case 'Pass': {
        const result =
          state['Result'] ??
          (state['Parameters'] ? applyTemplate(state['Parameters'], effective, context) : effective);
        output = placeResult(effective, result, state['ResultPath']);
        break;
      }
      case 'Task':
      case 'Map': {
        const attempt = (): Promise<unknown> =>
          state.Type === 'Task'
            ? runTask(name as string, state, effective, host, context)
            : runMap(state, effective, host, context);
        type Outcome = { ok: true; result: unknown } | { ok: false; error: TaskFailure };
        const caught: Outcome = await withRetries(state, attempt, host).then(
          (result): Outcome => ({ ok: true, result }),
          (error: unknown): Outcome => {
            if (!(error instanceof TaskFailure)) throw error;
            return { ok: false, error };
          },
        );
        if (caught.ok) {
          output = placeResult(effective, caught.result, state['ResultPath']);
          break;
        }
        const catcher: (Record<string, unknown> & { Next: string }) | undefined = (
          (state['Catch'] as (Record<string, unknown> & { Next: string })[]) ?? []
        ).find((c): boolean => matches(c['ErrorEquals'], caught.error.error));
        if (!catcher) throw caught.error;
        value = placeResult(
          effective,
          { Error: caught.error.error, Cause: caught.error.cause },
          catcher['ResultPath'],
        );
        name = catcher.Next;
        continue;
      }
      default:
        throw new Error(`state "${name}": type ${state.Type} is not emulated locally`);
    }
    value =
      state['OutputPath'] === undefined ? output : readPath(String(state['OutputPath']), output, context);
    if (state['End'] === true) return value;
    name = state['Next'] as string | undefined;
    if (name === undefined) throw new Error('a state has neither Next nor End');
  }
  return value;
}

async function withRetries<T>(
  state: AslState,
  attempt: () => Promise<T>,
  host: StateMachineHost,
): Promise<T> {
  const retriers = (state['Retry'] as Retrier[] | undefined) ?? [];
  const attemptsBy = new Map<Retrier, number>();
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof TaskFailure)) throw error;
      // The first retrier whose ErrorEquals matches decides, as in Step Functions.
      const retrier = retriers.find((r) => matches(r.ErrorEquals, error.error));
      if (!retrier) throw error;
      const done = attemptsBy.get(retrier) ?? 0;
      if (done >= (retrier.MaxAttempts ?? 3)) throw error;
      attemptsBy.set(retrier, done + 1);
      let delay = (retrier.IntervalSeconds ?? 1) * (retrier.BackoffRate ?? 2) ** done * 1000;
      if (retrier.MaxDelaySeconds !== undefined) delay = Math.min(delay, retrier.MaxDelaySeconds * 1000);
      if (retrier.JitterStrategy === 'FULL') delay = Math.random() * delay;
      await (host.sleep ?? ((ms: number) => new Promise((resolve) => setTimeout(resolve, ms))))(delay);
    }
  }
}

async function runTask(
  name: string,
  state: AslState,
  input: unknown,
  host: StateMachineHost,
  context: Record<string, unknown>,
): Promise<unknown> {
  const resource = String(state['Resource']);
  const parameters =
    state['Parameters'] === undefined ? input : applyTemplate(state['Parameters'], input, context);
  let functionId = functionOfArn(resource);
  let payload = parameters;
  let wrap = false;
  if (!functionId && resource === 'arn:aws:states:::lambda:invoke') {
    const p = parameters as { FunctionName?: string; Payload?: unknown };
    functionId = functionOfArn(String(p.FunctionName));
    payload = p.Payload;
    wrap = true;
  }
  if (!functionId) throw new Error(`state "${name}": resource ${resource} is not emulated locally`);
  const result = await host.invoke(functionId, payload);
  const shaped = wrap ? { Payload: result, StatusCode: 200 } : result;
  return state['ResultSelector'] ? applyTemplate(state['ResultSelector'], shaped, context) : shaped;
}

async function runMap(
  state: AslState,
  input: unknown,
  host: StateMachineHost,
  context: Record<string, unknown>,
): Promise<unknown[]> {
  let items: unknown;
  const reader = state['ItemReader'] as
    | { Resource?: string; ReaderConfig?: { InputType?: string }; Parameters?: unknown }
    | undefined;
  if (reader) {
    if (reader.Resource !== 'arn:aws:states:::s3:getObject' || reader.ReaderConfig?.InputType !== 'JSON') {
      throw new Error(
        `ItemReader ${JSON.stringify(reader)} is not emulated locally (only s3:getObject of a JSON array)`,
      );
    }
    const { Bucket, Key } = applyTemplate(reader.Parameters, input, context) as {
      Bucket: string;
      Key: string;
    };
    items = JSON.parse(await host.getObject(Bucket, Key));
  } else {
    items = readPath(String(state['ItemsPath'] ?? '$'), input, context);
  }
  if (!Array.isArray(items))
    throw new TaskFailure('States.Runtime', "the Map state's items are not an array");
  const processor = (state['ItemProcessor'] ?? state['Iterator']) as Pick<AslMachine, 'StartAt' | 'States'>;
  const concurrency = Number(state['MaxConcurrency'] ?? 0);
  const limit = pLimit(concurrency > 0 ? concurrency : Math.max(1, items.length));
  let failure: TaskFailure | undefined;
  const results = await Promise.all(
    items.map((value, index) =>
      limit(async () => {
        // A failed item stops the rest from starting (tolerated failures: none); running ones finish.
        if (failure) return undefined;
        const itemContext = { ...context, Map: { Item: { Index: index, Value: value } } };
        const itemInput = state['ItemSelector']
          ? applyTemplate(state['ItemSelector'], input, itemContext)
          : value;
        try {
          return await runStates(processor, itemInput, host, itemContext);
        } catch (error) {
          if (!(error instanceof TaskFailure)) throw error;
          failure ??= new TaskFailure(error.error, `item ${index} failed: ${error.cause}`);
          return undefined;
        }
      }),
    ),
  );
  if (failure) throw failure;
  return results;
}
