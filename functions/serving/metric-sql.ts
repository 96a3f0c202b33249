import { measureSqlType } from '../pipeline/datasets.ts';
import type { ServedModel } from './metric-model.ts';

/**
 * The serving query of a model, generated from its declaration. Identifiers come from the checked declaration
 * (lower_snake_case names); every value — file lists, bounds, filters, grouping, granularity, zones — is bound,
 * so nothing a client sends is ever spliced into SQL. Every file list always holds at least an empty file with the
 * schema it stands for, so the statement never changes shape.
 */

const cache = new Map<string, string>();

export { measureSqlType };

function measureColumn(m: ServedModel['measures'][number]): string {
  return `${m.name}::${measureSqlType(m)} as ${m.name}`;
}

/** `$f_<dim>`: a filter value (null = any); `$g_<dim>`: group by the dimension. Currency dimensions always group. */
export function metricRowsSql(model: ServedModel): string {
  let sql = cache.get(model.name);
  if (sql) return sql;
  const columns = [...model.dimensions, ...model.measures.map(measureColumn)].join(', ');
  const isMatch =
    model.dimensions
      .map((d) => `($f_${d}::varchar is null or ${d} = $f_${d}::varchar)`)
      .join('\n            and ') || 'true';
  const groups = model.dimensions.map((d) =>
    model.currencyDimensions.includes(d) ? d : `case when $g_${d} then ${d} end as ${d}`,
  );
  const sums = model.measures.map((m) =>
    m.kind === 'distinct'
      ? `coalesce(list_distinct(flatten(list(${m.name}) filter (where is_match))), []) as ${m.name}`
      : `coalesce(sum(${m.name}) filter (where is_match), 0)::${measureSqlType(m)} as ${m.name}`,
  );
  sql = `
-- grain: one row per source, part (the lake day a batch row came from, the file a realtime row came from), bucket
-- (minute | hour: UTC; day: a day of $tz), the grouped dimensions and every currency dimension. latest_window: the newest minute of the group in range
-- whatever the filters (realtime freshness), so the files are scanned once; groups no filter matches have
-- matched_rows = 0. Generated for the model ${model.name} of dataset ${model.dataset}.
with

batch_minutes as (
    select 'batch' as source, local_date(window_start, $lake_zone) as part_day, null::varchar as part_file,
        window_start, ${columns},
    from read_parquet($batch_files)
),

batch_days as (
    -- a whole published day at granularity=day: the model's daily rollup (same shared SQL, far fewer rows)
    select 'batch' as source, day as part_day, null::varchar as part_file,
        local_midnight(day, $lake_zone) as window_start, ${columns},
    from read_parquet($batch_daily_files)
),

realtime_minutes as (
    -- part_file: each realtime file's rows apart, so serving can keep what it read from a file by name and ETag
    select 'realtime' as source, null::date as part_day, part_file, window_start, ${columns},
    from read_parquet($realtime_files, filename = 'part_file')
),

minutes as (
    select * from batch_minutes
    union all
    select * from batch_days
    union all
    select * from realtime_minutes
),

in_range as (
    select
        *,
        (${isMatch}) as is_match,
    from minutes
    where window_start >= $start::timestamp
        and window_start < $end::timestamp
),

buckets as (
    select
        source,
        part_day,
        part_file,
        case
            when $granularity = 'day' then local_day_start(window_start, $tz)
            else date_trunc($granularity, window_start)
        end as bucket_start,
        ${groups.join(',\n        ')},
        count(*) filter (where is_match) as matched_rows,
        ${sums.join(',\n        ')},
        max(window_start) as latest_window,
    from in_range
    group by all
)

select * from buckets
`;
  cache.set(model.name, sql);
  return sql;
}

/** A select with the minute (or, with `day`, the daily rollup) schema of the model and no rows. */
export function emptySelect(model: ServedModel, kind: 'minute' | 'day'): string {
  const time = kind === 'day' ? 'null::date as day' : 'null::timestamp as window_start';
  const dims = model.dimensions.map((d) => `null::varchar as ${d}`);
  const measures = model.measures.map((m) => `null::${measureSqlType(m)} as ${m.name}`);
  return `select ${[time, ...dims, ...measures].join(', ')}`;
}

/** The newest realtime minute in a set of files (health's freshness). */
export const REALTIME_LATEST_SQL = `
-- grain: one row: the newest minute window in the given realtime files.
select max(window_start) as latest from read_parquet($realtime_files)
`;
