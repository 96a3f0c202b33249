import { describe, expect, it } from 'vitest';
import { withConnection } from '../../functions/pipeline/duckdb-session.ts';
import { utcTimestampSql } from '../../functions/pipeline/validation-sql.ts';

describe('the validation model types event times', () => {
  it('as the UTC instant the timestamptz cast gives in a UTC session, for every year, offset and invalid date', async () => {
    // Prepare: years 0000..9999, first and last days (and days that do not exist), midnight, 23 h and 24 h, offsets.
    const differing = await withConnection(async (connection) => {
      const reader = await connection.runAndReadAll(
        `with samples as (
           select lpad(y::varchar, 4, '0') || '-' || lpad(m::varchar, 2, '0') || '-' || lpad(d::varchar, 2, '0')
                  || ' ' || lpad(h::varchar, 2, '0') || ':07:09.123456789' || z as s
           from range(0, 10000, 7) as years(y), range(1, 13, 5) as months(m),
                (values (1), (28), (29), (30), (31)) as days(d), (values (0), (23), (24)) as hours(h),
                (values ('Z'), ('z'), ('+14:00'), ('-12'), ('+0530'), ('-23:59')) as zones(z)
         ),
         typed as (
           -- Act
           select s, try_cast(s as timestamptz)::timestamp as expected, ${utcTimestampSql('try_cast(s as timestamptz)')} as actual
           from samples
         )
         select count(*) filter (where expected is distinct from actual) as differing, count(actual) as typed
         from typed`,
      );
      return reader.getRowObjectsJson()[0];
    });

    // Assess: none differs, and most samples are times (the others are null on both sides).
    expect(differing).toEqual({ differing: '0', typed: expect.any(String) });
    expect(Number(differing?.['typed'])).toBeGreaterThan(100_000);
  });
});
