import { ISO_4217_CODES } from '../pipeline/currencies.ts';
import { parseTimeZone, UTC } from '../pipeline/dates.ts';
import { DEFAULT_ALLOWED_LATENESS_SECONDS } from '../stream/watermark.ts';
import { numberSetting, refuse, type Setting, shown } from './setting.ts';

/**
 * Every policy a function reads from its environment, each defined once (see `setting.ts`), then grouped per
 * function. A range is the one a production operator would expect; where layers used to disagree the choice
 * is noted on the setting.
 */

// Reconciliation ─────────────────────────────────────────────────────────────────────────────────────────────

/**
 * A fraction in (0, 1]. The stage config used to stop below 1 and the CLI and env at 10: 10 almost always
 * means "10 %" typed as a percentage, which silently turned alerting off (a 1000 % threshold), so anything
 * above 1 is refused. 1 stays allowed: "alert only when a layer is missing altogether".
 */
export const deviationThreshold = numberSetting({
  name: 'threshold',
  env: 'DEVIATION_THRESHOLD',
  stage: 'reconcile.deviationThreshold',
  flag: '--threshold <fraction>',
  default: 0.1,
  description: 'alert above this absolute batch/realtime deviation (0.1 = 10 %)',
  noun: 'fraction',
  min: 0,
  minExclusive: true,
  max: 1,
  example: '0.1 = 10 %',
});

export const reconcileLookbackDays = numberSetting({
  name: 'lookback days',
  env: 'LOOKBACK_DAYS',
  stage: 'reconcile.lookbackDays',
  flag: '--lookback-days <n>',
  default: 3,
  description: 'days before the run to check too',
  integer: true,
  min: 0,
  max: 31,
});

// Batch quality gates and scheduling ─────────────────────────────────────────────────────────────────────────

/** > 1: at 1 or below, every day above the trailing median would fail the gate. */
export const spikeFactor = numberSetting({
  name: 'spikeFactor',
  env: 'SPIKE_FACTOR',
  stage: 'batch.spikeFactor',
  flag: '--spike-factor <factor>',
  default: 3,
  description: 'fail a day with more orders than this many times the median of the trailing published days',
  min: 1,
  minExclusive: true,
});

/** A fraction in [0, 1]: 0 tolerates no malformed record, 1 turns the gate off. */
export const maxMalformedShare = numberSetting({
  name: 'maxMalformedShare',
  env: 'MAX_MALFORMED_SHARE',
  stage: 'batch.maxMalformedShare',
  flag: '--max-malformed-share <fraction>',
  default: 0.05,
  description: 'fail a day whose quarantined share of records is above this (0.05 = 5 %)',
  noun: 'fraction',
  min: 0,
  max: 1,
});

/** Below it a day runs in one function; from it on, on the fan-out state machine (issue 18's measurements). */
export const fanOutThresholdBytes = numberSetting({
  name: 'fan-out threshold bytes',
  env: 'BATCH_FAN_OUT_THRESHOLD_BYTES',
  stage: 'batch.fanOutThresholdBytes',
  flag: '--fan-out-threshold <bytes>',
  default: 1024 ** 3,
  description: 'a day whose landing exports hold at least this many bytes runs on the fan-out state machine',
  integer: true,
  min: 1,
});

/** Reduce workers per fanned-out day: each dedupes and models the keys hashed to its bucket. */
export const fanOutBuckets = numberSetting({
  name: 'fan-out buckets',
  env: 'BATCH_FAN_OUT_BUCKETS',
  stage: 'batch.fanOutBuckets',
  default: 16,
  description: 'key buckets (reduce workers) of a fanned-out day',
  integer: true,
  min: 1,
  max: 1024,
});

export const batchLookbackDays = numberSetting({
  name: 'batch lookback days',
  env: 'BATCH_LOOKBACK_DAYS',
  default: 7,
  description: 'days before yesterday the daily run re-runs when their exports changed',
  integer: true,
  min: 0,
  max: 31,
});

/**
 * 1..16. The CLI allowed 99, the function's event 16 and its env anything: each day holds its data in DuckDB,
 * so 16 days at once is already more than a 3 GB function or a laptop holds.
 */
export const batchConcurrency = numberSetting({
  name: 'concurrency',
  env: 'BATCH_CONCURRENCY',
  flag: '--concurrency <n>',
  default: 2,
  description: 'days processed in parallel',
  integer: true,
  min: 1,
  max: 16,
});

// Speed layer and compaction ─────────────────────────────────────────────────────────────────────────────────

/** Whole seconds ≥ 0 (the replay CLI used to refuse 0, the stage and env took any number). */
export const allowedLatenessSeconds = numberSetting({
  name: 'allowedLatenessSeconds',
  env: 'ALLOWED_LATENESS_SECONDS',
  stage: 'stream.allowedLatenessSeconds',
  flag: '--allowed-lateness <seconds>',
  default: DEFAULT_ALLOWED_LATENESS_SECONDS,
  description: 'watermark lateness: a minute is final this many seconds after the newest event time',
  integer: true,
  min: 0,
});

/** The same as `DEFAULT_COMPACTION_GRACE_MS` of functions/stream/compaction.ts (a test holds them equal). */
export const compactionGraceSeconds = numberSetting({
  name: 'graceSeconds',
  env: 'COMPACTION_GRACE_SECONDS',
  flag: '--grace-seconds <n>',
  default: 300,
  description: 'keep covered partials this many seconds for readers',
  min: 0,
});

/** The same as `DEFAULT_ROLL_UP_ABOVE_EVENTS` of functions/stream/compaction.ts (a test holds them equal). */
export const compactionRollUpAboveEvents = numberSetting({
  name: 'rollUpAboveEvents',
  env: 'COMPACTION_ROLL_UP_ABOVE_EVENTS',
  stage: 'compaction.rollUpAboveEvents',
  flag: '--roll-up-above <events>',
  default: 2_000_000,
  description:
    'a day whose last fold counted this many events is folded every foldEveryMinutes, rolled up between',
  integer: true,
  min: 0,
});

/** The same as `DEFAULT_FOLD_EVERY_MS` of functions/stream/compaction.ts, in minutes (a test holds them equal). */
export const compactionFoldEveryMinutes = numberSetting({
  name: 'foldEveryMinutes',
  env: 'COMPACTION_FOLD_EVERY_MINUTES',
  stage: 'compaction.foldEveryMinutes',
  flag: '--fold-every <minutes>',
  default: 10,
  description: 'how often a day past rollUpAboveEvents is folded (exact); in between it is only rolled up',
  min: 1,
  max: 1440,
});

/** At least 1: today is always compacted. */
export const compactionLookbackDays = numberSetting({
  name: 'compaction lookback days',
  env: 'COMPACTION_LOOKBACK_DAYS',
  default: 3,
  description: 'days up to today compacted by a scheduled run (tomorrow too)',
  integer: true,
  min: 1,
  max: 31,
});

// Validation policy (both layers) ─────────────────────────────────────────────────────────────────────────────

export const maxClockSkewSeconds = numberSetting({
  name: 'maxClockSkewSeconds',
  env: 'MAX_CLOCK_SKEW_SECONDS',
  stage: 'validation.maxClockSkewSeconds',
  default: 300,
  description: 'quarantine events whose time is more than this many seconds after they were received',
  min: 0,
});

const ISO_CODES = new Set<string>(ISO_4217_CODES);
const CURRENCIES_RULE = 'ISO 4217 codes, comma-separated (none = every code)';

function checkCurrencies(value: readonly string[], subject: string, got: string): readonly string[] {
  if (!Array.isArray(value) || !value.every((code) => typeof code === 'string')) {
    refuse(subject, CURRENCIES_RULE, got);
  }
  const unknown = value.filter((code) => !ISO_CODES.has(code));
  if (unknown.length > 0) refuse(subject, CURRENCIES_RULE, `${got} (not ISO 4217: ${unknown.join(', ')})`);
  return value;
}

/** `USD,EUR` in the environment, a list in the stage config; empty = every ISO 4217 code. */
export const acceptedCurrencies: Setting<readonly string[]> = {
  name: 'currencies',
  env: 'ACCEPTED_CURRENCIES',
  stage: 'validation.currencies',
  default: [],
  description: 'currencies accepted; others are quarantined with a reason',
  rule: CURRENCIES_RULE,
  parse(text, subject = 'currencies') {
    const codes = text
      .split(',')
      .map((code) => code.trim().toUpperCase())
      .filter((code) => code !== '');
    return checkCurrencies(codes, subject, JSON.stringify(text));
  },
  check: (value, subject = 'currencies') => checkCurrencies(value, subject, shown(value)),
  render: (value) => value.join(','),
};

// Reporting ───────────────────────────────────────────────────────────────────────────────────────────────────

/** An IANA zone; `parseTimeZone` words the refusal (it also tells a malformed name from an unknown one). */
export const reportingTimeZone: Setting<string> = {
  name: 'timeZone',
  env: 'REPORTING_TIME_ZONE',
  stage: 'reporting.timeZone',
  flag: '--tz <zone>',
  default: UTC,
  description: 'reporting time zone, an IANA name such as Asia/Taipei',
  rule: 'an IANA time zone such as UTC or Asia/Taipei',
  parse: (text, subject = 'timeZone') => parseTimeZone(text.trim(), subject),
  check: (value, subject = 'timeZone') => parseTimeZone(value, subject),
  render: (value) => value,
};

// Per function ────────────────────────────────────────────────────────────────────────────────────────────────

const validation = { currencies: acceptedCurrencies, maxClockSkewSeconds } as const;

/** What `run-batch` reads: the gates, the daily run's look-back and parallelism, the validation policy. */
export const RUN_BATCH_SETTINGS = {
  spikeFactor,
  fanOutThresholdBytes,
  fanOutBuckets,
  maxMalformedShare,
  lookbackDays: batchLookbackDays,
  concurrency: batchConcurrency,
  ...validation,
  timeZone: reportingTimeZone,
} as const;

/** What `ingest-orders` reads. */
export const INGEST_ORDERS_SETTINGS = {
  allowedLatenessSeconds,
  ...validation,
  timeZone: reportingTimeZone,
} as const;

/** What `compact-realtime` reads. */
export const COMPACT_REALTIME_SETTINGS = {
  graceSeconds: compactionGraceSeconds,
  rollUpAboveEvents: compactionRollUpAboveEvents,
  foldEveryMinutes: compactionFoldEveryMinutes,
  lookbackDays: compactionLookbackDays,
  timeZone: reportingTimeZone,
} as const;

/** What `evaluate-alerts` reads. */
export const EVALUATE_ALERTS_SETTINGS = { timeZone: reportingTimeZone } as const;

/** What `query-sales` reads (its CORS origins and version are wiring, not policy: see its env.ts). */
export const QUERY_SALES_SETTINGS = { timeZone: reportingTimeZone } as const;

/** What `reconcile-views` reads: its own threshold and look-back, and batch's gates and policy for the days it re-runs. */
export const RECONCILE_VIEWS_SETTINGS = {
  threshold: deviationThreshold,
  lookbackDays: reconcileLookbackDays,
  spikeFactor,
  maxMalformedShare,
  ...validation,
  timeZone: reportingTimeZone,
} as const;

/** Every setting, once. */
export const SETTINGS: readonly Setting<unknown>[] = [
  deviationThreshold,
  reconcileLookbackDays,
  spikeFactor,
  maxMalformedShare,
  batchLookbackDays,
  fanOutThresholdBytes,
  fanOutBuckets,
  batchConcurrency,
  allowedLatenessSeconds,
  compactionGraceSeconds,
  compactionRollUpAboveEvents,
  compactionFoldEveryMinutes,
  compactionLookbackDays,
  maxClockSkewSeconds,
  acceptedCurrencies,
  reportingTimeZone,
] as Setting<unknown>[];
