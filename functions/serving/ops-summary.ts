import pLimit from 'p-limit';
import { isStreamed, listDatasets } from '../pipeline/datasets.ts';
import { dayOf, daysBetween, hourWithin } from '../pipeline/dates.ts';
import { InvalidInputError } from '../pipeline/errors.ts';
import { lake } from '../pipeline/lake-layout.ts';
import { getJson, type ObjectStore } from '../pipeline/object-store.ts';
import type { CoreDeps } from '../pipeline/ports.ts';
import { streamStats } from '../stream/stream-stats.ts';
import { RangeTooLargeError } from './errors.ts';

/** What `GET /ops/summary` may look back over: one read per day for quarantine and for stream stats. */
export const MAX_OPS_DAYS = 31;
const DEFAULT_RANGE_MS = 86_400_000;
const MS_PER_DAY = 86_400_000;
const TOP_REASONS = 8;
const READ_CONCURRENCY = 16;

export interface OpsSummaryInput {
  /** Range start (inclusive); default: 24 h before `end`. */
  start?: Date;
  /** Range end (exclusive); default: the clock. */
  end?: Date;
}

export interface ReasonCount {
  reason: string;
  count: number;
}

/** The body of `GET /ops/summary`: what needs an operator's attention over a range (days of the reporting zone it touches). */
export interface OpsSummary {
  range: { start: string; end: string; days: string[] };
  quarantine: {
    /** Records quarantined in the range's days (partition `dt`), batch and stream alike. */
    records: number;
    by_source: Record<string, number>;
    by_day: { day: string; records: number }[];
    /** Most frequent reasons first; a record with several reasons counts once per reason. */
    top_reasons: ReasonCount[];
    latest_at: string | null;
  };
  /** Events that arrived behind the speed layer's watermark, by the event hour they were counted in. */
  late: { events: number; hours: { hour_start: string; late: number }[] };
  /**
   * Messages in the orders DLQ, as the newest reconciliation run saw them (the query function has no SQS access
   * by design), or null when no run has reported it.
   */
  dlq: { messages: number | null; as_of: string | null; run_id: string | null };
  /**
   * Each Kafka-ingested dataset's consumer lag per partition (records on the topic its group has not committed),
   * as the local runtime measures it every few seconds; in AWS the mapping's `OffsetLag` metric (and alarm) says it.
   */
  kafka_lag: KafkaLagDoc[];
  generated_at: string;
}

/** `state/stream/<dataset>/kafka-lag.json`. */
export interface KafkaLagDoc {
  dataset: string;
  topic: string;
  group: string;
  total: number;
  partitions: { partition: number; committed: number; high: number; lag: number }[];
  measured_at: string;
}

interface QuarantineLine {
  source?: unknown;
  reasons?: unknown;
  quarantined_at?: unknown;
}

/** The subset of a reconciliation run record this summary reads (the full type lives with reconciliation). */
interface RunRecordHead {
  run_id?: string;
  /** The model compared (absent before datasets: sales_minute). */
  model?: string;
  finished_at?: string;
  /** Whole-queue depth when the run looked; older records only have it per compared day. */
  dlq_messages?: number | 'unknown';
  days?: { explanation?: { dlq_messages?: number | 'unknown' } }[];
}

/** Checks the range: ordered bounds, at most `MAX_OPS_DAYS` days. */
export function opsRange(input: OpsSummaryInput, now: Date): { start: Date; end: Date } {
  const end = input.end ?? now;
  const start = input.start ?? new Date(end.getTime() - DEFAULT_RANGE_MS);
  if (end.getTime() <= start.getTime()) {
    throw new InvalidInputError(
      `end (${end.toISOString()}) must be after start (${start.toISOString()})`,
      'end',
    );
  }
  if (end.getTime() - start.getTime() > MAX_OPS_DAYS * MS_PER_DAY) {
    throw new RangeTooLargeError(
      `ops summary covers at most ${MAX_OPS_DAYS} days between start and end`,
      `${MAX_OPS_DAYS} days`,
    );
  }
  return { start, end };
}

async function quarantineOfDay(store: ObjectStore, day: string): Promise<QuarantineLine[]> {
  const files = (await store.list(lake.quarantinePrefix(day))).filter((info) => info.key.endsWith('.jsonl'));
  const lines: QuarantineLine[] = [];
  for (const info of files) {
    const object = await store.get(info.key);
    if (!object) continue;
    for (const line of object.body.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        lines.push(JSON.parse(line) as QuarantineLine);
      } catch {
        // A torn line still counts: the record was quarantined, its reason is unreadable.
        lines.push({ reasons: ['unreadable quarantine line'] });
      }
    }
  }
  return lines;
}

/** The newest reconciliation run record of `days` (newest day first), by key order within a day. */
async function newestRun(store: ObjectStore, days: readonly string[]): Promise<RunRecordHead | undefined> {
  for (const day of days) {
    const runs = (await store.list(lake.reconciliationRunPrefix(day))).filter((info) =>
      info.key.endsWith('.json'),
    );
    // Newest first; the orders' runs (records without a model predate datasets and are orders').
    for (const info of runs.sort((a, b) => b.lastModified.getTime() - a.lastModified.getTime())) {
      const run = (await getJson<RunRecordHead>(store, info.key))?.value;
      if (run && (run.model ?? 'sales_minute') === 'sales_minute') return run;
    }
  }
  return undefined;
}

function dlqOf(run: RunRecordHead | undefined): OpsSummary['dlq'] {
  const reported = [run?.dlq_messages, ...(run?.days ?? []).map((day) => day.explanation?.dlq_messages)].find(
    (value): value is number => typeof value === 'number',
  );
  return {
    messages: reported ?? null,
    as_of: run?.finished_at ?? null,
    run_id: run?.run_id ?? null,
  };
}

/**
 * Quarantine counts and top rejection reasons, late-event hours and DLQ depth for the reporting days a range touches:
 * the operational side of the dashboard, read from the lake only (quarantine/, state/stream/, reconciliation/).
 */
export async function opsSummary(input: OpsSummaryInput, deps: CoreDeps): Promise<OpsSummary> {
  const { store } = deps;
  const now = deps.clock();
  const { start, end } = opsRange(input, now);
  const days = daysBetween(dayOf(start, deps.timeZone), dayOf(new Date(end.getTime() - 1), deps.timeZone));
  const limit = pLimit(READ_CONCURRENCY);
  const today = dayOf(now, deps.timeZone);
  const [quarantine, stats, run, kafkaLag] = await Promise.all([
    Promise.all(days.map((day) => limit(() => quarantineOfDay(store, day)))),
    Promise.all(days.map((day) => limit(() => streamStats(store, day)))),
    newestRun(store, daysBetween(dayOf(new Date(now.getTime() - 2 * MS_PER_DAY)), today).reverse()),
    Promise.all(
      listDatasets()
        .filter(isStreamed)
        .map(async (ds) => (await getJson<KafkaLagDoc>(store, lake.kafkaLag(ds.name)))?.value),
    ),
  ]);

  const bySource: Record<string, number> = {};
  const reasons = new Map<string, number>();
  let latest: string | null = null;
  for (const line of quarantine.flat()) {
    const source = typeof line.source === 'string' && line.source !== '' ? line.source : 'unknown';
    bySource[source] = (bySource[source] ?? 0) + 1;
    const list = Array.isArray(line.reasons) ? line.reasons.map(String) : ['no reason recorded'];
    for (const reason of new Set(list.length > 0 ? list : ['no reason recorded'])) {
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
    if (typeof line.quarantined_at === 'string' && (latest === null || line.quarantined_at > latest)) {
      latest = line.quarantined_at;
    }
  }

  const lateHours: OpsSummary['late']['hours'] = [];
  days.forEach((day, i) => {
    for (const [hh, hour] of Object.entries(stats[i] ?? {})) {
      const slot = hourWithin(day, hh, deps.timeZone);
      if (hour.late > 0 && slot && slot.end > start.getTime() && slot.start < end.getTime()) {
        lateHours.push({
          hour_start: new Date(slot.start).toISOString().replace('.000Z', 'Z'),
          late: hour.late,
        });
      }
    }
  });

  return {
    range: { start: start.toISOString(), end: end.toISOString(), days },
    quarantine: {
      records: quarantine.reduce((sum, lines) => sum + lines.length, 0),
      by_source: bySource,
      by_day: days.map((day, i) => ({ day, records: quarantine[i]?.length ?? 0 })),
      top_reasons: [...reasons]
        .map(([reason, count]) => ({ reason, count }))
        .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason))
        .slice(0, TOP_REASONS),
      latest_at: latest,
    },
    late: { events: lateHours.reduce((sum, hour) => sum + hour.late, 0), hours: lateHours },
    dlq: dlqOf(run),
    kafka_lag: kafkaLag.filter((doc): doc is KafkaLagDoc => doc !== undefined),
    generated_at: now.toISOString(),
  };
}
