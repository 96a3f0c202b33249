import { dayInputs } from '../batch/landing-files.ts';
import type { GateThresholds } from '../batch/quality-gates.ts';
import { runBatchRange } from '../batch/run-batch.ts';
import { type BatchRunReport, batchDayState } from '../batch/run-batch-day.ts';
import { type PublishedIndex, readPublished } from '../pipeline/batch-published.ts';
import { dataset } from '../pipeline/datasets.ts';
import { addDays, dayOf, daysBetween, hourWithin, UTC } from '../pipeline/dates.ts';
import { InvalidInputError } from '../pipeline/errors.ts';
import { runId as newRunId } from '../pipeline/ids.ts';
import { lake } from '../pipeline/lake-layout.ts';
import { getJson, putJson } from '../pipeline/object-store.ts';
import type { ValidationPolicy } from '../pipeline/validation-policy.ts';
import { servedModel } from '../serving/metric-model.ts';
import { deviationThreshold, reconcileLookbackDays } from '../settings/settings.ts';
import { buildAlert } from './alerts.ts';
import {
  addMeasures,
  type DayLayers,
  hasAny,
  isBelow,
  type Measures,
  type ReconcileTarget,
  readDayLayers,
  zero,
} from './day-layers.ts';
import { dayComparison, measuresJson, measuresText, type ScoredDay, scoreDay } from './deviation.ts';
import { absMicros, formatMicros, maxMicros, microsOf, microsToNumber } from './exact.ts';
import { explainDay } from './explain.ts';
import type { ReconcileDeps } from './ports.ts';
import type { Correction, DayRecord, ReconciliationRun } from './run-record.ts';
import { speedLayer } from './speed-layer.ts';

export interface ReconcileInput {
  /** Logical time of the run (EventBridge `event.time`, `--now`): the look-back ends on its day. */
  now: Date;
  /** The minute model to compare (default orders' sales_minute); its dataset's batch and stream are read. */
  model?: string;
  /** Days before `now`'s day to check too (default 3). */
  lookbackDays?: number;
  /** Alert above this absolute deviation, a fraction (default 0.1 = 10 %). */
  threshold?: number;
  /** Gate thresholds for the batch days reconciliation re-runs (the batch function's own settings). */
  batchThresholds?: Partial<Omit<GateThresholds, 'force'>>;
  /** The batch function's validation policy, for the days reconciliation re-runs (default: the default policy). */
  policy?: ValidationPolicy;
}

export interface ReconcileResult {
  record: ReconciliationRun;
  /** Where the record was stored. */
  key: string;
  /** Largest absolute deviation after corrections, as a fraction (the `deviationRatio` metric). */
  deviationRatio: number;
}

export const DEFAULT_LOOKBACK_DAYS = reconcileLookbackDays.default;
export const DEFAULT_THRESHOLD = deviationThreshold.default;

function checkInput(
  input: ReconcileInput,
): Required<Omit<ReconcileInput, 'batchThresholds' | 'policy' | 'model'>> & { target: ReconcileTarget } {
  if (Number.isNaN(input.now.getTime())) throw new InvalidInputError('now is not a valid time', 'now');
  const model = servedModel(input.model ?? 'sales_minute');
  const ds = dataset(model.dataset);
  if (ds.source !== 'stream+batch') {
    throw new InvalidInputError(
      `model "${model.name}": dataset "${ds.name}" is ${ds.source}-only; reconciliation compares batch with the stream`,
      'model',
    );
  }
  return {
    target: { dataset: ds, model },
    now: input.now,
    lookbackDays: reconcileLookbackDays.check(input.lookbackDays ?? DEFAULT_LOOKBACK_DAYS),
    threshold: deviationThreshold.check(input.threshold ?? DEFAULT_THRESHOLD),
  };
}

function hourTotals(layers: DayLayers, hour: string): Measures {
  return layers.cells
    .filter((cell) => cell.hour === hour)
    .reduce<Measures>((sum, cell) => addMeasures(sum, cell.realtime), zero());
}

/** Ended hours where the realtime view holds less than the stream archive: a consumer lost or skipped a write. */
export function realtimeGaps(
  layers: DayLayers,
  now: Date,
  timeZone: string = UTC,
): { hour: string; archive: Measures; realtime: Measures }[] {
  return [...layers.archiveHours]
    .filter(([hour]) => (hourWithin(layers.day, hour, timeZone)?.end ?? 0) <= now.getTime())
    .map(([hour, archive]) => ({ hour, archive, realtime: hourTotals(layers, hour) }))
    .filter(({ archive, realtime }) => isBelow(realtime, archive))
    .sort((a, b) => a.hour.localeCompare(b.hour));
}

/** The newest stored run report of a day's batch runs with this version, if any. */
async function latestRunOfVersion(
  deps: ReconcileDeps,
  day: string,
  version: string,
  datasetName: string,
): Promise<BatchRunReport | undefined> {
  const infos = await deps.store.list(lake.batchRunReportPrefix(day, datasetName));
  for (const info of infos.sort((a, b) => b.key.localeCompare(a.key))) {
    const report = (await getJson<BatchRunReport>(deps.store, info.key))?.value;
    if (report?.version === version) return report;
  }
  return undefined;
}

/** Correction (a): re-runs batch for ended days whose landing exports arrived or changed since their last run. */
async function rerunChangedBatchDays(
  datasetName: string,
  days: string[],
  index: PublishedIndex,
  input: ReconcileInput,
  deps: ReconcileDeps,
): Promise<Correction[]> {
  const today = dayOf(input.now, deps.timeZone);
  const corrections: Correction[] = [];
  const candidates: { day: string; reason: string; previous: string | null }[] = [];
  for (const day of days.filter((d) => d < today)) {
    const { files, version } = await dayInputs(deps.store, day, datasetName);
    if (files.length === 0) continue;
    const state = await batchDayState(deps, day, datasetName);
    const published = index.days[day];
    if (state?.version === version && published?.version === version) continue;
    const failedBefore = await latestRunOfVersion(deps, day, version, datasetName);
    const failedGates =
      failedBefore?.status === 'failed' && failedBefore.gates.some((g) => g.fatal && !g.passed);
    if (failedBefore && failedGates) {
      // The same inputs already failed a quality gate: re-running cannot help until the export changes.
      corrections.push({
        kind: 'batch_rerun',
        day,
        reason: 'landing export differs from the published batch view',
        status: 'skipped',
        detail: `these exports failed batch run ${failedBefore.runId}: ${failedBefore.error ?? 'see its report'}`,
        previous_version: published?.version ?? null,
        version,
      });
      continue;
    }
    candidates.push({
      day,
      reason: state
        ? `landing export changed since batch run ${state.runId}`
        : 'landing export arrived and no batch run has succeeded for it',
      previous: published?.version ?? null,
    });
  }
  if (candidates.length === 0) return corrections;
  const result = await runBatchRange(
    {
      dataset: datasetName,
      days: candidates.map((c) => c.day),
      force: false,
      thresholds: input.batchThresholds ?? {},
      ...(input.policy ? { policy: input.policy } : {}),
    },
    deps,
  );
  for (const candidate of candidates) {
    const outcome = result.outcomes.find((o) => o.day === candidate.day);
    corrections.push({
      kind: 'batch_rerun',
      day: candidate.day,
      reason: candidate.reason,
      status: outcome?.status ?? 'failed',
      detail: outcome?.detail ?? 'no outcome',
      previous_version: candidate.previous,
      version: outcome?.report?.version ?? null,
    });
  }
  return corrections;
}

/** Correction (b): recomputes realtime hours that hold less than the stream archive. */
async function fillRealtimeGaps(
  { dataset: ds, model }: ReconcileTarget,
  layers: DayLayers[],
  index: PublishedIndex,
  now: Date,
  deps: ReconcileDeps,
  timeZone: string,
): Promise<Correction[]> {
  const corrections: Correction[] = [];
  for (const day of layers) {
    const isPublished = index.days[day.day] !== undefined;
    const servedFrom = isPublished ? 'batch' : 'realtime';
    const servingNote = isPublished
      ? 'batch has published this day, so queries are answered from batch whatever the realtime view holds'
      : 'no batch yet: queries are answered from the realtime view';
    let recomputed: Promise<{ status: string; orders: number }> | undefined;
    for (const gap of realtimeGaps(day, now, timeZone)) {
      const reason = `realtime view has ${measuresText(model, measuresJson(model, gap.realtime))} where the stream archive has ${measuresText(model, measuresJson(model, gap.archive), false)}`;
      if (!deps.speed) {
        corrections.push({
          kind: 'realtime_recompute',
          day: day.day,
          hour: gap.hour,
          reason,
          status: 'unavailable',
          detail: `the speed layer's recompute is not wired in; ${servingNote}`,
          served_from: servedFrom,
        });
        continue;
      }
      try {
        // A dataset dedupes per day, so the repair recomputes the day once, whatever the number of short hours.
        recomputed ??= deps.speed.recomputeRealtimeDay(deps, day.day, ds.name);
        const outcome = await recomputed;
        const how =
          outcome.status === 'lost-race'
            ? 'a concurrent compaction of the day recomputed it from the stream archive'
            : `the day recomputed from the stream archive (${outcome.orders} ${ds.name})`;
        corrections.push({
          kind: 'realtime_recompute',
          day: day.day,
          hour: gap.hour,
          reason,
          status: 'applied',
          detail: `${how}; ${servingNote}`,
          served_from: servedFrom,
        });
      } catch (error) {
        deps.log.error('realtime recompute failed', {
          day: day.day,
          hour: gap.hour,
          error: (error as Error).message,
        });
        corrections.push({
          kind: 'realtime_recompute',
          day: day.day,
          hour: gap.hour,
          reason,
          status: 'failed',
          detail: `${(error as Error).message}; ${servingNote}`,
          served_from: servedFrom,
        });
      }
    }
    if (!isPublished || (day.realtimeHours.size === 0 && day.archiveFiles === 0)) continue;
    // Hours batch has but neither the archive nor the realtime view: nothing to recompute from.
    const batchHours = new Set(day.cells.filter((c) => hasAny(c.batch)).map((c) => c.hour));
    const batchOnly = [...batchHours]
      .filter((hour) => !day.archiveHours.has(hour) && !hasAny(hourTotals(day, hour)))
      .sort();
    if (batchOnly.length === 0) continue;
    corrections.push({
      kind: 'served_from_batch',
      day: day.day,
      hours: batchOnly,
      reason: `batch has ${ds.name} in these hours; the stream archive and the realtime view have none`,
      status: 'noted',
      detail: 'nothing to recompute from; queries are answered from batch for these hours',
      served_from: 'batch',
    });
  }
  return corrections;
}

/**
 * Reconciles batch and realtime over the look-back: compares every day both layers have data for (per day,
 * hour, product), corrects what it can (re-runs batch for changed exports, recomputes realtime gaps from the
 * archive), compares again, explains the deviation with counts, alerts above the threshold, and stores one
 * record for the run under `reconciliation/runs/`.
 */
export async function reconcile(input: ReconcileInput, given: ReconcileDeps): Promise<ReconcileResult> {
  const { now, lookbackDays, threshold, target } = checkInput(input);
  const { model } = target;
  const deps: ReconcileDeps = { ...given, speed: given.speed ?? speedLayer };
  const { store, log } = deps;
  const startedAt = deps.clock();
  const runId = newRunId(now);
  const timeZone = deps.timeZone ?? UTC;
  const today = dayOf(now, timeZone);
  const days = daysBetween(addDays(today, -lookbackDays), today);
  log.info('reconciliation started', { runId, model: model.name, now: now.toISOString(), days, threshold });

  const readAll = async (index: PublishedIndex) => {
    const layers: DayLayers[] = [];
    // One day at a time: each holds its events in DuckDB.
    for (const day of days) layers.push(await readDayLayers(store, target, day, index.days[day], timeZone));
    return layers;
  };
  const beforeIndex = (await readPublished(store, model.dataset)).index;
  const beforeLayers = await readAll(beforeIndex);

  const corrections = [
    ...(await rerunChangedBatchDays(model.dataset, days, beforeIndex, input, deps)),
    ...(await fillRealtimeGaps(target, beforeLayers, beforeIndex, now, deps, timeZone)),
  ];
  const changed = corrections.some((c) => c.status === 'published' || c.status === 'applied');
  const afterIndex = changed ? (await readPublished(store, model.dataset)).index : beforeIndex;
  const afterLayers = changed ? await readAll(afterIndex) : beforeLayers;

  let dlqMessages: number | 'unknown' = 'unknown';
  if (deps.dlq) {
    try {
      dlqMessages = await deps.dlq.approximateMessages();
    } catch (error) {
      log.warn('DLQ depth unavailable', { error: (error as Error).message });
    }
  }

  const thresholdMicros = microsOf(threshold);
  const dayRecords: DayRecord[] = [];
  const scored: { before: ScoredDay; after: ScoredDay; record: DayRecord }[] = [];
  const skipped: { day: string; reason: string }[] = [];
  for (const [i, day] of days.entries()) {
    const after = afterLayers[i] as DayLayers;
    const before = beforeLayers[i] as DayLayers;
    const published = afterIndex.days[day];
    if (!published) {
      skipped.push({ day, reason: 'batch has not published this day' });
      continue;
    }
    if (after.realtimeHours.size === 0 && after.archiveFiles === 0) {
      skipped.push({ day, reason: 'no realtime data for this day' });
      continue;
    }
    const scoredBefore = scoreDay(model, before.cells);
    const scoredAfter = scoreDay(model, after.cells);
    const record: DayRecord = {
      day,
      batch: { version: published.version, run_id: published.runId, published_at: published.publishedAt },
      realtime_hours: [...after.realtimeHours].sort(),
      archive_files: after.archiveFiles,
      before: dayComparison(scoredBefore),
      after: dayComparison(scoredAfter),
      explanation: await explainDay(
        {
          target,
          layers: after,
          gaps: realtimeGaps(before, now, timeZone),
          published,
          dlqMessages,
          scored: scoredAfter,
          timeZone,
        },
        deps,
      ),
    };
    dayRecords.push(record);
    scored.push({ before: scoredBefore, after: scoredAfter, record });
  }

  const alerts = [];
  for (const { after, record } of scored) {
    if (after.maxScore <= thresholdMicros) continue;
    const alert = buildAlert({
      model,
      runId,
      now,
      threshold: thresholdMicros,
      scored: after,
      record,
      corrections: corrections.filter((c) => c.day === record.day),
    });
    await deps.alerts.publish(alert);
    alerts.push(alert);
  }

  const maxBefore = maxMicros(scored.map((s) => s.before.maxScore));
  const maxAfter = maxMicros(scored.map((s) => s.after.maxScore));
  const run: ReconciliationRun = {
    run_id: runId,
    dataset: model.dataset,
    model: model.name,
    now: now.toISOString(),
    started_at: startedAt.toISOString(),
    finished_at: deps.clock().toISOString(),
    threshold: formatMicros(thresholdMicros),
    lookback_days: lookbackDays,
    status: alerts.length > 0 ? 'deviation' : 'ok',
    max_abs_deviation: { before: formatMicros(maxBefore), after: formatMicros(maxAfter) },
    days: dayRecords,
    skipped_days: skipped,
    dlq_messages: dlqMessages,
    corrections,
    alerts: alerts.map((a) => ({
      alert_id: a.alert_id,
      day: a.where.day,
      where: a.where,
      max_abs_deviation: a.how_much.max_abs_deviation,
      message: a.message,
    })),
  };
  const key = lake.reconciliationRun(today, runId);
  await putJson(store, key, run);
  log.info('reconciliation finished', {
    runId,
    model: model.name,
    key,
    daysCompared: dayRecords.length,
    maxAbsDeviation: run.max_abs_deviation,
    corrections: corrections.length,
    alerts: alerts.length,
  });
  return { record: run, key, deviationRatio: microsToNumber(absMicros(maxAfter)) };
}
