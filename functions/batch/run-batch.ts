import pLimit from 'p-limit';
import { readPublished } from '../pipeline/batch-published.ts';
import { addDays, dayOf, daysBetween, parseDay } from '../pipeline/dates.ts';
import { revenueText } from '../pipeline/money.ts';
import type { CoreDeps } from '../pipeline/ports.ts';
import type { ValidationPolicy } from '../pipeline/validation-policy.ts';
import { dayInputs, landingDays } from './landing-files.ts';
import type { GateThresholds } from './quality-gates.ts';
import { type BatchRunReport, batchDayState, runBatchDay } from './run-batch-day.ts';

export interface DayOutcome {
  day: string;
  status: 'published' | 'skipped' | 'failed';
  detail: string;
  report?: BatchRunReport;
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
}

export interface BatchRangeResult {
  outcomes: DayOutcome[];
  published: number;
  skipped: number;
  failed: number;
}

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
      if (!force) {
        const [{ version }, state] = await Promise.all([
          dayInputs(deps.store, day, datasetName),
          batchDayState(deps, day, datasetName),
        ]);
        if (state?.version === version && index.days[day]?.version === version) {
          return { day, status: 'skipped', detail: `${day}: unchanged since run ${state.runId}` };
        }
      }
      const report = await runBatchDay(
        {
          day,
          dataset: datasetName,
          thresholds: { ...input.thresholds, force },
          ...(input.policy ? { policy: input.policy } : {}),
        },
        deps,
      );
      return {
        day,
        status: 'published',
        detail: `${day}: ${report.counts.orders} ${datasetName}${Object.keys(report.revenue_by_currency).length > 0 ? `, revenue ${revenueText(report)}` : ''}, ${report.counts.quarantined} quarantined`,
        report,
      };
    } catch (error) {
      return { day, status: 'failed', detail: (error as Error).message };
    }
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
  return { outcomes, published: count('published'), skipped: count('skipped'), failed: count('failed') };
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
