import http from 'node:http';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { describe, expect, it } from 'vitest';
import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { readPublished } from '../../functions/pipeline/batch-published.ts';
import { LakeUnavailableError } from '../../functions/pipeline/errors.ts';
import { openStore } from '../../functions/pipeline/open-store.ts';
import { silentLog } from '../../functions/pipeline/ports.ts';
import { writeLandingExport } from '../../local/landing-export.ts';
import { LOCAL_CREDENTIALS, useLocalS3 } from '../support/local-aws.ts';
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

  it('lists while objects under the prefix are written, overwritten and deleted (consumers and compaction racing a reader)', async () => {
    // Prepare: objects each alone in its directory (s3rver removes a directory when it empties), few enough that
    // one LIST is quick, so the readers list hundreds of times while the writers work; a client without
    // retries, so one failed LIST fails the test instead of being retried away.
    const store = s3.store('race');
    const slots = 16;
    const batch = 8;
    const passes = 12;
    const keyOf = (slot: number, generation: number) =>
      `views/rt/dt=2026-11-21/hour=${String(slot % 24).padStart(2, '0')}/batch=${slot}/part-${generation}.parquet`;
    const current = Array.from({ length: slots }, (_, slot) => keyOf(slot, 0));
    await Promise.all(current.map((key) => store.put(key, 'x')));
    const noRetries = new S3Client({
      region: 'us-east-1',
      endpoint: s3.server.endpoint,
      forcePathStyle: true,
      credentials: LOCAL_CREDENTIALS,
      maxAttempts: 1,
    });

    // Act: while four readers list continuously, rounds of writers each delete a batch of objects and write
    // their successors under new names (compaction), and overwrite as many others in place (a rewritten
    // file; s3rver rewrites an object's metadata file in place, the window a LIST must not read through).
    // Without the list/write gate of local/aws-servers.ts, about one LIST in thirty here fails with a 500 (a
    // truncated metadata file, or a file that vanished mid-walk): a dozen or more failures every run.
    let writing = true;
    const failures: string[] = [];
    let listings = 0;
    const lister = async () => {
      while (writing) {
        try {
          await noRetries.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'race/views/rt/' }));
          listings += 1;
        } catch (error) {
          failures.push((error as Error).message);
        }
      }
    };
    const listers = Array.from({ length: 4 }, lister);
    const body = Buffer.alloc(64 * 1024, 1);
    for (let pass = 1; pass <= passes; pass++) {
      for (let first = 0; first < slots; first += batch) {
        const replaced = Array.from({ length: batch }, (_, i) => first + i);
        const overwritten = replaced.map((slot) => (slot + slots / 2) % slots);
        await Promise.all([
          ...replaced.map((slot) => store.delete([current[slot]!])),
          ...replaced.map((slot) => store.put(keyOf(slot, pass), body)),
          ...overwritten.map((slot) => store.put(current[slot]!, body)),
        ]);
        for (const slot of replaced) current[slot] = keyOf(slot, pass);
      }
    }
    writing = false;
    await Promise.all(listers);
    noRetries.destroy();

    // Assess
    expect(failures).toEqual([]);
    expect(listings).toBeGreaterThan(4);
    const listed = await store.list('views/rt/');
    expect(listed.map((o) => o.key).sort()).toEqual([...current].sort());
    expect(listed.every((o) => o.size === body.length)).toBe(true);
  });

  it('lists a prefix of more than 1,000 objects (pages with continuation tokens)', async () => {
    // Prepare: one more key than a LIST page holds (S3 and s3rver answer at most 1,000), so the listing is
    // complete only if the store follows the continuation token.
    const store = s3.store();
    const keys = Array.from({ length: 1001 }, (_, i) => `stream/orders/dt=2026-11-21/hour=10/b-${i}.parquet`);
    const limit = pLimit(32);
    await Promise.all(keys.map((key) => limit(() => store.put(key, 'x'))));

    const listed = await store.list('stream/orders/dt=2026-11-21/');

    expect(listed.map((o) => o.key).sort()).toEqual([...keys].sort());
  });

  it('an upload cut off half way leaves no object behind (S3 never shows a partial object)', async () => {
    // Prepare
    const store = s3.store('cut');
    const url = new URL(`${s3.server.endpoint}/${s3.bucket}/cut/stream/orders/half.parquet`);

    // Act: announce 1 MiB, send 64 KiB, drop the connection (what a SIGKILLed writer does).
    await new Promise<void>((resolve) => {
      const request = http.request(url, { method: 'PUT', headers: { 'content-length': String(1 << 20) } });
      request.on('error', () => resolve());
      request.write(Buffer.alloc(64 * 1024, 1), () => setTimeout(() => request.destroy(), 200));
      request.on('close', () => resolve());
    });
    await new Promise((resolve) => setTimeout(resolve, 300));

    // Assess
    expect(await store.list('stream/')).toEqual([]);
    expect(await store.head('stream/orders/half.parquet')).toBeUndefined();
  });

  it('a client that leaves while its request waits behind a LIST does not wedge later requests', async () => {
    // Prepare: a slow PUT holds the write side; a LIST queues behind it; a PUT queues behind the LIST.
    const { port } = new URL(s3.server.endpoint);
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const put = (key: string, length: number) =>
      http.request({
        host: '127.0.0.1',
        port,
        method: 'PUT',
        path: `/${s3.bucket}/wedge/${key}`,
        headers: { 'content-length': String(length) },
      });
    const slow = put('slow', 10);
    const slowDone = new Promise<number | undefined>((resolve) =>
      slow.on('response', (r) => {
        r.resume();
        resolve(r.statusCode);
      }),
    );
    slow.write('12345');
    await sleep(100);
    const firstList = fetch(`${s3.server.endpoint}/${s3.bucket}?list-type=2&prefix=wedge/`);
    await sleep(50);
    const doomed = put('doomed', 3);
    doomed.on('error', () => {});
    doomed.end('abc');
    await sleep(100);

    // Act: the queued client leaves; the slow PUT finishes; then more requests arrive.
    doomed.destroy();
    await sleep(100);
    slow.end('67890');
    const timeout = (ms: number) => sleep(ms).then(() => 'still waiting');
    const later = await Promise.race([
      Promise.all([
        fetch(`${s3.server.endpoint}/${s3.bucket}?list-type=2&prefix=wedge/`).then((r) => r.status),
        fetch(`${s3.server.endpoint}/${s3.bucket}/wedge/other`, { method: 'PUT', body: 'x' }).then(
          (r) => r.status,
        ),
      ]),
      timeout(5000),
    ]);

    // Assess
    expect(await slowDone).toBe(200);
    expect((await firstList).status).toBe(200);
    expect(later).toEqual([200, 200]);
  });

  it('reports an unreachable endpoint as the lake being unavailable', async () => {
    const store = openStore('s3://twinflow-lake/x', { endpoint: 'http://127.0.0.1:9', region: 'us-east-1' });
    await expect(store.list('views/')).rejects.toBeInstanceOf(LakeUnavailableError);
  });
});
