import type { ReasonCount, RecordCounts } from '../pipeline/dataset-views.ts';
import { dayRange, UTC } from '../pipeline/dates.ts';
import { maxMalformedShare, spikeFactor } from '../settings/settings.ts';

/** A data-quality gate's verdict, kept in the run report whether it passed or not. */
export interface GateResult {
  gate: 'schema' | 'malformed_share' | 'duplicate_keys' | 'zero_rows' | 'row_count_spike' | 'freshness';
  passed: boolean;
  /** A failed fatal gate stops the publish. */
  fatal: boolean;
  detail: string;
}

export interface GateThresholds {
  /** Fatal when orders > spikeFactor × median of the trailing published days (default 3). */
  spikeFactor: number;
  /** Fatal when quarantined / received exceeds this share (default 0.05). */
  maxMalformedShare: number;
  /** Skips the spike gate (an operator confirmed the volume is real). */
  force: boolean;
}

export const DEFAULT_THRESHOLDS: GateThresholds = {
  spikeFactor: spikeFactor.default,
  maxMalformedShare: maxMalformedShare.default,
  force: false,
};

/**
 * The defaults with `overrides`, checked against the settings' ranges.
 * @throws InvalidInputError naming the gate setting that is out of range.
 */
export function gateThresholds(overrides: Partial<GateThresholds> = {}): GateThresholds {
  const thresholds = { ...DEFAULT_THRESHOLDS, ...overrides };
  spikeFactor.check(thresholds.spikeFactor);
  maxMalformedShare.check(thresholds.maxMalformedShare);
  return thresholds;
}

export interface GateInput {
  day: string;
  /** The dataset the day is of: gate details name its records (`valid orders records`, `valid clicks records`). */
  dataset: string;
  /** The dataset's dedup key (cross-day duplicates are named by it). */
  key: readonly string[];
  counts: RecordCounts;
  /** Export files lacking required columns: `file → missing columns`. */
  missingColumns: Record<string, string[]>;
  /** Export files that could not be read at all: `file → why`. */
  unreadableFiles?: Record<string, string>;
  /** Orders published for the trailing days (up to 7), for the spike gate. */
  trailingOrders: number[];
  /** When the newest landing file was written; an export written before its day ended is incomplete. */
  newestLandingAt: Date | undefined;
  /** Orders also counted on a neighbouring published day, by day. */
  crossDayDuplicates?: Record<string, number>;
  /** The most frequent reasons records were rejected, named by the malformed-share gate. */
  topReasons?: ReasonCount[];
  /** The reporting time zone the day is a day of (default UTC). */
  timeZone?: string;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

const percent = (share: number) => `${(share * 100).toFixed(2)} %`;

/** Evaluates every gate. Pure: the numbers in, verdicts with their numbers out. */
export function evaluateGates(input: GateInput, thresholds: GateThresholds): GateResult[] {
  const { counts } = input;
  const missing = Object.entries(input.missingColumns).filter(([, columns]) => columns.length > 0);
  const unreadable = Object.entries(input.unreadableFiles ?? {});
  const malformedShare = counts.received === 0 ? 0 : counts.quarantined / counts.received;
  const results: GateResult[] = [
    {
      gate: 'schema',
      fatal: true,
      passed: missing.length === 0 && unreadable.length === 0,
      detail:
        missing.length === 0 && unreadable.length === 0
          ? 'every export has the required columns'
          : [
              ...unreadable.map(([file, why]) => `${file} is not readable: ${why}`),
              ...missing.map(([file, columns]) => `${file} lacks ${columns.join(', ')}`),
            ].join('; '),
    },
    {
      gate: 'zero_rows',
      fatal: true,
      passed: counts.orders > 0,
      detail: `${counts.orders} valid ${input.dataset} records (of ${counts.received} received) for ${input.day}`,
    },
    {
      gate: 'malformed_share',
      fatal: true,
      passed: malformedShare <= thresholds.maxMalformedShare,
      detail:
        `${counts.quarantined} of ${counts.received} records invalid (${percent(malformedShare)}, limit ${percent(thresholds.maxMalformedShare)})` +
        (counts.quarantined > 0 && input.topReasons?.length
          ? `; top reasons: ${input.topReasons.map((r) => `${r.reason} ×${r.count}`).join(', ')}`
          : ''),
    },
    {
      gate: 'duplicate_keys',
      fatal: false,
      passed: true,
      detail:
        `${counts.duplicates} duplicate ${input.key.join('+')} records removed` +
        Object.entries(input.crossDayDuplicates ?? {})
          .map(([other, n]) => `; ${n} ${input.key.join('+')}(s) also on ${other} (counted on each day)`)
          .join(''),
    },
  ];
  if (input.trailingOrders.length > 0) {
    const baseline = median(input.trailingOrders);
    const limit = baseline * thresholds.spikeFactor;
    const isSpike = counts.orders > limit;
    results.push({
      gate: 'row_count_spike',
      fatal: !thresholds.force,
      passed: !isSpike,
      detail:
        `${counts.orders} ${input.dataset} records vs ${thresholds.spikeFactor}x the trailing ${input.trailingOrders.length}-day median ` +
        `${baseline} (limit ${limit})${isSpike && thresholds.force ? '; forced' : ''}`,
    });
  }
  const dayEnd = dayRange(input.day, input.timeZone ?? UTC).end.getTime();
  const isFresh = input.newestLandingAt === undefined || input.newestLandingAt.getTime() >= dayEnd;
  results.push({
    gate: 'freshness',
    fatal: false,
    passed: isFresh,
    detail: isFresh
      ? 'export written after its day ended'
      : `newest export file written ${input.newestLandingAt?.toISOString()}, before ${input.day} ended: it may be incomplete`,
  });
  return results;
}

/** The fatal gates that failed. */
export function failedFatalGates(results: GateResult[]): GateResult[] {
  return results.filter((result) => result.fatal && !result.passed);
}

/** Thrown when a fatal gate fails: nothing was published; the message names the gate and its numbers. */
export class QualityGateError extends Error {
  constructor(
    readonly day: string,
    readonly failed: GateResult[],
  ) {
    super(
      `${day}: quality gate failed, nothing published: ${failed.map((g) => `${g.gate}: ${g.detail}`).join('; ')}`,
    );
    this.name = 'QualityGateError';
  }
}
