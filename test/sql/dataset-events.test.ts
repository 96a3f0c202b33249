import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { validateRawTable } from '../../functions/pipeline/dataset-views.ts';
import { type Dataset, listDatasets } from '../../functions/pipeline/datasets.ts';
import { dayRange } from '../../functions/pipeline/dates.ts';
import { withConnection } from '../../functions/pipeline/duckdb-session.ts';
import { appendJsonRecords, createRawTable } from '../../functions/pipeline/record-sources.ts';
import { validationPolicy } from '../../functions/pipeline/validation-policy.ts';
import {
  type DatasetEventsInput,
  datasetEventsForDay,
  type GeneratedRecord,
  plannedCounts,
} from '../../local/dataset-events.ts';
import { projectDatasets } from '../cli/project-datasets.ts';

let datasetsDir: string;
beforeAll(() => {
  // The shared SQL models are found by name among the declared datasets: these tests declare the fixtures.
  datasetsDir = projectDatasets(mkdtempSync(path.join(os.tmpdir(), 'twinflow-datasets-')), [
    'stock_moves',
    'cycle_counts',
  ]);
  vi.stubEnv('TWINFLOW_DATASETS_DIR', datasetsDir);
});
afterAll(() => {
  vi.unstubAllEnvs();
  rmSync(datasetsDir, { recursive: true, force: true });
});

/** The shipped datasets, stock_moves and cycle_counts (fixtures): every field type the declarations offer. */
function declared(): Dataset[] {
  return listDatasets(datasetsDir);
}

interface Verdict {
  ref: string;
  is_valid: boolean;
  reasons: string[];
}

/** Each record through the dataset's own validation (real DuckDB), as the stream would receive it. */
async function validate(
  ds: Dataset,
  records: readonly GeneratedRecord[],
  options: { currencies?: readonly string[]; timeZone?: string } = {},
): Promise<Verdict[]> {
  return withConnection(async (connection) => {
    await createRawTable(connection, ds);
    await appendJsonRecords(
      connection,
      records.map((r, i) => ({
        ref: String(i).padStart(6, '0'),
        line: JSON.stringify(r.event),
        receivedAt: new Date('2100-01-01T00:00:00Z'),
      })),
      { source: 'generated', isEventIdRequired: true },
      ds,
    );
    await validateRawTable(
      connection,
      validationPolicy({ currencies: options.currencies ?? [] }),
      options.timeZone ?? 'UTC',
      ds,
    );
    const reader = await connection.runAndReadAll(
      `select record_ref as ref, is_valid, reasons from validated_${ds.name} order by record_ref`,
    );
    return reader.getRowObjectsJson() as unknown as Verdict[];
  });
}

const keyOf = (ds: Dataset, record: GeneratedRecord) => ds.key.map((k) => record.event[k]).join('|');

describe('events generated from a declaration', () => {
  it('validate under their own dataset, for every declared dataset and field type', async () => {
    for (const ds of declared()) {
      // Prepare
      const input: DatasetEventsInput = {
        day: '2026-11-20',
        count: 400,
        seed: 5,
        currencies: ['EUR', 'JPY'],
      };

      // Act
      const records = [...datasetEventsForDay(ds, input)];
      const verdicts = await validate(ds, records, { currencies: ['EUR', 'JPY'] });

      // Assess
      expect(records, ds.name).toHaveLength(400);
      expect(
        verdicts.filter((v) => !v.is_valid),
        ds.name,
      ).toEqual([]);
      expect(new Set(records.map((r) => keyOf(ds, r))).size, ds.name).toBe(400);
    }
  });

  it('fill each field within its declaration: bounds, scale, values, currencies, optional fields', () => {
    const ds = declared().find((d) => d.name === 'cycle_counts') as Dataset;
    const events = [
      ...datasetEventsForDay(ds, { day: '2026-11-20', count: 2000, seed: 9, currencies: ['USD', 'GBP'] }),
    ].map((r) => r.event);
    const counted = events.map((e) => Number(e['counted']));
    expect(Math.min(...counted)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...counted)).toBeLessThanOrEqual(1_000_000);
    // Mostly small, now and then anywhere in the range.
    expect(counted.filter((n) => n <= 10).length).toBeGreaterThan(1500);
    expect(counted.some((n) => n > 1000)).toBe(true);
    for (const e of events) {
      expect(String(e['unit_cost'])).toMatch(/^\d{1,4}\.\d{4}$/);
      expect(Number(e['unit_cost'])).toBeLessThanOrEqual(5000);
    }
    expect(new Set(events.map((e) => e['method']))).toEqual(new Set(['cycle', 'full']));
    // The field's default EUR is not accepted by this stage: its currencies are.
    expect(new Set(events.map((e) => e['currency']))).toEqual(new Set(['USD', 'GBP']));
    const notes = events.filter((e) => e['note'] === null).length;
    expect(notes).toBeGreaterThan(300);
    expect(notes).toBeLessThan(700);
    expect(events.every((e) => e['count_id'] !== null && e['counted_at'] !== null)).toBe(true);
  });

  it('honour positive: a record the rule binds gets 1 or more, an exempt one anything in range; malformed ones may break the rule', async () => {
    // Prepare: inventory's quantity is positive unless movement_type is adjustment.
    const ds = declared().find((d) => d.name === 'inventory') as Dataset;
    const input = { day: '2026-11-20', count: 4000, seed: 3, invalidShare: 0.05 };

    // Act
    const records = [...datasetEventsForDay(ds, input)];
    const verdicts = await validate(ds, records);

    // Assess
    const quantity = (r: GeneratedRecord) => Number(r.event['quantity']);
    const valid = records.filter((r) => r.kind !== 'invalid');
    const bound = valid.filter((r) => r.event['movement_type'] !== 'adjustment').map(quantity);
    const exempt = valid.filter((r) => r.event['movement_type'] === 'adjustment').map(quantity);
    expect(Math.min(...bound)).toBe(1);
    expect(bound.some((q) => q > 1000)).toBe(true);
    expect(exempt.some((q) => q < -9)).toBe(true);
    expect(exempt.some((q) => q <= 0) && exempt.some((q) => q > 0)).toBe(true);
    expect(Math.min(...exempt)).toBeGreaterThanOrEqual(-1_000_000);
    expect(Math.max(...exempt)).toBeLessThanOrEqual(1_000_000);
    const rejected = verdicts.filter((v) => !v.is_valid);
    expect(rejected.map((v) => Number(v.ref))).toEqual(
      records.flatMap((r, i) => (r.kind === 'invalid' ? [i] : [])),
    );
    // One reason each: a broken movement_type ends the exemption, so its quantity is positive too.
    expect(rejected.every((v) => v.reasons.length === 1)).toBe(true);
    const reasons = rejected.map((v) => v.reasons[0]);
    expect(reasons).toContain('quantity: must be greater than 0 unless movement_type is adjustment');
    expect(reasons).toContain('movement_type: not one of receipt, sale, return, adjustment');
  });

  it('a currency field without a stage list is its default', () => {
    const ds = declared().find((d) => d.name === 'cycle_counts') as Dataset;
    const events = [...datasetEventsForDay(ds, { day: '2026-11-20', count: 100 })];
    expect(new Set(events.map((r) => r.event['currency']))).toEqual(new Set(['EUR']));
  });

  it.each([
    ['UTC', '2026-11-20'],
    ['Asia/Taipei', '2026-11-20'],
    ['Asia/Kolkata', '2026-11-20'],
    ['America/New_York', '2026-11-01'], // 25 hours
  ])('spread event times over the reporting day in %s, ascending', (timeZone, day) => {
    const ds = declared().find((d) => d.name === 'stock_moves') as Dataset;
    const times = [...datasetEventsForDay(ds, { day, count: 3000, seed: 2, timeZone })].map((r) =>
      Date.parse(String(r.event['event_time'])),
    );
    const { start, end } = dayRange(day, timeZone);
    expect(times).toHaveLength(3000);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(start.getTime());
    expect(Math.max(...times)).toBeLessThan(end.getTime());
    expect(times).toEqual([...times].sort((a, b) => a - b));
    // Every local hour of the day has events (the day curve, not a bunch at midnight).
    const hours = new Set(times.map((t) => Math.floor((t - start.getTime()) / 3_600_000)));
    expect(hours.size).toBe(Math.round((end.getTime() - start.getTime()) / 3_600_000));
  });

  it('are the same for the same seed and differ for another', () => {
    const ds = declared().find((d) => d.name === 'stock_moves') as Dataset;
    const input = { day: '2026-11-20', count: 300, duplicateShare: 0.1, invalidShare: 0.05 };
    const once = [...datasetEventsForDay(ds, { ...input, seed: 7 })];
    const again = [...datasetEventsForDay(ds, { ...input, seed: 7 })];
    const other = [...datasetEventsForDay(ds, { ...input, seed: 8 })];
    expect(again).toEqual(once);
    expect(other).not.toEqual(once);
  });

  it('hold exactly the asked share of duplicates (an earlier key, later) and of invalid records (one reason each)', async () => {
    for (const ds of declared()) {
      // Prepare
      const input = { day: '2026-11-20', count: 500, seed: 11, duplicateShare: 0.1, invalidShare: 0.04 };

      // Act
      const records = [...datasetEventsForDay(ds, input)];
      const verdicts = await validate(ds, records);

      // Assess
      expect(plannedCounts(input), ds.name).toEqual({ events: 430, duplicates: 50, invalid: 20 });
      const byKind = (kind: string) => records.flatMap((r, i) => (r.kind === kind ? [i] : []));
      expect(byKind('duplicate'), ds.name).toHaveLength(50);
      expect(byKind('invalid'), ds.name).toHaveLength(20);
      const rejected = verdicts.filter((v) => !v.is_valid);
      expect(
        rejected.map((v) => Number(v.ref)),
        ds.name,
      ).toEqual(byKind('invalid'));
      expect(rejected.every((v) => v.reasons.length === 1)).toBe(true);
      // Each field gets broken in turn, so the reasons name more than one field.
      expect(new Set(rejected.map((v) => v.reasons[0]?.split(':')[0])).size).toBeGreaterThan(3);
      const firstSeen = new Map<string, number>();
      records.forEach((r, i) => {
        if (r.kind === 'event') firstSeen.set(keyOf(ds, r), i);
      });
      for (const i of byKind('duplicate')) {
        const record = records[i] as GeneratedRecord;
        const original = firstSeen.get(keyOf(ds, record));
        expect(original, `${ds.name} duplicate ${i}`).toBeLessThan(i);
        const time = (r: GeneratedRecord) => Date.parse(String(r.event[ds.eventTime]));
        expect(time(record)).toBeGreaterThanOrEqual(time(records[original as number] as GeneratedRecord));
      }
      // Distinct valid keys: what the dedup rule keeps.
      const validKeys = new Set(records.filter((r) => r.kind !== 'invalid').map((r) => keyOf(ds, r)));
      expect(validKeys.size, ds.name).toBe(430);
    }
  });

  it('refuse shares outside 0..1 or adding up to more than all records', () => {
    const ds = declared()[0] as Dataset;
    const day = '2026-11-20';
    expect(() => [...datasetEventsForDay(ds, { day, count: 10, invalidShare: 1.5 })]).toThrow(
      /malformed share must be 0..1, got 1.5/,
    );
    expect(() => [...datasetEventsForDay(ds, { day, count: 10, duplicateShare: -0.1 })]).toThrow(
      /duplicates share must be 0..1/,
    );
    expect(() => [
      ...datasetEventsForDay(ds, { day, count: 10, duplicateShare: 0.6, invalidShare: 0.6 }),
    ]).toThrow(/add up to more than 1/);
    // All duplicates: the first record must be an event for the others to repeat.
    expect(plannedCounts({ count: 10, duplicateShare: 1 })).toEqual({ events: 1, duplicates: 9, invalid: 0 });
  });
});
