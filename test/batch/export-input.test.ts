import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type BatchRunReport, runBatchDay } from '../../functions/batch/run-batch-day.ts';
import { readPublished } from '../../functions/pipeline/batch-published.ts';
import { sqlPath, withConnection } from '../../functions/pipeline/duckdb-session.ts';
import { lake } from '../../functions/pipeline/lake-layout.ts';
import { getJson } from '../../functions/pipeline/object-store.ts';
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

/** Writes `select` as a Parquet export of DAY with DuckDB, which keeps the column types the select gives. */
async function writeParquetExport(dir: string, name: string, select: string): Promise<string> {
  const file = path.join(dir, 'landing', 'orders', `dt=${DAY}`, name);
  mkdirSync(path.dirname(file), { recursive: true });
  await withConnection((connection) =>
    connection.run(`copy (${select}) to ${sqlPath(file)} (format parquet, compression uncompressed)`),
  );
  return file;
}

/** Replaces every `marker` in an uncompressed file with `bytes` of the same length (a value, its statistics). */
function patchBytes(file: string, marker: string, bytes: number[]): void {
  const content = readFileSync(file);
  const patch = Buffer.from(bytes);
  expect(patch.length).toBe(Buffer.byteLength(marker));
  let count = 0;
  for (let at = content.indexOf(marker); at !== -1; at = content.indexOf(marker, at + 1)) {
    patch.copy(content, at);
    count += 1;
  }
  expect(count, `${marker} in ${file}`).toBeGreaterThan(0);
  writeFileSync(file, content);
}

/**
 * Marks the file's one millisecond timestamp column as UTC-adjusted, as Spark (TIMESTAMP_MILLIS) and pyarrow
 * (coerce_timestamps='ms' on a tz-aware column) write it; DuckDB only writes such columns unadjusted. In the
 * footer's compact Thrift, TimestampType's isAdjustedToUTC is the field header right after the TIMESTAMP member
 * (0x8c): 0x12 is false, 0x11 true; the unit that follows is MILLIS (0x1c 0x1c 0x00).
 */
function markMillisecondsUtc(file: string): void {
  const bytes = readFileSync(file);
  const unadjustedMillis = Buffer.from([0x8c, 0x12, 0x1c, 0x1c, 0x00]);
  const at = bytes.indexOf(unadjustedMillis);
  expect(at, 'an unadjusted TIMESTAMP(MILLIS) column').toBeGreaterThan(0);
  expect(bytes.indexOf(unadjustedMillis, at + 1), 'exactly one').toBe(-1);
  bytes[at + 1] = 0x11;
  writeFileSync(file, bytes);
}

/** Selects `n` orders of DAY, one a minute from 10:00, with SQL expressions over `i` (0..n-1) for some fields. */
function typedOrders(n: number, columns: Record<string, string>): string {
  const base: Record<string, string> = {
    event_id: `'e' || i`,
    order_id: `'o' || i`,
    user_id: `'u1'`,
    product_id: `'p' || (i % 2)`,
    quantity: '1',
    unit_price: `'10.00'`,
    currency: `'USD'`,
    event_time: `timestamptz '${DAY} 10:00:00+00' + to_minutes(i)`,
    ...columns,
  };
  return `select ${Object.entries(base)
    .map(([name, expr]) => `${expr} as ${name}`)
    .join(', ')} from range(${n}) t(i)`;
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

  it('a rejected CSV row is named by its row number in the file (rows numbered in file order, in parallel reads too)', async () => {
    const dir = tempDir();
    const deps = testDeps(dir);
    const header = 'order_id,user_id,product_id,quantity,unit_price,currency,event_time';
    // Enough rows for DuckDB to read the file in several parallel chunks; rows 7 and 150000 are invalid.
    const lines = Array.from({ length: 200_000 }, (_, i) =>
      i === 6 || i === 149_999
        ? `bad${i},u1,p1,0,2.50,USD,${DAY}T08:00:00Z`
        : `o${i},u1,p1,1,2.50,USD,${DAY}T08:00:00Z`,
    );
    await deps.store.put(`landing/orders/dt=${DAY}/orders.csv`, [header, ...lines, ''].join('\n'));

    const report = await runBatchDay({ day: DAY, thresholds: { force: true } }, deps);

    expect(report.counts).toMatchObject({ received: 200_000, quarantined: 2 });
    expect(
      quarantineOf(dir, report.quarantineKey)
        .map((q) => q.record_ref)
        .sort(),
    ).toEqual([
      `landing/orders/dt=${DAY}/orders.csv:row-150000`,
      `landing/orders/dt=${DAY}/orders.csv:row-7`,
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

  it('typed Parquet columns are read as the values they unambiguously hold', async () => {
    // Prepare: what Spark, Glue and pandas write: DECIMAL(10,4) prices, DOUBLE and DECIMAL quantities, integer and
    // UUID ids, UTC-adjusted timestamps in micro- and milliseconds, a FLOAT price that happens to be whole.
    const dir = tempDir();
    await writeParquetExport(
      dir,
      'spark.parquet',
      typedOrders(60, {
        order_id: 'i::bigint',
        user_id: '(i % 7)::integer',
        quantity: '2.0::double',
        unit_price: '19.9900::decimal(10,4)',
      }),
    );
    const pandas = await writeParquetExport(
      dir,
      'pandas.parquet',
      typedOrders(40, {
        order_id: `'pd' || i`,
        event_id: `('00000000-0000-4000-8000-' || lpad(i::varchar, 12, '0'))::uuid`,
        quantity: '3.00::decimal(10,2)',
        unit_price: 'if(i % 2 = 0, 19.99::double, 5.0::float)',
        event_time: `(timestamp '${DAY} 12:00:00' + to_minutes(i))::timestamp_ms`,
      }),
    );
    markMillisecondsUtc(pandas);
    // Act
    const report = await runBatchDay({ day: DAY }, testDeps(dir));
    // Assess
    expect(report.counts).toMatchObject({ received: 100, valid: 100, quarantined: 0, orders: 100 });
    const { index } = await readPublished(testDeps(dir).store);
    const daily = await parquetRows(path.join(dir, index.days[DAY]?.files.daily_sales ?? ''), 'product_id');
    // p0: 30 × 2 × 19.99 (Spark) + 20 × 3 × 19.99 (pandas, DOUBLE); p1: 30 × 2 × 19.99 + 20 × 3 × 5.00 (FLOAT).
    expect(daily.map((d) => [d['product_id'], d['orders'], d['units'], d['revenue']])).toEqual([
      ['p0', '50', '120', '2398.80'],
      ['p1', '50', '120', '1499.40'],
    ]);
    const minutes = await parquetRows(
      path.join(dir, index.days[DAY]?.files.sales_minute ?? ''),
      'window_start',
    );
    expect(minutes.at(-1)?.['window_start']).toBe(`${DAY} 12:39:00`);
  });

  it('typed values that are not unambiguous are quarantined with the reason of their field', async () => {
    // Prepare: 148 good rows; then a price with a 4th decimal place, a fractional DOUBLE quantity, a FLOAT
    // price that is not 19.99, a boolean id; and files whose event time states no zone.
    const dir = tempDir();
    await writeParquetExport(
      dir,
      'typed.parquet',
      typedOrders(150, {
        quantity: 'if(i = 101, 2.5, 2.0)::double',
        unit_price: 'if(i = 100, 19.9950, 19.9900)::decimal(10,4)',
      }),
    );
    await writeParquetExport(
      dir,
      'float.parquet',
      typedOrders(1, { order_id: `'f'`, unit_price: '19.99::float' }),
    );
    await writeParquetExport(dir, 'bool-id.parquet', typedOrders(1, { order_id: 'true' }));
    await writeParquetExport(
      dir,
      'naive.parquet',
      typedOrders(1, { order_id: `'n'`, event_time: `timestamp '${DAY} 10:00:00'` }),
    );
    await writeParquetExport(
      dir,
      'epoch.parquet',
      typedOrders(1, { order_id: `'m'`, event_time: `epoch_ms(timestamp '${DAY} 10:00:00')` }),
    );
    // Act
    const report = await runBatchDay({ day: DAY }, testDeps(dir));
    // Assess
    expect(report.counts).toMatchObject({ received: 154, quarantined: 6, orders: 148 });
    const byRaw = quarantineOf(dir, report.quarantineKey).map((q) => [JSON.parse(q.raw), q.reasons]);
    expect(byRaw).toEqual(
      expect.arrayContaining([
        [expect.objectContaining({ unit_price: '19.9950' }), ['unit_price: more than 2 decimal places']],
        [
          expect.objectContaining({ quantity: '2.5' }),
          ['quantity: not a whole number (or more than 9 digits)'],
        ],
        [
          expect.objectContaining({ unit_price: '19.989999771118164' }),
          ['unit_price: more than 2 decimal places'],
        ],
        [expect.objectContaining({ order_id: 'true' }), ['order_id: must be a string or a whole number']],
        [
          expect.objectContaining({ event_time: `${DAY} 10:00:00` }),
          ['event_time: not an ISO-8601 timestamp with a time zone'],
        ],
        [
          expect.objectContaining({ event_time: '1795168800000' }),
          ['event_time: not an ISO-8601 timestamp with a time zone'],
        ],
      ]),
    );
  });

  it('a failed gate still quarantines the rejected records and names the top reasons', async () => {
    // Prepare: an export where nothing is valid, for three different reasons.
    const dir = tempDir();
    const deps = testDeps(dir);
    await writeParquetExport(
      dir,
      'typed.parquet',
      typedOrders(85, {
        quantity: 'if(i < 60, 2.0, 2.5)::double',
        unit_price: 'if(i < 60, 19.9950, 19.9900)::decimal(10,4)',
      }),
    );
    await writeParquetExport(
      dir,
      'naive.parquet',
      typedOrders(15, { order_id: `'n' || i`, event_time: `timestamp '${DAY} 10:00:00' + to_minutes(i)` }),
    );
    // Act
    const run = runBatchDay({ day: DAY }, deps);
    // Assess
    const topReasons = [
      { reason: 'unit_price: more than 2 decimal places', count: 60 },
      { reason: 'quantity: not a whole number (or more than 9 digits)', count: 25 },
      { reason: 'event_time: not an ISO-8601 timestamp with a time zone', count: 15 },
    ];
    await expect(run).rejects.toThrow(
      'malformed_share: 100 of 100 records invalid (100.00 %, limit 5.00 %); top reasons: ' +
        topReasons.map((r) => `${r.reason} ×${r.count}`).join(', '),
    );
    const [reportInfo] = await deps.store.list(lake.batchRunReportPrefix(DAY));
    const report = (await getJson<BatchRunReport>(deps.store, reportInfo?.key ?? ''))?.value;
    expect(report).toMatchObject({
      status: 'failed',
      counts: { received: 100, quarantined: 100 },
      topReasons,
    });
    const quarantined = quarantineOf(dir, report?.quarantineKey ?? null);
    expect(quarantined).toHaveLength(100);
    expect(quarantined.filter((q) => q.record_ref.endsWith('naive.parquet:row-1'))).toHaveLength(1);
    expect(await readPublished(deps.store).then(({ index }) => index.days[DAY])).toBeUndefined();
  });

  it('a Parquet binary column with bytes that are not UTF-8 quarantines the record, like a JSONL line', async () => {
    // Prepare: strings written as BYTE_ARRAY without the UTF8 annotation (older Hive and Impala writers), which
    // DuckDB reads as BLOB and would otherwise print as escaped text; one of them is Latin-1.
    const dir = tempDir();
    const file = await writeParquetExport(
      dir,
      'binary.parquet',
      typedOrders(30, { user_id: `encode(if(i = 7, 'ren#', 'rené'))` }),
    );
    patchBytes(file, 'ren#', [0x72, 0x65, 0x6e, 0xe9]);
    // Act
    const report = await runBatchDay({ day: DAY }, testDeps(dir));
    // Assess
    expect(report.counts).toMatchObject({ received: 30, quarantined: 1, orders: 29 });
    const [quarantined] = quarantineOf(dir, report.quarantineKey);
    expect(quarantined).toMatchObject({
      record_ref: `landing/orders/dt=${DAY}/binary.parquet:row-8`,
      reasons: ['record: not valid UTF-8'],
    });
  });

  it('a Parquet string column with bytes that are not UTF-8 fails the day naming the file', async () => {
    // Prepare: DuckDB refuses to read such a file at all, so no single record can be quarantined.
    const dir = tempDir();
    const deps = testDeps(dir);
    await writeParquetExport(dir, 'good.parquet', typedOrders(30, {}));
    const file = await writeParquetExport(
      dir,
      'latin1.parquet',
      typedOrders(30, { order_id: `'x' || i`, user_id: `if(i = 7, 'ren#', 'rené')` }),
    );
    patchBytes(file, 'ren#', [0x72, 0x65, 0x6e, 0xe9]);
    // Act
    const run = runBatchDay({ day: DAY }, deps);
    // Assess
    await expect(run).rejects.toThrow(
      `schema: landing/orders/dt=${DAY}/latin1.parquet is not readable: ` +
        'a string column holds bytes that are not valid UTF-8 (value "ren\\xE9")',
    );
    const [reportInfo] = await deps.store.list(lake.batchRunReportPrefix(DAY));
    const report = (await getJson<BatchRunReport>(deps.store, reportInfo?.key ?? ''))?.value;
    expect(report).toMatchObject({ status: 'failed', counts: { received: 30, orders: 30 } });
  });
});
