import { describe, expect, it } from 'vitest';
import { BatchCache } from '../../functions/serving/batch-cache.ts';
import type { BucketRow } from '../../functions/serving/read-buckets.ts';

const rows = (n: number): BucketRow[] =>
  Array.from({ length: n }, (_, i) => ({
    windowStart: `2026-11-20T${String(i % 24).padStart(2, '0')}:00:00Z`,
    keys: {},
    values: { orders: 1, units: 1 },
    money: { revenue: new Map([['USD', 100n]]) },
    sets: {},
  }));

describe('BatchCache', () => {
  it('evicts the least recently used entries beyond its row budget', () => {
    const cache = new BatchCache(100, 10);
    cache.set('a', rows(4));
    cache.set('b', rows(4));
    cache.get('a');
    cache.set('c', rows(4));
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toHaveLength(4);
    expect(cache.get('c')).toHaveLength(4);
  });

  it('evicts beyond its entry budget and counts hits and misses', () => {
    const cache = new BatchCache(2, 1000);
    cache.set('a', []);
    cache.set('b', []);
    cache.set('c', []);
    expect(cache.size).toBe(2);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('c')).toEqual([]);
    expect({ hits: cache.hits, misses: cache.misses }).toEqual({ hits: 1, misses: 1 });
  });
});
