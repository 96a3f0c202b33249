import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { readPublished } from '../../functions/pipeline/batch-published.ts';
import { parquetRows, testDeps, writeJsonlExport } from '../support/lake.ts';
import { order } from '../support/orders.ts';
import { useTempDirs } from '../support/temp-dir.ts';

const DAY = '2026-11-20';
const tempDir = useTempDirs();

interface QuarantineLine {
  record_ref: string;
  reasons: string[];
  raw: string;
}

function quarantineOf(dir: string, key: string | null): QuarantineLine[] {
  expect(key).not.toBeNull();
  return readFileSync(path.join(dir, key ?? ''), 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as QuarantineLine);
}

/** Orders at distinct minutes of DAY, so every one is valid and counted. */
function orders(n: number, prefix = 'o'): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) =>
    order({ order_id: `${prefix}${i}`, event_time: `${DAY}T10:${String(i % 60).padStart(2, '0')}:00Z` }),
  );
}

describe('batch exports as real producers write them', () => {
  it('a UTF-8 BOM at the start of a JSONL export keeps its first order', async () => {
    // Prepare: as Windows tools write it, with CRLF line ends.
    const dir = tempDir();
    const file = writeJsonlExport(dir, DAY, 'orders.jsonl', orders(20));
    const crlf = readFileSync(file, 'utf8').replaceAll('\n', '\r\n');
    writeFileSync(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(crlf)]));
    // Act
    const report = await runBatchDay({ day: DAY }, testDeps(dir));
    // Assess
    expect(report.counts).toMatchObject({ received: 20, valid: 20, quarantined: 0, orders: 20 });
    expect(report.quarantineKey).toBeNull();
  });

  it('a JSONL line with bytes that are not UTF-8 is quarantined, not silently repaired', async () => {
    // Prepare: line 3 carries a Latin-1 "é" (0xE9), as a mis-configured export writes it.
    const dir = tempDir();
    const file = writeJsonlExport(dir, DAY, 'orders.jsonl', orders(40));
    const lines = readFileSync(file)
      .toString('utf8')
      .split('\n')
      .map((line) => Buffer.from(line));
    const broken = Buffer.from(JSON.stringify(order({ order_id: 'latin1', user_id: 'ren#' })));
    broken[broken.indexOf('#')] = 0xe9;
    lines.splice(2, 0, broken);
    writeFileSync(file, Buffer.concat(lines.flatMap((b, i) => (i ? [Buffer.from('\n'), b] : [b]))));
    // Act
    const report = await runBatchDay({ day: DAY }, testDeps(dir));
    // Assess
    expect(report.counts).toMatchObject({ received: 41, quarantined: 1, orders: 40 });
    const [quarantined] = quarantineOf(dir, report.quarantineKey);
    expect(quarantined?.reasons).toEqual(['record: not valid UTF-8']);
    expect(quarantined?.record_ref).toBe(`landing/orders/dt=${DAY}/orders.jsonl:3`);
    expect(quarantined?.raw).toContain('"user_id":"ren\\xE9"');
  });

  it('a CSV line with bytes that are not UTF-8 gets the same reason as a JSONL line', async () => {
    const dir = tempDir();
    const deps = testDeps(dir);
    const header = 'order_id,user_id,product_id,quantity,unit_price,currency,event_time';
    const lines = Array.from({ length: 30 }, (_, i) => `o${i},u1,p1,1,2.50,USD,${DAY}T08:00:00Z`);
    const csv = Buffer.from([header, ...lines, `o-bad,ren#,p1,1,2.50,USD,${DAY}T08:00:00Z`, ''].join('\n'));
    csv[csv.lastIndexOf('#')] = 0xe9;
    await deps.store.put(`landing/orders/dt=${DAY}/orders.csv`, csv);

    const report = await runBatchDay({ day: DAY }, deps);

    expect(report.counts).toMatchObject({ received: 31, quarantined: 1, orders: 30 });
    expect(quarantineOf(dir, report.quarantineKey).map((q) => q.reasons)).toEqual([
      ['record: not valid UTF-8'],
    ]);
  });

  it('a JSONL export rejects ids of the wrong JSON type and records with a duplicated key', async () => {
    // Prepare
    const dir = tempDir();
    const good = orders(80);
    const wrong = [
      order({ order_id: ['o-array'] }),
      order({ order_id: 'o-object', product_id: { sku: 'p1' } }),
      order({ order_id: 'o-bool', user_id: true }),
      JSON.stringify(order({ order_id: 'o-first' })).replace('"o-first"', '"o-first","order_id":"o-second"'),
    ];
    const wholeNumberIds = JSON.stringify(order({ order_id: 'n' })).replace('"n"', '9007199254740993');
    writeJsonlExport(dir, DAY, 'orders.jsonl', [
      ...good.slice(0, 20),
      ...wrong,
      wholeNumberIds,
      ...good.slice(20),
    ]);
    // Act
    const report = await runBatchDay({ day: DAY }, testDeps(dir));
    // Assess
    expect(report.counts).toMatchObject({ received: 85, quarantined: 4, orders: 81 });
    expect(quarantineOf(dir, report.quarantineKey).map((q) => q.reasons)).toEqual([
      ['order_id: must be a string or a whole number'],
      ['product_id: must be a string or a whole number'],
      ['user_id: must be a string or a whole number'],
      ['record: duplicate key order_id'],
    ]);
    const { index } = await readPublished(testDeps(dir).store);
    const facts = await parquetRows(path.join(dir, index.days[DAY]?.files.order_facts ?? ''), 'order_id');
    expect(facts.map((f) => f['order_id'])).toContain('9007199254740993');
  });
});
