import type { CoreDeps } from '../pipeline/ports.ts';
import type { ReconcileTarget } from './day-layers.ts';
import type { ReconciliationAlert } from './run-record.ts';

/** Where alerts go: SNS in AWS; a lake file plus a log line locally. */
export interface AlertSink {
  publish(alert: ReconciliationAlert): Promise<void>;
}

/** How many records sit in the dataset's DLQ (SQS ApproximateNumberOfMessages). */
export interface DlqProbe {
  approximateMessages(): Promise<number>;
}

/** What the speed layer counted for one event-time hour. */
export interface HourStreamStats {
  received: number;
  valid: number;
  quarantined: number;
  late: number;
  duplicates: number;
}

/**
 * The speed layer's operations reconciliation uses (functions/stream/): its per-hour counts, and the exact
 * recompute of one realtime hour from the stream archive. A port so tests can inject faults.
 */
export interface SpeedLayerPort {
  streamStats(
    store: CoreDeps['store'],
    day: string,
    target: ReconcileTarget,
  ): Promise<Map<string, HourStreamStats>>;
  /**
   * Recomputes a day's realtime view of a dataset from all its archives (a dataset dedupes per day). Resolves with
   * how it went (`compacted`, or `lost-race` when a concurrent compaction of the day won).
   */
  recomputeRealtimeDay(
    deps: CoreDeps,
    day: string,
    dataset: string,
  ): Promise<{ status: string; orders: number }>;
}

export interface ReconcileDeps extends CoreDeps {
  alerts: AlertSink;
  dlq?: DlqProbe;
  /** Defaults to the speed layer's own functions. */
  speed?: SpeedLayerPort;
}
