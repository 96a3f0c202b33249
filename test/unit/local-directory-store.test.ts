import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LakeUnavailableError } from '../../functions/pipeline/errors.ts';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { openStore } from '../../functions/pipeline/open-store.ts';
import { S3Store } from '../../functions/pipeline/s3-store.ts';
import { describeObjectStoreContract } from '../support/store-contract.ts';

describeObjectStoreContract(
  'local directory',
  () => new LocalDirectoryStore(mkdtempSync(path.join(os.tmpdir(), 'twinflow-lake-'))),
);

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
