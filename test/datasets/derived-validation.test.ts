import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { factsSql, loadDataset } from '../../functions/pipeline/datasets.ts';
import { withConnection } from '../../functions/pipeline/duckdb-session.ts';
import { createPolicyTables } from '../../functions/pipeline/validation-policy.ts';
import { validatedSql } from '../../functions/pipeline/validation-sql.ts';

/** A dataset the repository does not ship, with types orders does not use (enum, negative integers, optional). */
const moves = loadDataset(path.join(import.meta.dirname, 'fixtures', 'stock_moves'));

async function validate(rows: Record<string, string | null>[]) {
  return withConnection(async (connection) => {
    const fields = Object.keys(moves.fields);
    await connection.run(
      `create temp table raw_stock_moves (record_ref varchar, record_no bigint, source varchar, is_stream_record boolean,
         received_at timestamp, raw varchar, parse_error varchar, mistyped_fields varchar[],
         ${fields.map((f) => `${f} varchar`).join(', ')})`,
    );
    for (const [i, row] of rows.entries()) {
      await connection.run(
        `insert into raw_stock_moves values ($ref, $no, 'test', true, timestamp '2026-11-20 12:00:00', null, null, [],
           ${fields.map((f) => `$${f}`).join(', ')})`,
        { ref: `r${i}`, no: i, ...Object.fromEntries(fields.map((f) => [f, row[f] ?? null])) } as never,
      );
    }
    await createPolicyTables(connection, undefined, 'UTC');
    await connection.run(`create temp table validated_stock_moves as ${validatedSql(moves)}`);
    await connection.run(`create temp table stock_move_facts as ${factsSql(moves)}`);
    const validated = (
      await connection.runAndReadAll(
        'select record_ref, reasons, quantity from validated_stock_moves order by record_ref',
      )
    ).getRowObjectsJson();
    const facts = (
      await connection.runAndReadAll('select movement_id from stock_move_facts')
    ).getRowObjectsJson();
    return { validated, facts: facts.map((f) => f['movement_id']) };
  });
}

const valid = {
  movement_id: 'm1',
  product_id: 'p1',
  warehouse_id: 'w1',
  movement_type: 'adjustment',
  quantity: '-5',
  event_time: '2026-11-20T10:00:00Z',
};

describe('validation derived from a declaration the repository does not ship', () => {
  it('gives one reason per invalid field from the declared types; dedups by the declared key', async () => {
    const { validated, facts } = await validate([
      valid,
      { ...valid, movement_id: 'm1', event_time: '2026-11-20T11:00:00Z' }, // a later copy: deduped
      { ...valid, movement_id: 'm2', movement_type: 'theft', quantity: '100001' },
      { ...valid, movement_id: null, warehouse_id: 'x'.repeat(129), quantity: '1.5', event_time: 'noon' },
      { ...valid, movement_id: 'm3', reference: null, quantity: '-100000' },
    ]);
    expect(validated.map((r) => r['reasons'])).toEqual([
      [],
      [],
      ['movement_type: not one of receipt, sale, return, adjustment', 'quantity: larger than 100000'],
      [
        'movement_id: required',
        'warehouse_id: longer than 128 characters',
        'quantity: not a whole number (or more than 9 digits)',
        'event_time: not an ISO-8601 timestamp with a time zone',
      ],
      [],
    ]);
    expect(validated[0]?.['quantity']).toBe(-5);
    expect(facts.sort()).toEqual(['m1', 'm3']);
  });
});

describe('a field required unless an enum field has some values (declared, not coded)', () => {
  it('is required for every other value, with the rule in its reason; a missing value of the enum field does not exempt it', async () => {
    // Prepare: a declaration in a temp folder: product_id required unless event_type is page_view.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-unless-'));
    const folder = path.join(dir, 'taps');
    mkdirSync(path.join(folder, 'models'), { recursive: true });
    writeFileSync(
      path.join(folder, 'dataset.yaml'),
      `name: taps
source: stream+batch
fields:
  event_id: { type: id }
  event_type: { type: enum, values: [page_view, product_view] }
  product_id: { type: id, required: { unless: { event_type: [page_view] } } }
  event_time: { type: timestamp }
event_time: event_time
key: [event_id]
models: {}
`,
    );
    const taps = loadDataset(folder);
    const rows = [
      { event_id: 'e1', event_type: 'page_view', product_id: null },
      { event_id: 'e2', event_type: 'product_view', product_id: null },
      { event_id: 'e3', event_type: 'product_view', product_id: 'p1' },
      { event_id: 'e4', event_type: null, product_id: null },
    ];

    // Act
    const reasons = await withConnection(async (connection) => {
      await connection.run(
        `create temp table raw_taps (record_ref varchar, record_no bigint, source varchar, is_stream_record boolean,
           received_at timestamp, raw varchar, parse_error varchar, mistyped_fields varchar[],
           event_id varchar, event_type varchar, product_id varchar, event_time varchar)`,
      );
      for (const [i, r] of rows.entries()) {
        await connection.run(
          `insert into raw_taps values ($ref, $no, 'test', true, timestamp '2026-11-20 12:00:00', null, null, [],
             $event_id, $event_type, $product_id, '2026-11-20T10:00:00Z')`,
          { ref: `r${i}`, no: i, ...r } as never,
        );
      }
      await createPolicyTables(connection, undefined, 'UTC');
      return (
        await connection.runAndReadAll(`select reasons from (${validatedSql(taps)}) order by record_ref`)
      )
        .getRowObjectsJson()
        .map((r) => r['reasons']);
    });

    // Assess
    expect(reasons).toEqual([
      [],
      ['product_id: required unless event_type is page_view'],
      [],
      ['event_type: required', 'product_id: required unless event_type is page_view'],
    ]);
    writeFileSync(
      path.join(folder, 'dataset.yaml'),
      `name: taps
source: batch
fields:
  event_id: { type: id }
  event_type: { type: enum, values: [page_view] }
  product_id: { type: id, required: { unless: { event_type: [checkout] } } }
  event_time: { type: timestamp }
event_time: event_time
key: [event_id]
models: {}
`,
    );
    expect(() => loadDataset(folder)).toThrow(
      /fields\.product_id\.required\.unless\.event_type: "checkout" is not one of its values/,
    );
  });
});

describe('an integer positive unless an enum field has some values (declared, not coded)', () => {
  it('refuses 0 and negative values for every other value, with the rule in its reason; the exempt value may be negative', async () => {
    // Prepare: inventory's rule in a temp folder: quantity > 0 unless movement_type is adjustment.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'twinflow-positive-'));
    const folder = path.join(dir, 'moves');
    mkdirSync(path.join(folder, 'models'), { recursive: true });
    const declaration = (values: string) => `name: moves
source: stream+batch
fields:
  movement_id: { type: id }
  movement_type: { type: enum, values: [receipt, adjustment] }
  quantity: { type: integer, min: -100, max: 100, positive: { unless: { movement_type: [${values}] } } }
  event_time: { type: timestamp }
event_time: event_time
key: [movement_id]
models: {}
`;
    writeFileSync(path.join(folder, 'dataset.yaml'), declaration('adjustment'));
    const moves = loadDataset(folder);
    const rows = [
      ['receipt', '5'],
      ['receipt', '0'],
      ['receipt', '-3'],
      ['adjustment', '-3'],
      ['adjustment', '0'],
      [null, '-3'],
      ['adjustment', '-101'],
    ];

    // Act
    const reasons = await withConnection(async (connection) => {
      await connection.run(
        `create temp table raw_moves (record_ref varchar, record_no bigint, source varchar, is_stream_record boolean,
           received_at timestamp, raw varchar, parse_error varchar, mistyped_fields varchar[],
           movement_id varchar, movement_type varchar, quantity varchar, event_time varchar)`,
      );
      for (const [i, [type, quantity]] of rows.entries()) {
        await connection.run(
          `insert into raw_moves values ($ref, $no, 'test', true, timestamp '2026-11-20 12:00:00', null, null, [],
             $ref, $type, $quantity, '2026-11-20T10:00:00Z')`,
          { ref: `r${i}`, no: i, type, quantity } as never,
        );
      }
      await createPolicyTables(connection, undefined, 'UTC');
      return (
        await connection.runAndReadAll(`select reasons from (${validatedSql(moves)}) order by record_ref`)
      )
        .getRowObjectsJson()
        .map((r) => r['reasons']);
    });

    // Assess
    const rule = 'quantity: must be greater than 0 unless movement_type is adjustment';
    expect(reasons).toEqual([
      [],
      [rule],
      [rule],
      [],
      [],
      ['movement_type: required', rule],
      ['quantity: must be greater than -101'],
    ]);
    writeFileSync(path.join(folder, 'dataset.yaml'), declaration('theft'));
    expect(() => loadDataset(folder)).toThrow(
      /fields\.quantity\.positive\.unless\.movement_type: "theft" is not one of its values/,
    );
  });
});
