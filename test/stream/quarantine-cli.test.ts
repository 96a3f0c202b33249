import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listQuarantine } from '../../functions/ops/quarantine.ts';
import { LocalDirectoryStore } from '../../functions/pipeline/local-directory-store.ts';
import { silentLog } from '../../functions/pipeline/ports.ts';
import { consumeMicroBatch } from '../../functions/stream/micro-batch.ts';
import { twinflow } from '../support/cli.ts';
import { order } from '../support/orders.ts';
import { fixQuarantined, lineRefOf } from './quarantine-fixes.ts';
import { messages, realtimeOrders } from './stream-helpers.ts';

const DAY_OF_ORDER = '2026-11-20'; // the day of test/support/orders.ts's default event_time
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
    expect((await listQuarantine(store)).map((r) => lineRefOf(r.message_id))).toEqual([
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

  it('two replayed files with the same name keep both outputs; quarantine replay removes only what it re-sent', async () => {
    // Prepare: two files both named orders.jsonl; line 1 of each is invalid (lower-case currency): both
    // quarantined from `orders.jsonl:1`; line 2 of each is a valid order. Only the first invalid one is fixed.
    const lake = tempLake();
    const store = new LocalDirectoryStore(lake);
    const files = ['a', 'b'].map((name) => {
      const dir = mkdtempSync(path.join(os.tmpdir(), `twinflow-cli-replay-${name}-`));
      const file = path.join(dir, 'orders.jsonl');
      const invalid = order({ order_id: `same-line-${name}`, currency: 'usd' });
      const valid = order({ order_id: `valid-${name}` });
      writeFileSync(file, `${JSON.stringify(invalid)}\n${JSON.stringify(valid)}\n`);
      return file;
    });
    for (const file of files) expect((await twinflow('replay', '--file', file, '--lake', lake)).code).toBe(0);
    // Same file name, same line numbers, other content: the second replay must not overwrite the first's output.
    expect(await realtimeOrders(store, DAY_OF_ORDER)).toBe(2);
    const quarantined = await listQuarantine(store);
    expect(quarantined.map((r) => lineRefOf(r.message_id))).toEqual(['orders.jsonl:1', 'orders.jsonl:1']);
    expect(new Set(quarantined.map((r) => r.message_id)).size).toBe(2);
    const fixedRecord = quarantined.find((r) => r.raw.includes('same-line-a'));
    const object = await store.get(fixedRecord?.key ?? '');
    const lines = (object?.body.toString('utf8') ?? '').split('\n').filter((line) => line.trim() !== '');
    const edited = lines.map((line) =>
      line.includes('same-line-a') ? line.replace(String.raw`\"usd\"`, String.raw`\"USD\"`) : line,
    );
    expect(edited).not.toEqual(lines);
    await store.put(fixedRecord?.key ?? '', `${edited.join('\n')}\n`);

    // Act
    const replay = await twinflow('quarantine', 'replay', '--lake', lake);

    // Assess: the fixed one is counted and gone; the still-invalid twin stays in quarantine.
    expect(replay.code).toBe(0);
    expect(replay.stdout).toMatch(/removed 1 replayed record\(s\) from quarantine/);
    const left = await listQuarantine(store);
    expect(left).toHaveLength(1);
    expect(left[0]?.raw).toContain('same-line-b');
    expect(await realtimeOrders(store, DAY_OF_ORDER)).toBe(3);
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
