import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type PublishedDay, publishDay, readPublished } from '../../functions/pipeline/batch-published.ts';
import { PreconditionFailedError } from '../../functions/pipeline/errors.ts';
import type { ObjectStore } from '../../functions/pipeline/object-store.ts';

function entry(day: string): PublishedDay {
  return {
    day,
    version: 'v1',
    runId: 'r1',
    publishedAt: '2026-11-21T00:00:00.000Z',
    orders: 1,
    revenue_by_currency: { USD: '1.00' },
    files: { sales_minute: 'a', daily_sales: 'b', order_facts: 'c' },
  };
}

/** The behaviour every ObjectStore adapter must have; run against each adapter. */
export function describeObjectStoreContract(name: string, open: () => ObjectStore) {
  describe(`${name} object store`, () => {
    it('round-trips bytes, heads, lists recursively by prefix and deletes', async () => {
      const store = open();
      const body = Buffer.from('héllo, lake\n');
      const { etag } = await store.put('views/batch/a/dt=2026-11-20/x.json', body);
      await store.put('views/batch/a/dt=2026-11-21/y.json', 'second');
      await store.put('views/other.json', 'not under the prefix');

      const got = await store.get('views/batch/a/dt=2026-11-20/x.json');
      expect(got?.body.equals(body)).toBe(true);
      expect(got?.etag).toBe(etag);
      expect((await store.head('views/batch/a/dt=2026-11-20/x.json'))?.size).toBe(body.length);
      expect((await store.list('views/batch/a/')).map((o) => o.key)).toEqual([
        'views/batch/a/dt=2026-11-20/x.json',
        'views/batch/a/dt=2026-11-21/y.json',
      ]);
      expect(await store.get('missing/key.json')).toBeUndefined();
      expect(await store.head('missing/key.json')).toBeUndefined();
      expect(await store.list('nothing/here/')).toEqual([]);

      await store.delete(['views/batch/a/dt=2026-11-20/x.json']);
      expect(await store.get('views/batch/a/dt=2026-11-20/x.json')).toBeUndefined();
    });

    it('uploads a local file and gives DuckDB a readable local path for it', async () => {
      const store = open();
      const dir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-store-'));
      const file = path.join(dir, 'in.bin');
      writeFileSync(file, Buffer.alloc(300_000, 7));
      await store.putFile('stream/orders/dt=2026-11-20/hour=10/b1.parquet', file);
      const [info] = await store.list('stream/orders/');
      expect(info?.size).toBe(300_000);
      const local = await store.localPath(info!);
      const { readFileSync } = await import('node:fs');
      expect(readFileSync(local).equals(readFileSync(file))).toBe(true);
    });

    it('refuses a conditional write that lost a race', async () => {
      const store = open();
      const first = await store.put('state/x.json', '1', { ifNoneMatch: true });
      await expect(store.put('state/x.json', '2', { ifNoneMatch: true })).rejects.toBeInstanceOf(
        PreconditionFailedError,
      );
      await store.put('state/x.json', '3', { ifMatch: first.etag });
      await expect(store.put('state/x.json', '4', { ifMatch: first.etag })).rejects.toBeInstanceOf(
        PreconditionFailedError,
      );
    });

    it('parallel publishes of different days keep every day', async () => {
      const store = open();
      const days = Array.from({ length: 8 }, (_, i) => `2026-11-${String(i + 10).padStart(2, '0')}`);
      await Promise.all(days.map((day) => publishDay(store, entry(day), new Date())));
      expect(Object.keys((await readPublished(store)).index.days).sort()).toEqual(days);
    });
  });
}
