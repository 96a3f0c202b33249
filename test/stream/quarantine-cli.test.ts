import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { silentLog } from '../../functions/pipeline/ports.ts';
import { consumeMicroBatch } from '../../functions/stream/micro-batch.ts';
import { listQuarantine } from '../../functions/stream/quarantine.ts';
import { twinflow } from '../support/cli.ts';
import { order } from '../support/orders.ts';
import { fixQuarantined } from './quarantine-fixes.ts';
import { messages, realtimeOrders } from './stream-helpers.ts';

const fixtureFile = new URL('../../events/orders.jsonl', import.meta.url).pathname;

function tempLake() {
  return mkdtempSync(path.join(os.tmpdir(), 'twinflow-cli-quarantine-'));
}

describe('twinflow quarantine list / replay (CLI on a local lake)', () => {
  it('list --since keeps the records quarantined at or after that time', async () => {
    const lake = tempLake();
    const store = new LocalDirectoryStore(lake);
    // Two micro-batches, each with one poison record, consumed on different days.
    for (const [prefix, at] of [
      ['early', '2026-11-20T10:00:00Z'],
      ['late', '2026-11-21T09:00:00Z'],
    ] as const) {
      const result = await consumeMicroBatch(
        { messages: messages([order({ order_id: `${prefix}-ok` }), `{"${prefix}": broken`], prefix) },
        { store, clock: () => new Date(at), log: silentLog },
      );
      expect(result.quarantined).toBe(1);
    }

    const all = await twinflow('quarantine', 'list', '--lake', lake);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/\b2 quarantined record\(s\)/);

    const sinceDay = await twinflow('quarantine', 'list', '--lake', lake, '--since', '2026-11-21');
    expect(sinceDay.code).toBe(0);
    expect(sinceDay.stdout).toMatch(/\b1 quarantined record\(s\)/);
    expect(sinceDay.stdout).toContain('late-1');
    expect(sinceDay.stdout).not.toContain('early-1');

    // Within a day the instant counts, not only the day's partition.
    const json = await twinflow(
      'quarantine',
      'list',
      '--lake',
      lake,
      '--since',
      '2026-11-20T10:00:01Z',
      '--json',
    );
    expect(json.code).toBe(0);
    const lines = json.stdout.trim().split('\n');
    expect(lines.map((line) => (JSON.parse(line) as { message_id: string }).message_id)).toEqual(['late-1']);

    const none = await twinflow('quarantine', 'list', '--lake', lake, '--since', '2026-11-21T09:00:01Z');
    expect(none.stdout).toMatch(/\b0 quarantined record\(s\)/);

    const bad = await twinflow('quarantine', 'list', '--lake', lake, '--since', 'yesterday-ish');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--since is not a time: "yesterday-ish"/);
  });

  it('replay re-ingests the fixed record in-process and takes it out of quarantine', async () => {
    const lake = tempLake();
    const store = new LocalDirectoryStore(lake);
    expect((await twinflow('replay', '--file', fixtureFile, '--lake', lake)).code).toBe(0);
    expect(await realtimeOrders(store, '2026-11-21')).toBe(42);
    // Line 48 was quarantined for its lower-case currency; the operator corrects it.
    await fixQuarantined(store, 'orders.jsonl:48', (raw) => raw.replace('"usd"', '"USD"'));

    const replay = await twinflow('quarantine', 'replay', '--lake', lake);

    expect(replay.code).toBe(0);
    expect(replay.stdout).toMatch(/re-ingested 1 order\(s\) from 1 now-valid record\(s\)/);
    expect(replay.stdout).toMatch(/removed 1 replayed record\(s\) from quarantine/);
    expect(replay.stdout).toMatch(/4 record\(s\) still invalid/);
    expect(await realtimeOrders(store, '2026-11-21')).toBe(43);
    expect((await listQuarantine(store)).map((r) => r.message_id)).toEqual([
      'orders.jsonl:45',
      'orders.jsonl:46',
      'orders.jsonl:47',
      'orders.jsonl:49',
    ]);

    const again = await twinflow('quarantine', 'replay', '--lake', lake);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/re-ingested 0 order\(s\) from 0 now-valid record\(s\)/);
    expect(await realtimeOrders(store, '2026-11-21')).toBe(43);
  });

  it('replay --since only considers records quarantined since then', async () => {
    const lake = tempLake();
    const store = new LocalDirectoryStore(lake);
    expect((await twinflow('replay', '--file', fixtureFile, '--lake', lake, '--no-compact')).code).toBe(0);
    await fixQuarantined(store, 'orders.jsonl:48', (raw) => raw.replace('"usd"', '"USD"'));

    const future = await twinflow('quarantine', 'replay', '--lake', lake, '--since', '2999-01-01');
    expect(future.code).toBe(0);
    expect(future.stdout).toMatch(/re-ingested 0 order\(s\) from 0 now-valid record\(s\)/);
    expect(await listQuarantine(store)).toHaveLength(5);
  });
});
