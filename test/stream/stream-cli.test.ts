import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { twinflow } from '../support/cli.ts';
import { realtimeOrders } from './stream-helpers.ts';

const fixtureFile = new URL('../../events/orders.jsonl', import.meta.url).pathname;

describe('twinflow replay / quarantine / compact', () => {
  it('replays events/orders.jsonl through the consumer in micro-batches, exact after compaction', async () => {
    const lake = mkdtempSync(path.join(os.tmpdir(), 'twinflow-cli-stream-'));
    const replay = await twinflow('replay', '--file', fixtureFile, '--batch-size', '10', '--lake', lake);
    expect(replay.code).toBe(0);
    expect(replay.stdout).toMatch(/replayed 49 event\(s\) in 5 micro-batch\(es\).*5 quarantined/);
    // 40 distinct orders + 2 late ones; the redelivery and the producer retry are removed by compaction.
    expect(await realtimeOrders(new LocalDirectoryStore(lake), '2026-11-21')).toBe(42);

    const list = await twinflow('quarantine', 'list', '--lake', lake);
    expect(list.stdout).toMatch(/5 quarantined record\(s\)/);
    expect(list.stdout).toMatch(/currency: not an ISO 4217 code/);

    const again = await twinflow('replay', '--file', fixtureFile, '--batch-size', '10', '--lake', lake);
    expect(again.code).toBe(0);
    expect(await realtimeOrders(new LocalDirectoryStore(lake), '2026-11-21')).toBe(42);

    const compact = await twinflow('compact', '--lake', lake, '--date', '2026-11-21');
    expect(compact.code).toBe(0);
    expect(compact.stdout).toMatch(/compacted 0 day\(s\)/);
  });

  it('names the bad flag and exits non-zero', async () => {
    const missing = await twinflow('replay', '--file', 'no-such.jsonl');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no such file/);
    const rate = await twinflow('dlq', 'redrive', '--queue-url', 'http://127.0.0.1:9/1/q', '--rate', '0');
    expect(rate.code).toBe(2);
    expect(rate.stderr).toMatch(/--rate must be 1..500/);
  });
});
