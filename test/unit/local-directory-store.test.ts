import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPublished } from '../../functions/pipeline/batch-published.ts';
import { LakeUnavailableError, PreconditionFailedError } from '../../functions/pipeline/errors.ts';
import { withFileLock } from '../../functions/pipeline/file-lock.ts';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { openStore } from '../../functions/pipeline/open-store.ts';
import { S3Store } from '../../functions/pipeline/s3-store.ts';
import { describeObjectStoreContract } from '../support/store-contract.ts';
import { useTempDirs } from '../support/temp-dir.ts';

describeObjectStoreContract(
  'local directory',
  () => new LocalDirectoryStore(mkdtempSync(path.join(os.tmpdir(), 'twinflow-lake-'))),
);

const tempDir = useTempDirs();
const PUBLISH_CHILD = new URL('../support/publish-days-child.ts', import.meta.url).pathname;

/** Starts one child per day list, releases them together and waits for all of them. */
async function publishFromProcesses(lake: string, dayLists: string[][]): Promise<(number | null)[]> {
  const children = dayLists.map((days) => {
    const child = spawn(process.execPath, ['--import', 'tsx', PUBLISH_CHILD, lake, ...days], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    return {
      child,
      ready: new Promise((resolve) => child.stdout.once('data', resolve)),
      exited: new Promise<number | null>((resolve) => child.once('exit', resolve)),
    };
  });
  await Promise.all(children.map((c) => c.ready));
  for (const { child } of children) child.stdin.write('go\n');
  return Promise.all(children.map((c) => c.exited));
}

describe('directory lake shared by several processes', () => {
  it('parallel publishes from three processes keep every day', async () => {
    // Prepare: three processes, eight days each, all read-modify-writing views/batch/_published.json.
    const lake = tempDir();
    const dayLists = [1, 2, 3].map((month) =>
      Array.from({ length: 8 }, (_, i) => `2026-0${month}-${String(10 + i)}`),
    );

    // Act
    const codes = await publishFromProcesses(lake, dayLists);

    // Assess
    expect(codes).toEqual([0, 0, 0]);
    const published = Object.keys((await readPublished(new LocalDirectoryStore(lake))).index.days);
    expect(published.sort()).toEqual(dayLists.flat().sort());
  });

  it('an overwrite within one file-clock tick still changes the etag', async () => {
    // Prepare: two versions of one size with the same mtime, as a coarse file clock can give them.
    const dir = tempDir();
    const store = new LocalDirectoryStore(dir);
    const file = path.join(dir, 'state/x.json');
    const tick = new Date(Math.trunc(Date.now()));
    await store.put('state/x.json', 'aaaa');
    utimesSync(file, tick, tick);
    const first = await store.head('state/x.json');
    await store.put('state/x.json', 'bbbb');
    utimesSync(file, tick, tick);

    // Act + Assess: a writer holding the first etag must lose.
    await expect(store.put('state/x.json', 'cccc', { ifMatch: first?.etag })).rejects.toBeInstanceOf(
      PreconditionFailedError,
    );
  });

  it('breaks a lock left by a process that died, and waits for a live one', async () => {
    const dir = tempDir();
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const lock = path.join(dir, 'x.lock');
    writeFileSync(lock, JSON.stringify({ host: os.hostname(), pid: dead, token: 'crashed' }));
    expect(await withFileLock(lock, async () => 'taken', { waitMs: 1_000 })).toBe('taken');

    writeFileSync(lock, JSON.stringify({ host: os.hostname(), pid: process.pid, token: 'busy' }));
    await expect(withFileLock(lock, async () => 'taken', { waitMs: 200 })).rejects.toBeInstanceOf(
      LakeUnavailableError,
    );

    const minuteAgo = new Date(Date.now() - 60_000);
    utimesSync(lock, minuteAgo, minuteAgo);
    expect(await withFileLock(lock, async () => 'taken', { staleMs: 30_000, waitMs: 1_000 })).toBe('taken');
  });
});

describe('openStore', () => {
  it('opens s3:// URLs as S3 and anything else as a directory', () => {
    expect(openStore('s3://my-bucket/some/prefix')).toBeInstanceOf(S3Store);
    expect(openStore('s3://my-bucket/some/prefix').location).toBe('s3://my-bucket/some/prefix/');
    expect(openStore('./data/lake')).toBeInstanceOf(LocalDirectoryStore);
  });

  it.each(['s3://', 's3://UPPER/x', 'http://example/x'])('rejects %s naming the lake', (url) => {
    expect(() => openStore(url)).toThrow(/lake/);
  });

  it('never lets a key escape the lake directory', async () => {
    const store = new LocalDirectoryStore(mkdtempSync(path.join(os.tmpdir(), 'twinflow-lake-')));
    await expect(store.put('../outside.txt', 'x')).rejects.toBeInstanceOf(LakeUnavailableError);
  });
});
