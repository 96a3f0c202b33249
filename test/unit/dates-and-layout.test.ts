import { describe, expect, it } from 'vitest';
import { batchBoundary, type PublishedIndex } from '../../functions/pipeline/batch-published.ts';
import { addDays, daysBetween, parseDay } from '../../functions/pipeline/dates.ts';
import { lake, partitionOf } from '../../functions/pipeline/lake-layout.ts';

describe('dates', () => {
  it('accepts calendar days and rejects impossible ones by name', () => {
    expect(parseDay('2024-02-29')).toBe('2024-02-29');
    expect(() => parseDay('2026-02-29', 'start-date')).toThrow('start-date is not a calendar date');
    expect(() => parseDay('2026-1-01')).toThrow('date must be a date YYYY-MM-DD');
  });

  it('lists a range inclusively across month ends and refuses reversed ranges', () => {
    expect(daysBetween('2026-02-27', '2026-03-02')).toEqual([
      '2026-02-27',
      '2026-02-28',
      '2026-03-01',
      '2026-03-02',
    ]);
    expect(() => daysBetween('2026-03-02', '2026-03-01')).toThrow('end-date 2026-03-01 is before start-date');
    expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
  });
});

describe('lake layout', () => {
  it('builds Hive-partitioned keys and reads the partition back', () => {
    const key = lake.streamArchive('2026-11-20', '07', 'abc123');
    expect(key).toBe('stream/orders/dt=2026-11-20/hour=07/abc123.parquet');
    expect(partitionOf(key)).toEqual({ day: '2026-11-20', hour: '07' });
  });

  it('refuses names that would escape their partition', () => {
    expect(() => lake.quarantine('2026-11-20', '../../etc')).toThrow('source id is not a safe name');
    expect(() => lake.realtimePartial('2026-11-20', '24', 'b')).toThrow('hour must be 00..23');
  });
});

describe('batch boundary', () => {
  const index = (days: string[]): PublishedIndex => ({
    updatedAt: '',
    days: Object.fromEntries(
      days.map((day) => [
        day,
        {
          day,
          version: 'v',
          runId: 'r',
          publishedAt: '',
          orders: 1,
          revenue_by_currency: { USD: '1.00' },
          files: { sales_minute: '', daily_sales: '', order_facts: '' },
        },
      ]),
    ),
  });

  it('is the end of the contiguous published range', () => {
    expect(batchBoundary(index([]))).toBeNull();
    expect(batchBoundary(index(['2026-11-18', '2026-11-19']))).toBe('2026-11-20T00:00:00.000Z');
    expect(batchBoundary(index(['2026-11-15', '2026-11-16', '2026-11-18']))).toBe('2026-11-17T00:00:00.000Z');
  });
});
