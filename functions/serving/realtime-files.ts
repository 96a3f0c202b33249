import pLimit from 'p-limit';
import { lake, partitionOf } from '../pipeline/lake-layout.ts';
import type { ObjectInfo, ObjectStore } from '../pipeline/object-store.ts';
import { realtimeDaySnapshot } from '../pipeline/realtime-view.ts';

/** Beyond this many days, one listing of the realtime root finds the days that have files at all. */
const LIST_ROOT_ABOVE_DAYS = 31;
const SNAPSHOT_CONCURRENCY = 8;

/**
 * The realtime files (compacted + uncovered partials, one consistent snapshot per day) of the given hours.
 * Never cached: the speed layer and compaction change them all the time.
 */
export async function realtimeFilesFor(
  store: ObjectStore,
  hoursByDay: ReadonlyMap<string, ReadonlySet<string>>,
): Promise<ObjectInfo[]> {
  let days = [...hoursByDay.keys()];
  if (days.length > LIST_ROOT_ABOVE_DAYS) {
    const present = new Set(
      (await store.list(lake.realtimeRoot)).map((info) => partitionOf(info.key).day).filter(Boolean),
    );
    days = days.filter((day) => present.has(day));
  }
  const limit = pLimit(SNAPSHOT_CONCURRENCY);
  const perDay = await Promise.all(
    days.map((day) =>
      limit(async () => {
        const hours = hoursByDay.get(day);
        const snapshot = await realtimeDaySnapshot(store, day);
        return [...snapshot].filter(([hh]) => hours?.has(hh)).flatMap(([, files]) => files);
      }),
    ),
  );
  return perDay.flat();
}

/** The files of the newest hour of `day` that has realtime files, or [] (health's freshness). */
export async function newestRealtimeHourFiles(store: ObjectStore, day: string): Promise<ObjectInfo[]> {
  const snapshot = await realtimeDaySnapshot(store, day);
  const newest = [...snapshot.keys()].sort().at(-1);
  return newest === undefined ? [] : (snapshot.get(newest) ?? []);
}
