import { describe, expect, it } from 'vitest';
import { DEFAULT_THRESHOLDS, evaluateGates, failedFatalGates } from '../../functions/batch/quality-gates.ts';

const counts = { received: 1000, valid: 990, quarantined: 10, duplicates: 3, orders: 987 };
const base = {
  day: '2026-11-20',
  dataset: 'orders',
  key: ['order_id'],
  counts,
  missingColumns: {},
  trailingOrders: [900, 1000, 1100],
  newestLandingAt: new Date('2026-11-21T01:00:00Z'),
};

describe('quality gates', () => {
  it('passes a normal day and reports duplicates without failing', () => {
    const results = evaluateGates(base, DEFAULT_THRESHOLDS);
    expect(failedFatalGates(results)).toEqual([]);
    expect(results.find((g) => g.gate === 'duplicate_keys')?.detail).toBe(
      '3 duplicate order_id records removed',
    );
  });

  it('names the dataset and its key in its details, whatever the dataset', () => {
    const clicks = { ...base, dataset: 'clicks', key: ['event_id'], crossDayDuplicates: { '2026-11-19': 2 } };
    const detail = (gate: string, input: typeof clicks) =>
      evaluateGates(input, DEFAULT_THRESHOLDS).find((g) => g.gate === gate)?.detail;
    expect(detail('zero_rows', clicks)).toBe('987 valid clicks records (of 1000 received) for 2026-11-20');
    expect(detail('duplicate_keys', clicks)).toBe(
      '3 duplicate event_id records removed; 2 event_id(s) also on 2026-11-19 (counted on each day)',
    );
    expect(detail('row_count_spike', { ...clicks, counts: { ...counts, orders: 3001 } })).toMatch(
      /^3001 clicks records vs 3x the trailing 3-day median 1000/,
    );
  });

  it('fails the spike gate above 3x the trailing median unless forced', () => {
    const spike = { ...base, counts: { ...counts, orders: 3001 } };
    expect(failedFatalGates(evaluateGates(spike, DEFAULT_THRESHOLDS)).map((g) => g.gate)).toEqual([
      'row_count_spike',
    ]);
    expect(failedFatalGates(evaluateGates(spike, { ...DEFAULT_THRESHOLDS, force: true }))).toEqual([]);
  });

  it('treats exactly the malformed limit as passing and above it as fatal', () => {
    const atLimit = { ...base, counts: { ...counts, received: 100, quarantined: 5 } };
    const above = { ...base, counts: { ...counts, received: 100, quarantined: 6 } };
    expect(failedFatalGates(evaluateGates(atLimit, DEFAULT_THRESHOLDS))).toEqual([]);
    expect(failedFatalGates(evaluateGates(above, DEFAULT_THRESHOLDS))[0]?.detail).toBe(
      '6 of 100 records invalid (6.00 %, limit 5.00 %)',
    );
  });

  it('names the top reasons in the malformed-share verdict', () => {
    const above = {
      ...base,
      counts: { ...counts, received: 100, quarantined: 90 },
      topReasons: [
        { reason: 'unit_price: more than 2 decimal places', count: 60 },
        { reason: 'quantity: required', count: 30 },
      ],
    };
    expect(evaluateGates(above, DEFAULT_THRESHOLDS).find((g) => g.gate === 'malformed_share')?.detail).toBe(
      '90 of 100 records invalid (90.00 %, limit 5.00 %); ' +
        'top reasons: unit_price: more than 2 decimal places ×60, quantity: required ×30',
    );
  });

  it('warns (not fails) when the export was written before its day ended', () => {
    const early = { ...base, newestLandingAt: new Date('2026-11-20T12:00:00Z') };
    const freshness = evaluateGates(early, DEFAULT_THRESHOLDS).find((g) => g.gate === 'freshness');
    expect(freshness).toMatchObject({ passed: false, fatal: false });
  });
});
