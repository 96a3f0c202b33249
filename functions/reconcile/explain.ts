import type { BatchRunReport } from '../batch/run-batch-day.ts';
import type { PublishedDay } from '../pipeline/batch-published.ts';
import { lake } from '../pipeline/lake-layout.ts';
import { getJson } from '../pipeline/object-store.ts';
import type { DayLayers, KeyPresence, Measures, ReconcileTarget } from './day-layers.ts';
import { measuresJson, measuresText, type ScoredDay } from './deviation.ts';
import type { HourStreamStats, ReconcileDeps } from './ports.ts';
import { streamQuarantineCounts } from './quarantine-counts.ts';
import type { DayExplanation, HourExplanation, OrderPresenceJson } from './run-record.ts';

export interface ExplainInput {
  target: ReconcileTarget;
  layers: DayLayers;
  /** Realtime gaps found before corrections. */
  gaps: { hour: string; archive: Measures; realtime: Measures }[];
  published: PublishedDay;
  dlqMessages: number | 'unknown';
  scored: ScoredDay;
  /** The reporting time zone the day is a day of. */
  timeZone: string;
}

const presenceJson = (p: KeyPresence): OrderPresenceJson => ({
  count: p.count,
  sample_ids: p.sampleIds,
  by_hour: p.byHour,
});

async function streamStatsOf(
  input: ExplainInput,
  deps: ReconcileDeps,
): Promise<Map<string, HourStreamStats> | undefined> {
  if (!deps.speed) return undefined;
  try {
    return await deps.speed.streamStats(deps.store, input.layers.day, input.target);
  } catch (error) {
    deps.log.warn('stream stats unavailable', { day: input.layers.day, error: (error as Error).message });
    return undefined;
  }
}

function topReasons(byReason: Record<string, number>): string {
  const top = Object.entries(byReason)
    .sort(([, a], [, b]) => b - a)
    .slice(0, 3);
  return top.length ? ` (${top.map(([reason, n]) => `${n}× ${reason}`).join(', ')})` : '';
}

function summaryOf(input: ExplainInput, e: Omit<DayExplanation, 'summary' | 'by_hour'>): string {
  const totals = input.scored.totals.row;
  const { dataset: ds, model } = input.target;
  const parts = [
    `realtime ${measuresText(model, totals.realtime)} vs batch ${measuresText(model, totals.batch, false)} (day total deviation up to ${totals.max_abs_deviation})`,
  ];
  const ids = (p: OrderPresenceJson) => (p.sample_ids.length ? ` (e.g. ${p.sample_ids.join(', ')})` : '');
  if (e.missing_from_stream.count > 0) {
    parts.push(
      `${e.missing_from_stream.count} ${ds.name} in batch are missing from the stream archive${ids(e.missing_from_stream)}`,
    );
  }
  if (e.missing_from_batch.count > 0) {
    parts.push(
      `${e.missing_from_batch.count} ${ds.name} in the stream archive are missing from batch${ids(e.missing_from_batch)}`,
    );
  }
  if (e.realtime_gaps.length > 0) {
    parts.push(
      `realtime view short of the archive in hour(s) ${e.realtime_gaps.map((g) => g.hour).join(', ')}`,
    );
  }
  parts.push(
    `stream records quarantined: ${e.quarantined.records}${topReasons(e.quarantined.by_reason)}`,
    `messages in the DLQ: ${e.dlq_messages}`,
    `late events: ${e.late}`,
    `duplicates removed: ${e.duplicates}`,
  );
  if (e.batch_quarantined) parts.push(`export records quarantined by batch: ${e.batch_quarantined}`);
  for (const [other, n] of Object.entries(e.cross_day_duplicates ?? {})) {
    parts.push(`${n} ${ds.key.join('+')}(s) also counted on ${other} (copies on two days count on each)`);
  }
  return parts.join('; ');
}

/** Explains a day's deviation with counts for the same day: quarantine, DLQ, late, duplicates, missing orders. */
export async function explainDay(input: ExplainInput, deps: ReconcileDeps): Promise<DayExplanation> {
  const { layers } = input;
  const { dataset: ds, model } = input.target;
  const [quarantine, stats, runReport] = await Promise.all([
    streamQuarantineCounts(deps.store, layers.day, input.timeZone, ds),
    streamStatsOf(input, deps),
    getJson<BatchRunReport>(deps.store, lake.batchRunReport(layers.day, input.published.runId, ds.name)),
  ]);
  const firstCount = model.measures.find((m) => m.kind !== 'money')?.name;
  const sum = (field: 'late' | 'duplicates') =>
    stats ? [...stats.values()].reduce((total, hour) => total + hour[field], 0) : ('unknown' as const);
  const base = {
    quarantined: { records: quarantine.records, by_reason: quarantine.byReason, by_hour: quarantine.byHour },
    batch_quarantined: runReport?.value.counts.quarantined ?? null,
    cross_day_duplicates: runReport?.value.cross_day_duplicates ?? null,
    dlq_messages: input.dlqMessages,
    late: sum('late'),
    duplicates: sum('duplicates'),
    missing_from_stream: presenceJson(layers.missingFromStream),
    missing_from_batch: presenceJson(layers.missingFromBatch),
    realtime_gaps: input.gaps.map((g) => ({
      hour: g.hour,
      archive: measuresJson(model, g.archive),
      realtime: measuresJson(model, g.realtime),
    })),
  };
  const hours = new Set([
    ...Object.keys(layers.missingFromStream.byHour),
    ...Object.keys(layers.missingFromBatch.byHour),
    ...Object.keys(quarantine.byHour),
    ...input.gaps.map((g) => g.hour),
    ...[...(stats ?? new Map<string, HourStreamStats>())]
      .filter(([, s]) => s.late > 0 || s.duplicates > 0)
      .map(([hour]) => hour),
  ]);
  const byHour: Record<string, HourExplanation> = {};
  for (const hour of [...hours].sort()) {
    const gap = input.gaps.find((g) => g.hour === hour);
    const hourStats = stats?.get(hour);
    byHour[hour] = {
      missing_from_stream: layers.missingFromStream.byHour[hour] ?? 0,
      missing_from_batch: layers.missingFromBatch.byHour[hour] ?? 0,
      quarantined: quarantine.byHour[hour] ?? 0,
      late: stats ? (hourStats?.late ?? 0) : 'unknown',
      duplicates: stats ? (hourStats?.duplicates ?? 0) : 'unknown',
      realtime_gap_orders:
        gap && firstCount
          ? Number((gap.archive.values.get(firstCount) ?? 0n) - (gap.realtime.values.get(firstCount) ?? 0n))
          : 0,
    };
  }
  return { summary: summaryOf(input, base), ...base, by_hour: byHour };
}
