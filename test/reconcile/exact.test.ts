import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deviationMicros, formatCents, formatMicros, toCents } from '../../functions/reconcile/exact.ts';

describe('exact deviation arithmetic', () => {
  it.each([
    [95n, 100n, '-0.050000'],
    [25n, 30n, '-0.166667'],
    [35n, 30n, '0.166667'],
    [2n, 3n, '-0.333334'],
    [1n, 3n, '-0.666667'],
    [10n ** 12n + 1n, 10n ** 12n, '0.000001'],
    [0n, 7n, '-1.000000'],
    [0n, 0n, '0.000000'],
    [100n, 100n, '0.000000'],
  ])('(%s − %s) / %s is %s, rounded away from zero', (realtime, batch, expected) => {
    const micros = deviationMicros(realtime, batch);
    expect(micros === null ? null : formatMicros(micros)).toBe(expected);
  });

  it('has no finite deviation when batch is 0 and realtime is not', () => {
    expect(deviationMicros(3n, 0n)).toBeNull();
  });

  it('money round-trips through cents without a float', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 16n), max: 10n ** 16n }), (cents) => {
        expect(toCents(formatCents(cents))).toBe(cents);
      }),
    );
    expect(toCents('0.1')).toBe(10n);
    expect(formatCents(toCents('12345678901234.56') + toCents('0.01'))).toBe('12345678901234.57');
  });

  it('equal amounts always deviate by exactly zero, different ones never do', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 10n ** 15n }),
        fc.bigInt({ min: 0n, max: 10n ** 15n }),
        (b, r) => {
          const micros = deviationMicros(r, b);
          expect(micros === 0n).toBe(r === b);
        },
      ),
    );
  });
});
