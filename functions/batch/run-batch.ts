import pLimit from 'p-limit';
import { readPublished } from '../pipeline/batch-published.ts';
import { addDays, dayOf, daysBetween, parseDay } from '../pipeline/dates.ts';
import { shortHash } from '../pipeline/ids.ts';
import { revenueText } from '../pipeline/money.ts';
import type { CoreDeps } from '../pipeline/ports.ts';
import type { ValidationPolicy } from '../pipeline/validation-policy.ts';
import { planFanOut, runFanOutInProcess } from './fan-out.ts';
import { type DayInputs, dayInputs, landingDays } from './landing-files.ts';
import type { GateThresholds } from './quality-gates.ts';
import { type BatchRunReport, batchDayState, runBatchDay } from './run-batch-day.ts';

export interface DayOutcome {
  day: string;
  /**
   * `handed-over`: the day is above the fan-out threshold and now runs on the fan-out state machine, which
   * publishes it (or fails it) on its own; neither published nor failed by this run.
   */
  status: 'published' | 'skipped' | 'failed' | 'handed-over';
  detail: string;
  report?: BatchRunReport;
  /** The state machine execution a handed-over day runs in. */
  executionArn?: string;
}

/** What the fan-out state machine is started with (lib/constructs/batch-fan-out.ts). */
export interface FanOutExecutionInput {
  day: string;
  dataset: string;
}

/**
 * Starts an execution of the fan-out state machine (`StartExecution`). A STANDARD state machine answers a name
 * it already runs with the same input by returning that execution, and a name whose execution has ended (or
 * whose input differs) with `ExecutionAlreadyExists`: `alreadyExists`.
 */
export type StartFanOutExecution = (request: {
  name: string;
  input: FanOutExecutionInput;
}) => Promise<{ executionArn: string; startDate?: Date; alreadyExists?: boolean }>;

/** Where a day whose landing exports reach `thresholdBytes` runs. */
export interface FanOutRouting {
  thresholdBytes: number;
  /** Key buckets of a fan-out run in this process (the state machine's function has its own setting). */
  buckets?: number;
  /**
   * Hands the day over to the fan-out state machine. Absent (the CLI, a lake without the state machine): the
   * same map, reduce and merge steps run in this process, one at a time (`workers`), so the peak memory is one
   * worker's or the merge's instead of the whole day's.
   */
  startExecution?: StartFanOutExecution;
  workers?: number;
}

export interface BatchRangeInput {
  days: string[];
  /** Days processed at once (bounded: each day holds its data in DuckDB). */
  concurrency?: number;
  /** Re-run days whose inputs did not change, and let a row-count spike through. */
  force?: boolean;
  thresholds?: Partial<Omit<GateThresholds, 'force'>>;
  /** The declared dataset (default orders). */
  dataset?: string;
  /** Accepted currencies and clock skew (default: every ISO 4217 code, 300 s). */
  policy?: ValidationPolicy;
  onProgress?: (progress: { done: number; total: number; outcome: DayOutcome }) => void;
  /** Days from a size on run on the fan-out (state machine or in process); absent: every day in one function. */
  fanOut?: FanOutRouting;
}

export interface BatchRangeResult {
  outcomes: DayOutcome[];
  published: number;
  skipped: number;
  failed: number;
  /** Days handed over to the fan-out state machine (they publish when their execution succeeds). */
  handedOver: number;
}

/**
 * The execution name of a day's fan-out: the same dataset, day and inputs (export files and logic: the day's
 * version) give the same name, so a retried or repeated run does not start a second execution for the same
 * inputs. At most 80 characters of `[A-Za-z0-9_-]`, as Step Functions requires.
 */
export function fanOutExecutionName(datasetName: string, day: string, version: string): string {
  return `${datasetName.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 40)}-${day}-${shortHash(datasetName, day, version)}`;
}

const megabytes = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(bytes < 1024 ** 2 ? 2 : 0)} MB`;

/** A run in which some days failed; the message lists each day and why. */
export class BatchRunFailedError extends Error {
  constructor(readonly result: BatchRangeResult) {
    const failures = result.outcomes.filter((o) => o.status === 'failed');
    super(`${failures.length} day(s) failed: ${failures.map((o) => o.detail).join(' | ')}`);
    this.name = 'BatchRunFailedError';
  }
}

/**
 * Runs a set of days with bounded parallelism. Idempotent and resumable: a day whose exports and logic are
 * unchanged since its last successful run is skipped (unless `force`), so re-running a crashed backfill
 * continues where it stopped. One failing day never stops the others.
 */
export async function runBatchRange(input: BatchRangeInput, deps: CoreDeps): Promise<BatchRangeResult> {
  const limit = pLimit(Math.max(1, input.concurrency ?? 2));
  const force = input.force ?? false;
  const datasetName = input.dataset ?? 'orders';
  const { index } = await readPublished(deps.store, datasetName);
  let done = 0;
  const runDay = async (day: string): Promise<DayOutcome> => {
    try {
      // The day's inputs are listed when they decide something: the skip, or where a day runs.
      let inputs: DayInputs | undefined;
      if (!force) {
        const [found, state] = await Promise.all([
          dayInputs(deps.store, day, datasetName),
          batchDayState(deps, day, datasetName),
        ]);
        inputs = found;
        if (state?.version === found.version && index.days[day]?.version === found.version) {
          return { day, status: 'skipped', detail: `${day}: unchanged since run ${state.runId}` };
        }
      }
      const thresholds = { ...input.thresholds, force };
      const policy = input.policy ? { policy: input.policy } : {};
      const { fanOut } = input;
      if (fanOut) {
        inputs ??= await dayInputs(deps.store, day, datasetName);
        const bytes = inputs.files.reduce((n, f) => n + f.size, 0);
        if (inputs.files.length > 0 && bytes >= fanOut.thresholdBytes) {
          const size = `${inputs.files.length} files, ${megabytes(bytes)} ≥ the fan-out threshold ${megabytes(fanOut.thresholdBytes)}`;
          if (fanOut.startExecution) {
            return await handOver(day, inputs.version, size, fanOut.startExecution);
          }
          const plan = await planFanOut(
            {
              day,
              dataset: datasetName,
              thresholdBytes: fanOut.thresholdBytes,
              ...(fanOut.buckets ? { buckets: fanOut.buckets } : {}),
            },
            deps,
          );
          if (plan.mode === 'fan-out') {
            const report = await runFanOutInProcess(plan, deps, {
              workers: fanOut.workers ?? 1,
              thresholds,
              ...policy,
            });
            return published(
              day,
              report,
              ` (fan-out in this process: ${size}, ${plan.job?.buckets} key buckets)`,
            );
          }
        }
      }
      const report = await runBatchDay({ day, dataset: datasetName, thresholds, ...policy }, deps);
      return published(day, report);
    } catch (error) {
      return { day, status: 'failed', detail: (error as Error).message };
    }
  };
  const published = (day: string, report: BatchRunReport, how = ''): DayOutcome => ({
    day,
    status: 'published',
    detail: `${day}: ${report.counts.orders} ${datasetName}${Object.keys(report.revenue_by_currency).length > 0 ? `, revenue ${revenueText(report)}` : ''}, ${report.counts.quarantined} quarantined${how}`,
    report,
  });
  /**
   * Starts the day's execution, named after its inputs. An execution of that name that has ended is not started
   * again (Step Functions refuses the name): if it published these inputs the day is done, else it failed and
   * the day fails here too, pointing at it, rather than being reported handed over forever.
   */
  const handOver = async (
    day: string,
    version: string,
    size: string,
    start: StartFanOutExecution,
  ): Promise<DayOutcome> => {
    const name = fanOutExecutionName(datasetName, day, version);
    const requested = deps.clock();
    const started = await start({ name, input: { day, dataset: datasetName } });
    const { executionArn } = started;
    if (started.alreadyExists) {
      // Read again: the execution may have published after this run read the index.
      const now = (await readPublished(deps.store, datasetName)).index;
      if (now.days[day]?.version === version) {
        return {
          day,
          status: 'skipped',
          detail: `${day}: already published from these inputs by fan-out execution ${executionArn}`,
          executionArn,
        };
      }
      return {
        day,
        status: 'failed',
        detail:
          `${day}: fan-out execution ${executionArn} for these inputs ended without publishing them (its ` +
          'history says why); new exports start a new execution, or start this one again by hand ' +
          '(aws stepfunctions start-execution, another --name)',
        executionArn,
      };
    }
    const running =
      started.startDate && requested.getTime() - started.startDate.getTime() > 5_000
        ? `already running since ${started.startDate.toISOString()}`
        : 'started';
    deps.log.info('batch day handed over to the fan-out state machine', {
      day,
      dataset: datasetName,
      version,
      executionArn,
      execution: running,
    });
    return {
      day,
      status: 'handed-over',
      detail: `${day}: ${size}: handed over to the fan-out state machine, execution ${executionArn} (${running}; it publishes the day)`,
      executionArn,
    };
  };
  const outcomes = await Promise.all(
    input.days.map((day) =>
      limit(async () => {
        const outcome = await runDay(day);
        done += 1;
        input.onProgress?.({ done, total: input.days.length, outcome });
        return outcome;
      }),
    ),
  );
  const count = (status: DayOutcome['status']) => outcomes.filter((o) => o.status === status).length;
  return {
    outcomes,
    published: count('published'),
    skipped: count('skipped'),
    failed: count('failed'),
    handedOver: count('handed-over'),
  };
}

/** Days from `startDate` to `endDate` inclusive (validated), for a backfill. */
export function backfillDays(startDate: string, endDate: string): string[] {
  return daysBetween(startDate, endDate);
}

/**
 * The scheduled (incremental) run: "yesterday" relative to the event time, plus every day within the
 * look-back whose landing exports changed since its last successful run.
 */
export async function scheduledDays(
  eventTime: Date,
  lookbackDays: number,
  deps: CoreDeps,
  datasetName = 'orders',
): Promise<string[]> {
  // The last day that has ended in the reporting zone (the schedule is UTC; its local day may still be running).
  const yesterday = addDays(dayOf(eventTime, deps.timeZone), -1);
  const oldest = addDays(yesterday, -Math.max(0, lookbackDays));
  const days = new Set([yesterday]);
  for (const day of (await landingDays(deps.store, datasetName)).keys()) {
    if (day >= oldest && day <= yesterday) days.add(parseDay(day));
  }
  return [...days].sort();
}
