import type { ComparisonRow, DayComparison, MeasuresJson } from './deviation.ts';

/** Events one side has and the other lacks, by the dataset's key. */
export interface OrderPresenceJson {
  count: number;
  sample_ids: string[];
  by_hour: Record<string, number>;
}

/** The counts that explain a day's deviation, for the same period. */
export interface DayExplanation {
  /** One line for people (alert text, CLI). */
  summary: string;
  /** Stream-side quarantined records (rejected by validation), by reason; a record may carry several reasons. */
  quarantined: { records: number; by_reason: Record<string, number>; by_hour: Record<string, number> };
  /** Records the batch layer quarantined from the day's exports (from its run report), or null if unknown. */
  batch_quarantined: number | null;
  /**
   * Orders of the day whose order_id a neighbouring day also counts (the dedup rule is per day), from the batch run
   * report, by that day; null if unknown. Both layers count such a copy on each day, so it explains no deviation.
   */
  cross_day_duplicates: Record<string, number> | null;
  /** Messages in the orders DLQ right now (whole queue, every day), or "unknown" when it is not reachable. */
  dlq_messages: number | 'unknown';
  /** Late events and duplicates removed by the speed layer (its streamStats), or "unknown". */
  late: number | 'unknown';
  duplicates: number | 'unknown';
  /** In batch, absent from the stream archive (e.g. dead-lettered or never sent). */
  missing_from_stream: OrderPresenceJson;
  /** In the stream archive, absent from batch (e.g. not in the export, or quarantined by batch). */
  missing_from_batch: OrderPresenceJson;
  /** Ended hours where the realtime view holds less than the stream archive (before corrections). */
  realtime_gaps: { hour: string; archive: MeasuresJson; realtime: MeasuresJson }[];
  /** The same counts per hour, for the hours where any of them is not zero. */
  by_hour: Record<string, HourExplanation>;
}

export interface HourExplanation {
  missing_from_stream: number;
  missing_from_batch: number;
  quarantined: number;
  late: number | 'unknown';
  duplicates: number | 'unknown';
  realtime_gap_orders: number;
}

/** One correction reconciliation made (or tried). */
export type Correction =
  | {
      kind: 'batch_rerun';
      day: string;
      reason: string;
      /** `handed-over`: only if reconciliation's re-runs ever route big days to the fan-out (they do not yet). */
      status: 'published' | 'skipped' | 'failed' | 'handed-over';
      detail: string;
      previous_version: string | null;
      version: string | null;
    }
  | {
      kind: 'realtime_recompute';
      day: string;
      hour: string;
      reason: string;
      status: 'applied' | 'failed' | 'unavailable';
      detail: string;
      /** Which layer the serving layer answers this hour from: batch wherever it has published the day. */
      served_from: 'batch' | 'realtime';
    }
  | {
      kind: 'served_from_batch';
      day: string;
      /** Hours batch has orders for and neither the stream archive nor the realtime view has any. */
      hours: string[];
      reason: string;
      status: 'noted';
      detail: string;
      served_from: 'batch';
    };

/** A deviation above the threshold at one level ('product': a value of the model's cell dimension, under its name). */
export type Breach = {
  level: 'day' | 'hour' | 'product';
  hour?: string;
  max_abs_deviation: string;
  deviation: ComparisonRow['deviation'];
} & { [dimension: string]: unknown };

/** What is published to SNS (as the message JSON) and written to `alerts/dt=D/<alert_id>.json`. */
export interface ReconciliationAlert {
  alert_id: string;
  run_id: string;
  kind: 'batch_realtime_deviation';
  raised_at: string;
  threshold: string;
  /**
   * Where: the day, its worst hour (or null) and the value of the model's cell dimension that deviates most there
   * (under the dimension's name: `product_id` for orders; null if none).
   */
  where: { day: string; hour: string | null } & { [dimension: string]: string | null };
  /** How much: the largest absolute deviation and the rows behind it. */
  how_much: {
    max_abs_deviation: string;
    day: ComparisonRow;
    hour: ComparisonRow | null;
    product: ComparisonRow | null;
  };
  breaches: Breach[];
  explanation: DayExplanation;
  corrections: Correction[];
  /** The dataset and model compared (absent in alerts written before datasets: orders' sales_minute). */
  dataset?: string;
  model?: string;
  message: string;
}

/** One compared day of a run. */
export interface DayRecord {
  day: string;
  batch: { version: string; run_id: string; published_at: string } | null;
  realtime_hours: string[];
  archive_files: number;
  before: DayComparison;
  after: DayComparison;
  explanation: DayExplanation;
}

/** `reconciliation/runs/dt=D/<run_id>.json`: one record per run (the trend). */
export interface ReconciliationRun {
  run_id: string;
  /** The dataset and model compared (absent in records written before datasets: orders' sales_minute). */
  dataset?: string;
  model?: string;
  /** The logical time of the run (EventBridge event.time, --now). */
  now: string;
  started_at: string;
  finished_at: string;
  threshold: string;
  lookback_days: number;
  status: 'ok' | 'deviation';
  max_abs_deviation: { before: string; after: string };
  days: DayRecord[];
  skipped_days: { day: string; reason: string }[];
  /** Messages in the orders DLQ when the run looked (whole queue), or "unknown" when it is not reachable. */
  dlq_messages: number | 'unknown';
  corrections: Correction[];
  alerts: {
    alert_id: string;
    day: string;
    where: ReconciliationAlert['where'];
    max_abs_deviation: string;
    message: string;
  }[];
}
