import pLimit from 'p-limit';
import { addDays, dayOf, daysBetween } from '../pipeline/dates.ts';
import { InvalidInputError } from '../pipeline/errors.ts';
import { lake } from '../pipeline/lake-layout.ts';
import { getJson, type ObjectStore } from '../pipeline/object-store.ts';
import type { ReconciliationRun } from './run-record.ts';

/** One run of the trend: enough to chart the deviation over time and list what happened. */
export interface TrendPoint {
  run_id: string;
  now: string;
  status: ReconciliationRun['status'];
  max_abs_deviation: ReconciliationRun['max_abs_deviation'];
  /** Per compared day: its totals' deviation after corrections. */
  days: {
    day: string;
    max_abs_deviation: string;
    deviation: ReconciliationRun['days'][number]['after']['totals']['deviation'];
  }[];
  corrections: number;
  alerts: number;
}

/** The body of `GET /reconciliation?days=N` and `twinflow reconcile trend --json`. */
export interface ReconciliationTrend {
  days: number;
  /** The model the runs compared. */
  model: string;
  since: string;
  runs: TrendPoint[];
  /** The newest run's full record (hours, products, explanations), or null when there is none. */
  latest: ReconciliationRun | null;
}

export const MAX_TREND_DAYS = 90;
const READ_CONCURRENCY = 16;

/** The model of a run record (records without one predate datasets and compared orders' sales_minute). */
export const runModel = (run: Pick<ReconciliationRun, 'model'>) => run.model ?? 'sales_minute';

/** The run records of one model (default sales_minute) of the last `days` days (up to `now`'s day), oldest first. */
export async function reconciliationTrend(
  store: ObjectStore,
  input: { days: number; now?: Date; timeZone?: string; model?: string },
): Promise<ReconciliationTrend> {
  const model = input.model ?? 'sales_minute';
  if (!Number.isInteger(input.days) || input.days < 1 || input.days > MAX_TREND_DAYS) {
    throw new InvalidInputError(
      `days must be a whole number 1..${MAX_TREND_DAYS}, got ${input.days}`,
      'days',
    );
  }
  const today = dayOf(input.now ?? new Date(), input.timeZone);
  const since = addDays(today, -(input.days - 1));
  const listed = await Promise.all(
    daysBetween(since, today).map((day) => store.list(lake.reconciliationRunPrefix(day))),
  );
  const keys = listed
    .flat()
    .map((info) => info.key)
    .filter((key) => key.endsWith('.json'))
    .sort((a, b) => (a.split('/').at(-1) ?? '').localeCompare(b.split('/').at(-1) ?? ''));
  const limit = pLimit(READ_CONCURRENCY);
  const runs = (
    await Promise.all(
      keys.map((key) => limit(async () => (await getJson<ReconciliationRun>(store, key))?.value)),
    )
  ).filter((run): run is ReconciliationRun => run !== undefined && runModel(run) === model);
  return {
    days: input.days,
    model,
    since,
    runs: runs.map((run) => ({
      run_id: run.run_id,
      now: run.now,
      status: run.status,
      max_abs_deviation: run.max_abs_deviation,
      days: run.days.map((d) => ({
        day: d.day,
        max_abs_deviation: d.after.max_abs_deviation,
        deviation: d.after.totals.deviation,
      })),
      corrections: run.corrections.length,
      alerts: run.alerts.length,
    })),
    latest: runs.at(-1) ?? null,
  };
}
