import { addDays, dayStartMs, UTC } from './dates.ts';
import { InvalidInputError, PreconditionFailedError } from './errors.ts';
import { type BatchView, lake } from './lake-layout.ts';
import { getJson, type ObjectStore, putJson } from './object-store.ts';

/** One day the batch layer has published. Readers use exactly these files; older versions are garbage. */
export interface PublishedDay {
  day: string;
  /** Deterministic: a hash of the landing inputs, so re-running unchanged inputs republishes the same version. */
  version: string;
  runId: string;
  publishedAt: string;
  orders: number;
  /** Revenue per ISO 4217 code, decimal strings. */
  revenue_by_currency: Record<string, string>;
  files: Record<BatchView, string>;
}

/** `views/batch/_published.json`: the single source of truth for what batch has published. */
export interface PublishedIndex {
  days: Record<string, PublishedDay>;
  updatedAt: string;
  /** The reporting time zone the days are days of (absent in indexes written before it existed: UTC). */
  timeZone?: string;
}

const EMPTY: PublishedIndex = { days: {}, updatedAt: new Date(0).toISOString() };

/**
 * Where lakes written before datasets were declared kept the orders index. Read while the dataset's own index does
 * not exist yet, so an upgraded lake keeps serving what it had published; the first publish moves it (below).
 */
const LEGACY_ORDERS_INDEX = 'views/batch/_published.json';

/** The dataset's index as stored, or the legacy orders index of an older lake (with no ETag of the new key). */
async function currentIndex(
  store: ObjectStore,
  dataset: string,
): Promise<{ value: PublishedIndex; etag: string | undefined } | undefined> {
  const found = await getJson<PublishedIndex>(store, lake.batchPublished(dataset));
  if (found) return found;
  if (dataset !== 'orders') return undefined;
  const legacy = await getJson<PublishedIndex>(store, LEGACY_ORDERS_INDEX);
  return legacy ? { value: legacy.value, etag: undefined } : undefined;
}

/** Reads the publish index; `etag` identifies its version (the serving layer's batch cache key). */
export async function readPublished(
  store: ObjectStore,
  dataset = 'orders',
): Promise<{ index: PublishedIndex; etag: string }> {
  const found = await currentIndex(store, dataset);
  if (!found) return { index: EMPTY, etag: 'none' };
  return { index: found.value, etag: found.etag ?? `legacy-${found.value.updatedAt}` };
}

/**
 * Applies `change` to the publish index with optimistic concurrency (conditional put, retried on a lost race),
 * so parallel backfill days and overlapping runs never drop each other's entries.
 */
export async function updatePublished(
  store: ObjectStore,
  change: (index: PublishedIndex) => PublishedIndex,
  attempts = 20,
  dataset = 'orders',
): Promise<PublishedIndex> {
  for (let attempt = 1; ; attempt++) {
    const current = await currentIndex(store, dataset);
    const next = change(structuredClone(current?.value ?? EMPTY));
    try {
      await putJson(
        store,
        lake.batchPublished(dataset),
        next,
        current?.etag ? { ifMatch: current.etag } : { ifNoneMatch: true },
      );
      return next;
    } catch (error) {
      if (!(error instanceof PreconditionFailedError) || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5 * attempt + Math.random() * 20));
    }
  }
}

/** The key of a published day's view (its facts or a model), or an error naming what is missing. */
export function publishedFile(entry: PublishedDay, view: string): string {
  const key = entry.files[view];
  if (!key) throw new Error(`published day ${entry.day} has no ${view} view`);
  return key;
}

/** The reporting time zone of an index's days. */
export function indexTimeZone(index: PublishedIndex): string {
  return index.timeZone ?? UTC;
}

/**
 * Throws unless days of `timeZone` may be published into `index`: a lake has one reporting time zone, since a
 * Taipei day and a UTC day of the same name cover different instants (mixing them would count hours twice).
 */
export function assertIndexTimeZone(index: PublishedIndex, timeZone: string): void {
  if (Object.keys(index.days).length > 0 && indexTimeZone(index) !== timeZone) {
    throw new InvalidInputError(
      `this lake's batch days are days in ${indexTimeZone(index)}, not ${timeZone}: a lake has one reporting ` +
        `time zone (stage setting reporting.timeZone, --tz); use ${indexTimeZone(index)} or a new lake`,
      'tz',
    );
  }
}

/** Publishes (or republishes) one day of `timeZone` (default UTC). */
export function publishDay(
  store: ObjectStore,
  entry: PublishedDay,
  now: Date,
  timeZone: string = UTC,
  dataset = 'orders',
): Promise<PublishedIndex> {
  return updatePublished(
    store,
    (index) => {
      assertIndexTimeZone(index, timeZone);
      return { days: { ...index.days, [entry.day]: entry }, updatedAt: now.toISOString(), timeZone };
    },
    20,
    dataset,
  );
}

/** Days published, sorted. */
export function publishedDays(index: PublishedIndex): string[] {
  return Object.keys(index.days).sort();
}

/**
 * End of the latest contiguous published range starting from the first published day (exclusive, ISO), or null.
 * Days end at midnight of the index's time zone.
 */
export function batchBoundary(index: PublishedIndex): string | null {
  const days = publishedDays(index);
  const first = days[0];
  if (first === undefined) return null;
  let next = first;
  for (const day of days) {
    if (day !== next && day !== addDays(next, -1)) break;
    next = addDays(day, 1);
  }
  return new Date(dayStartMs(next, indexTimeZone(index))).toISOString();
}
