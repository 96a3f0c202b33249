import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../functions/pipeline/errors.ts';
import { centsOf, formatCents } from '../../functions/serving/money.ts';
import {
  paramsFromQueryString,
  parseInstant,
  parseSalesParams,
  parseWindowsParams,
} from '../../functions/serving/query-params.ts';

function parameterOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    if (error instanceof InvalidInputError) return error.parameter;
    throw error;
  }
  return undefined;
}

describe('serving parameters', () => {
  it.each([
    ['2026-11-20', '2026-11-20T00:00:00.000Z'],
    ['2026-11-20T10:00Z', '2026-11-20T10:00:00.000Z'],
    ['2026-11-20T12:00:00+02:00', '2026-11-20T10:00:00.000Z'],
    ['2026-11-20T12:00:00 02:00', '2026-11-20T10:00:00.000Z'],
    ['2026-11-20T05:30:00-0430', '2026-11-20T10:00:00.000Z'],
    ['2026-11-20T10:00:00.123456789Z', '2026-11-20T10:00:00.123Z'],
    ['2024-02-29T00:00:00Z', '2024-02-29T00:00:00.000Z'],
  ])('reads %s as %s', (raw, iso) => {
    expect(parseInstant(raw, 'start').toISOString()).toBe(iso);
  });

  it.each([
    '2026-02-29',
    '2026-11-20T10:00:00',
    '2026-11-20T24:00Z',
    '2026-11-20T10:00:60Z',
    '1969-12-31',
    'now',
    '',
  ])('refuses %j naming the parameter', (raw) => {
    expect(parameterOf(() => parseInstant(raw, 'end'))).toBe('end');
  });

  it('applies defaults and keeps the product id as data', () => {
    const query = parseSalesParams({ start: '2026-11-20', end: '2026-11-21', product_id: "x' or 1=1" });
    expect(query).toEqual({
      start: new Date('2026-11-20T00:00:00Z'),
      end: new Date('2026-11-21T00:00:00Z'),
      granularity: 'hour',
      productId: "x' or 1=1",
      timeZone: 'UTC',
    });
  });

  it('reads a day in tz (default: the lake zone) and refuses a zone that is not an IANA name', () => {
    const taipei = parseSalesParams({ start: '2026-11-20', tz: 'Asia/Taipei' });
    expect([taipei.start.toISOString(), taipei.end.toISOString()]).toEqual([
      '2026-11-19T16:00:00.000Z',
      '2026-11-20T16:00:00.000Z',
    ]);
    const kolkata = parseSalesParams({ start: '2026-11-20', end: '2026-11-22' }, new Date(), 'Asia/Kolkata');
    expect([kolkata.start.toISOString(), kolkata.end.toISOString(), kolkata.timeZone]).toEqual([
      '2026-11-19T18:30:00.000Z',
      '2026-11-21T18:30:00.000Z',
      'Asia/Kolkata',
    ]);
    // The 25-hour day New York falls back.
    const fallBack = parseSalesParams({ start: '2026-11-01', tz: 'America/New_York' });
    expect(fallBack.end.getTime() - fallBack.start.getTime()).toBe(25 * 3_600_000);
    // An instant keeps its own offset whatever tz says.
    expect(
      parseSalesParams({ start: '2026-11-20T10:00:00Z', tz: 'Asia/Taipei' }, new Date('2026-11-21')).start,
    ).toEqual(new Date('2026-11-20T10:00:00Z'));
    for (const tz of ['Mars/Olympus', '+08:00', 'UTC+8', '']) {
      expect(parameterOf(() => parseSalesParams({ start: '2026-11-20', tz }))).toBe('tz');
    }
  });

  it('without end, a day start means that day and an instant means until now', () => {
    const now = new Date('2026-11-21T10:30:00Z');
    expect(parseSalesParams({ start: '2026-11-20' }, now).end).toEqual(new Date('2026-11-21T00:00:00Z'));
    expect(parseSalesParams({ start: '2026-11-21T08:00:00Z' }, now).end).toEqual(now);
    expect(parameterOf(() => parseSalesParams({ start: '2026-11-21T11:00:00Z' }, now))).toBe('end');
  });

  it('names the parameter of each mistake', () => {
    const ok = { start: '2026-11-20', end: '2026-11-21' };
    expect(parameterOf(() => parseSalesParams({ end: '2026-11-21' }))).toBe('start');
    expect(parameterOf(() => parseSalesParams({ ...ok, granularity: 'week' }))).toBe('granularity');
    expect(parameterOf(() => parseSalesParams({ ...ok, group_by: 'user' }))).toBe('group_by');
    expect(parameterOf(() => parseSalesParams({ ...ok, product_id: 'p'.repeat(129) }))).toBe('product_id');
    expect(parameterOf(() => parseSalesParams({ ...ok, limit: '5' }))).toBe('limit');
    expect(parameterOf(() => parseSalesParams({ ...ok, start: '2026-11-22' }))).toBe('end');
    expect(parameterOf(() => parseWindowsParams({ sizes: '1,,5' }))).toBe('sizes');
    expect(parameterOf(() => parseWindowsParams({ sizes: '1,2,3,4,5,6,7,8,9,10,11' }))).toBe('sizes');
    expect(parameterOf(() => paramsFromQueryString('a=1&b=2&a=3'))).toBe('a');
  });

  it('refuses broken percent-encoding, naming the parameter, and decodes the rest as a form does', () => {
    expect(parameterOf(() => paramsFromQueryString('start=2026-11-20&product_id=%E0%A4%A'))).toBe(
      'product_id',
    );
    expect(parameterOf(() => paramsFromQueryString('product_id=%E0%A4'))).toBe('product_id');
    expect(parameterOf(() => paramsFromQueryString('product_id=100%'))).toBe('product_id');
    expect(parameterOf(() => paramsFromQueryString('%ZZ=1'))).toBe('%ZZ');

    expect(paramsFromQueryString('product_id=%E0%A4%95&at=a+b&sizes=1%2C5&empty=&flag&&')).toEqual({
      product_id: 'क',
      at: 'a b',
      sizes: '1,5',
      empty: '',
      flag: '',
    });
  });

  it('keeps money exact in cents', () => {
    expect(formatCents(centsOf('0.10') + centsOf('0.2'))).toBe('0.30');
    expect(formatCents(centsOf('-1.05'))).toBe('-1.05');
    expect(formatCents(centsOf('99999999999999999.99') * 1000n)).toBe('99999999999999999990.00');
  });
});
