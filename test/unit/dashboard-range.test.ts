import { describe, expect, it } from 'vitest';
import { bucketStarts, presetRange } from '../../dashboard/range.ts';

const iso = (ms: number) => new Date(ms).toISOString();

describe('dashboard ranges follow the reporting time zone at day granularity', () => {
  it('day buckets start at midnight of the zone, as the API cuts them; minutes and hours stay UTC', () => {
    const range = { start: new Date('2026-11-18T16:00:00Z'), end: new Date('2026-11-20T16:00:00Z') };
    expect(bucketStarts(range, 'day', 'Asia/Taipei').map(iso)).toEqual([
      '2026-11-18T16:00:00.000Z',
      '2026-11-19T16:00:00.000Z',
    ]);
    expect(bucketStarts(range, 'day').map(iso)).toEqual([
      '2026-11-18T00:00:00.000Z',
      '2026-11-19T00:00:00.000Z',
      '2026-11-20T00:00:00.000Z',
    ]);
    expect(bucketStarts(range, 'hour', 'Asia/Kolkata')[0]).toBe(Date.parse('2026-11-18T16:00:00Z'));
    // New York's 25-hour day is one bucket.
    const fall = { start: new Date('2026-10-31T04:00:00Z'), end: new Date('2026-11-03T05:00:00Z') };
    expect(bucketStarts(fall, 'day', 'America/New_York').map(iso)).toEqual([
      '2026-10-31T04:00:00.000Z',
      '2026-11-01T04:00:00.000Z',
      '2026-11-02T05:00:00.000Z',
    ]);
  });

  it('a day preset is whole days of the zone ending with today', () => {
    const now = new Date('2026-11-20T17:00:00Z'); // 01:00 on the 21st in Taipei
    const range = presetRange('7d', 'day', now, 'Asia/Taipei');
    expect([iso(range.start.getTime()), iso(range.end.getTime())]).toEqual([
      '2026-11-14T16:00:00.000Z',
      '2026-11-21T16:00:00.000Z',
    ]);
  });
});
