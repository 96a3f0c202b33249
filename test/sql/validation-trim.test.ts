import { describe, expect, it } from 'vitest';
import { withConnection } from '../../functions/pipeline/duckdb-session.ts';
import { trimmedSql } from '../../functions/pipeline/validation-sql.ts';

describe('the validation model trims field values', () => {
  it('as DuckDB trim does, for every code point at the start, at the end, in the middle, alone and on both sides', async () => {
    // Prepare: every code point but the surrogates, around ASCII and non-ASCII text; empty, blank and missing.
    const differing = await withConnection(async (connection) => {
      const reader = await connection.runAndReadAll(
        `with code_points as (
           select chr(i::integer) as ch
           from (select * from range(1, 55296) union all select * from range(57344, 1114112)) as t(i)
         ),
         samples as (
           select ch || 'ab' as s from code_points
           union all select 'ab' || ch from code_points
           union all select ch from code_points
           union all select ch || 'a' || ch from code_points
           union all select 'é' || ch || 'é' from code_points
           union all select 'a' || ch || 'b' from code_points
           union all select * from (values (''), (' '), ('   '), (null), (' a b '), ('a b'), ('a' || chr(13) || chr(10) || 'b'), ('a' || chr(13) || chr(10)), ('a' || chr(9))) as extra(s)
         )
         -- Act
         select s from samples where trim(s) is distinct from ${trimmedSql('s')}`,
      );
      return reader.getRowObjectsJson();
    });

    // Assert
    expect(differing).toEqual([]);
  });
});
