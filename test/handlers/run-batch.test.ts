import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPublished } from '../../functions/pipeline/batch-published.ts';
import { listDatasets } from '../../functions/pipeline/datasets.ts';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { writeDatasetLandingExport, writeLandingExport } from '../../local/landing-export.ts';
import { fixture, lambdaContext } from '../support/lambda-context.ts';

const lakeDir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-handler-batch-'));
/** Every shipped dataset with landing exports (all but stream-only ones), orders included. */
const batchDatasets = listDatasets().filter((ds) => ds.source !== 'stream');
const store = new LocalDirectoryStore(lakeDir);
let handler: (
  event: unknown,
  context: unknown,
) => Promise<{ published: number; days: { day: string; status: string; dataset?: string }[] }>;

beforeAll(async () => {
  process.env['LAKE_DIR'] = lakeDir;
  process.env['POWERTOOLS_LOG_LEVEL'] = 'ERROR';
  process.env['POWERTOOLS_METRICS_DISABLED'] = 'true';
  for (const day of ['2026-11-18', '2026-11-19', '2026-11-20']) {
    await writeLandingExport({ day, orders: 200, seed: 5 }, store);
    // The scheduled run covers every dataset with landing exports: each shipped one gets its days' exports.
    for (const ds of batchDatasets.filter((d) => d.name !== 'orders')) {
      await writeDatasetLandingExport({ dataset: ds, day, rows: 200, seed: 5 }, store);
    }
  }
  ({ handler } = (await import('../../functions/run-batch/handler.ts')) as unknown as {
    handler: typeof handler;
  });
});

afterAll(() => rmSync(lakeDir, { recursive: true, force: true }));

describe('run-batch handler', () => {
  it('the daily schedule fixture processes yesterday relative to event.time, for every batch dataset', async () => {
    const result = await handler(await fixture('scheduled-daily-batch.json'), lambdaContext());
    expect(
      result.days.filter((d) => d.day === '2026-11-20').map((d) => [d.dataset ?? 'orders', d.status]),
    ).toEqual(batchDatasets.map((ds) => [ds.name, 'published']));
    expect(batchDatasets.map((ds) => ds.name)).toEqual(
      expect.arrayContaining(['clicks', 'inventory', 'orders']),
    );
    for (const ds of batchDatasets) {
      expect(Object.keys((await readPublished(store, ds.name)).index.days), ds.name).toContain('2026-11-20');
    }
  });

  it('the one-day fixture runs that day', async () => {
    const result = await handler(await fixture('batch-day.json'), lambdaContext());
    expect(result).toMatchObject({ published: 1, days: [{ day: '2026-11-20', status: 'published' }] });
  });

  it('the backfill fixture runs the range', async () => {
    const result = await handler(await fixture('batch-backfill.json'), lambdaContext());
    expect(result.days.map((d) => d.day)).toEqual(['2026-11-18', '2026-11-19', '2026-11-20']);
    expect(Object.keys((await readPublished(store)).index.days).sort()).toEqual([
      '2026-11-18',
      '2026-11-19',
      '2026-11-20',
    ]);
  });

  it('rejects a payload it does not understand, naming the field', async () => {
    await expect(handler({ date: '20-11-2026' }, lambdaContext())).rejects.toThrow(
      /date: must be YYYY-MM-DD/,
    );
  });

  it('rejects a scheduled event whose time has no zone, naming the field', async () => {
    await expect(
      handler({ 'detail-type': 'Scheduled Event', time: '2026-11-21T02:00:00' }, lambdaContext()),
    ).rejects.toThrow(/time: must be an ISO-8601 timestamp with a zone/);
  });

  it('fails the invocation when a day fails its gates, so the alarm fires', async () => {
    await expect(handler({ date: '2026-11-10' }, lambdaContext())).rejects.toThrow(/zero_rows/);
  });
});
