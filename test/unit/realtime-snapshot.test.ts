import { describe, expect, it } from 'vitest';
import { lake } from '../../functions/pipeline/lake-layout.ts';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { putJson } from '../../functions/pipeline/object-store.ts';
import {
  type RealtimeManifest,
  realtimeDaySnapshot,
  snapshotFiles,
} from '../../functions/pipeline/realtime-view.ts';
import { useTempDirs } from '../support/temp-dir.ts';

const tempDir = useTempDirs();
const DAY = '2026-11-21';

/** A local lake that counts GETs (how often the reader fetched a manifest). */
class CountingStore extends LocalDirectoryStore {
  gets: string[] = [];
  override get(key: string) {
    this.gets.push(key);
    return super.get(key);
  }
}

function manifest(compacted: string, batches: string[]): RealtimeManifest {
  return { compacted, covered: { '10': batches }, compactedAt: `${DAY}T10:00:00Z`, orders: 1, duplicates: 0 };
}

describe('realtimeDaySnapshot', () => {
  it('fetches a manifest again only when the listing shows a new version, and follows every compaction', async () => {
    // Prepare: the day compacted once (covering batch a) plus a newer partial b.
    const store = new CountingStore(tempDir());
    const compacted1 = lake.realtimeCompacted(DAY, 'c1');
    await store.put(compacted1, 'x');
    await store.put(lake.realtimePartial(DAY, '10', 'a'), 'x');
    await store.put(lake.realtimePartial(DAY, '10', 'b'), 'x');
    await putJson(store, lake.realtimeManifest(DAY), manifest(compacted1, ['a']));
    const keys = async () =>
      snapshotFiles(await realtimeDaySnapshot(store, DAY))
        .map((f) => f.key)
        .sort();

    // Act
    const first = await keys();
    const fetchesAfterFirst = store.gets.length;
    const second = await keys();
    const fetchesAfterSecond = store.gets.length;
    const compacted2 = lake.realtimeCompacted(DAY, 'c2');
    await store.put(compacted2, 'x');
    await putJson(store, lake.realtimeManifest(DAY), manifest(compacted2, ['a', 'b']));
    const afterCompaction = await keys();

    // Assess
    expect(first).toEqual([compacted1, lake.realtimePartial(DAY, '10', 'b')].sort());
    expect(fetchesAfterFirst).toBe(1);
    expect(second).toEqual(first);
    expect(fetchesAfterSecond).toBe(1);
    expect(afterCompaction).toEqual([compacted2]);
    expect(store.gets).toHaveLength(2);
  });
});
