import pLimit from 'p-limit';
import { hourWithin } from '../pipeline/dates.ts';
import { lake, partitionOf } from '../pipeline/lake-layout.ts';
import type { ObjectInfo, ObjectStore } from '../pipeline/object-store.ts';
import {
  type RealtimeSnapshot,
  type RealtimeViewRef,
  realtimeDaySnapshot,
  SALES_VIEW,
} from '../pipeline/realtime-view.ts';

/** Beyond this many days, one listing of the realtime root finds the days that have files at all. */
const LIST_ROOT_ABOVE_DAYS = 31;
const SNAPSHOT_CONCURRENCY = 8;

/**
 * The realtime files (compacted + uncovered partials, one consistent snapshot per day) of the given hours.
 * Listed on every call: the speed layer and compaction change them all the time (serving caches only what it read
 * from a file, by name and ETag). `listed` holds snapshots a caller already started for some days.
 */
export async function realtimeFilesFor(
  store: ObjectStore,
  hoursByDay: ReadonlyMap<string, ReadonlySet<string>>,
  view: RealtimeViewRef = SALES_VIEW,
  listed: ReadonlyMap<string, Promise<RealtimeSnapshot>> = new Map(),
): Promise<ObjectInfo[]> {
  let days = [...hoursByDay.keys()];
  if (days.length > LIST_ROOT_ABOVE_DAYS) {
    const present = new Set(
      (await store.list(lake.realtimeRoot(view.model)))
        .map((info) => partitionOf(info.key).day)
        .filter(Boolean),
    );
    days = days.filter((day) => present.has(day));
  }
  const limit = pLimit(SNAPSHOT_CONCURRENCY);
  const perDay = await Promise.all(
    days.map((day) =>
      limit(async () => {
        const hours = hoursByDay.get(day);
        const snapshot = await (listed.get(day) ?? realtimeDaySnapshot(store, day, view));
        // The compacted file covers the whole day; the query bounds its rows to the range.
        const partials = [...snapshot.partials]
          .filter(([hh]) => hours?.has(hh))
          .flatMap(([, files]) => files);
        const isWanted = [...(hours ?? [])].some((hh) => snapshot.hours.has(hh));
        return [...(snapshot.compacted && isWanted ? [snapshot.compacted] : []), ...partials];
      }),
    ),
  );
  return perDay.flat();
}

/** The files that hold the newest realtime minute of `day`, or [] (health's freshness). */
export async function newestRealtimeHourFiles(
  store: ObjectStore,
  day: string,
  timeZone?: string,
): Promise<ObjectInfo[]> {
  const snapshot = await realtimeDaySnapshot(store, day);
  // Hour labels are UTC hours: in a zone ahead of UTC, hour 23 of a day comes before its hour 00.
  const startOf = (hh: string) => hourWithin(day, hh, timeZone)?.start ?? 0;
  const newest = [...snapshot.partials.keys()].sort((a, b) => startOf(a) - startOf(b)).at(-1);
  return [
    ...(snapshot.compacted ? [snapshot.compacted] : []),
    ...(newest === undefined ? [] : (snapshot.partials.get(newest) ?? [])),
  ];
}
