import { describe, expect, it } from 'vitest';
import { publishDay, readPublished } from '../../functions/pipeline/batch-published.ts';
import { lake } from '../../functions/pipeline/lake-layout.ts';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { getJson, putJson } from '../../functions/pipeline/object-store.ts';
import { useTempDirs } from '../support/temp-dir.ts';

const tempDir = useTempDirs();

const entry = (day: string) => ({
  day,
  version: `v-${day}`,
  runId: `r-${day}`,
  publishedAt: `${day}T23:00:00.000Z`,
  orders: 1,
  revenue_by_currency: { USD: '1.00' },
  files: { sales_minute: `views/batch/sales_minute/dt=${day}/v.parquet` },
});

describe('a lake from before datasets were declared', () => {
  it('keeps serving its orders index, and the next publish moves it with every day it held', async () => {
    const store = new LocalDirectoryStore(tempDir());
    await putJson(store, 'views/batch/_published.json', {
      days: { '2026-11-19': entry('2026-11-19') },
      updatedAt: '2026-11-20T00:00:00.000Z',
    });

    expect(Object.keys((await readPublished(store)).index.days)).toEqual(['2026-11-19']);
    expect(Object.keys((await readPublished(store, 'stock_moves')).index.days)).toEqual([]);

    await publishDay(store, entry('2026-11-20'), new Date('2026-11-21T02:00:00Z'));
    const moved = await getJson<{ days: Record<string, unknown> }>(store, lake.batchPublished('orders'));
    expect(Object.keys(moved?.value.days ?? {}).sort()).toEqual(['2026-11-19', '2026-11-20']);
    expect(Object.keys((await readPublished(store)).index.days).sort()).toEqual(['2026-11-19', '2026-11-20']);
  });
});
