import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatMicros, MICROS_PER_UNIT, ratioMicros } from '../../functions/pipeline/fixed-point.ts';

const text = (numerator: bigint, denominator: bigint) => {
  const micros = ratioMicros(numerator, denominator);
  return micros === null ? null : formatMicros(micros);
};

describe('exact ratios in millionths', () => {
  it.each([
    [1n, 4n, '0.250000'],
    [1n, 3n, '0.333333'],
    [2n, 3n, '0.666667'],
    [1n, 128n, '0.007813'],
    [1n, 2_000_000n, '0.000001'],
    [-1n, 2_000_000n, '-0.000001'],
    [1n, -2_000_000n, '-0.000001'],
    [-1n, -2_000_000n, '0.000001'],
    [1n, 3_000_000n, '0.000000'],
    [5n, 2n, '2.500000'],
    [0n, 9n, '0.000000'],
    [-7n, 3n, '-2.333333'],
    [10n ** 15n, 3n, '333333333333333.333333'],
  ])('%s / %s is %s, rounded half away from zero', (numerator, denominator, expected) => {
    expect(text(numerator, denominator)).toBe(expected);
  });

  it('has no value where the denominator is 0', () => {
    expect(ratioMicros(3n, 0n)).toBeNull();
    expect(ratioMicros(0n, 0n)).toBeNull();
  });

  it('is the nearest millionth, a tie going away from zero', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 12n), max: 10n ** 12n }),
        fc.bigInt({ min: -(10n ** 9n), max: 10n ** 9n }).filter((d) => d !== 0n),
        (numerator, denominator) => {
          const micros = ratioMicros(numerator, denominator) as bigint;
          // |numerator/denominator − micros/10⁶| ≤ ½·10⁻⁶, scaled by 2·10⁶·|denominator| to stay in integers.
          const abs = (v: bigint) => (v < 0n ? -v : v);
          const error = abs(numerator * MICROS_PER_UNIT - micros * denominator) * 2n;
          expect(error <= abs(denominator)).toBe(true);
          if (error === abs(denominator)) {
            expect(abs(micros * denominator) > abs(numerator * MICROS_PER_UNIT)).toBe(true);
          }
        },
      ),
    );
  });
});
