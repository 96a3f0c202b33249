import { describe, expect, it } from 'vitest';
import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { readPublished } from '../../functions/pipeline/batch-published.ts';
import { LakeUnavailableError } from '../../functions/pipeline/errors.ts';
import { openStore } from '../../functions/pipeline/open-store.ts';
import { silentLog } from '../../functions/pipeline/ports.ts';
import { writeLandingExport } from '../../local/landing-export.ts';
import { useLocalS3 } from '../support/local-aws.ts';
import { describeObjectStoreContract } from '../support/store-contract.ts';

const s3 = useLocalS3();

describeObjectStoreContract('S3 (s3rver on loopback)', () => s3.store());

describe('S3 lake', () => {
  it('runs a batch day end to end through S3', async () => {
    const store = s3.store();
    await writeLandingExport({ day: '2026-11-20', orders: 1000, seed: 4, format: 'csv' }, store);

    const report = await runBatchDay(
      { day: '2026-11-20' },
      { store, clock: () => new Date(), log: silentLog },
    );

    expect(report.counts.orders).toBe(1000);
    const { index } = await readPublished(store);
    expect(index.days['2026-11-20']?.orders).toBe(1000);
    expect(await store.head(index.days['2026-11-20']?.files.sales_minute ?? '')).toBeDefined();
  });

  it('reports an unreachable endpoint as the lake being unavailable', async () => {
    const store = openStore('s3://twinflow-lake/x', { endpoint: 'http://127.0.0.1:9', region: 'us-east-1' });
    await expect(store.list('views/')).rejects.toBeInstanceOf(LakeUnavailableError);
  });
});
