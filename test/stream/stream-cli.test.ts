import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { realtimeOrders } from './stream-helpers.ts';

const run = promisify(execFile);
const cli = new URL('../../cli/twinflow.js', import.meta.url).pathname;
const fixtureFile = new URL('../../events/orders.jsonl', import.meta.url).pathname;

async function twinflow(...args: string[]) {
  try {
    const { stdout, stderr } = await run('node', [cli, ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

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
    expect(compact.stdout).toMatch(/compacted 0 hour\(s\)/);
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
