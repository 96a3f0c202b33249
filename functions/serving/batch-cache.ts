import type { BucketRow } from './read-buckets.ts';

/**
 * In-process cache of batch buckets, one entry per published day version and query shape.
 * Published batch files are immutable per version, so an entry never goes stale; a republish changes the
 * key (version, file, publish time) and the old entry simply ages out. Realtime files get their own instance
 * (`processRealtimeCache`), one entry per file (keyed by name and ETag) and query shape.
 * Least-recently-used entries are evicted beyond `maxEntries` entries or `maxRows` rows in total.
 */
export class BatchCache<T = BucketRow[]> {
  private readonly entries = new Map<string, T>();
  private rows = 0;
  hits = 0;
  misses = 0;

  constructor(
    private readonly maxEntries = 10_000,
    private readonly maxRows = 500_000,
    /** The rows an entry holds, against `maxRows`. */
    private readonly rowsOf: (value: T) => number = (value) => (value as BucketRow[]).length,
  ) {}

  get(key: string): T | undefined {
    const value = this.entries.get(key);
    if (value === undefined) {
      this.misses += 1;
      return undefined;
    }
    this.hits += 1;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  set(key: string, value: T): void {
    const previous = this.entries.get(key);
    if (previous) {
      this.rows -= this.rowsOf(previous);
      this.entries.delete(key);
    }
    this.entries.set(key, value);
    this.rows += this.rowsOf(value);
    for (const [oldest, entry] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.rows <= this.maxRows) break;
      if (oldest === key) break;
      this.entries.delete(oldest);
      this.rows -= this.rowsOf(entry);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
    this.rows = 0;
  }
}

/** The cache of this process (one per warm Lambda container). */
export const processBatchCache = new BatchCache();

/** What a query shape read from one realtime file: its buckets, and its newest minute in range whatever the filters. */
export interface RealtimeRead {
  rows: BucketRow[];
  latest: string | null;
}

/** Realtime file reads, one entry per file (name and ETag) and query shape, bounded by the rows they hold. */
export class RealtimeCache extends BatchCache<RealtimeRead> {
  constructor(maxEntries = 5_000, maxRows = 100_000) {
    super(maxEntries, maxRows, (read) => read.rows.length);
  }
}

/**
 * What this process's queries read from realtime files: a cache of its own, so entries that compaction makes
 * obsolete every few minutes (partials folded, roll-ups replaced) never evict published days.
 */
export const processRealtimeCache = new RealtimeCache();
