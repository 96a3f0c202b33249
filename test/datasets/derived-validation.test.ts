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
