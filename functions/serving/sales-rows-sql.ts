/**
 * The one serving query. Static text: every value — file lists, bounds, product, granularity — is bound, so
 * nothing a client sends is ever spliced into SQL. Both file lists always hold at least an empty file with the
 * sales_minute schema, so the statement never changes shape.
 */
export const SALES_ROWS_SQL = `
-- grain: one row per source, bucket (minute | hour | day, UTC) and, when grouped, product;
-- plus one 'realtime_latest' row: the newest realtime minute in the files read (freshness).
with

batch_minutes as (
    select 'batch' as source, window_start, product_id, orders, units, revenue::decimal(18, 2) as revenue,
    from read_parquet($batch_files)
),

realtime_minutes as (
    select 'realtime' as source, window_start, product_id, orders, units, revenue::decimal(18, 2) as revenue,
    from read_parquet($realtime_files)
),

minutes as (
    select * from batch_minutes
    union all
    select * from realtime_minutes
),

in_range as (
    select * from minutes
    where window_start >= $start::timestamp
        and window_start < $end::timestamp
        and ($product_id::varchar is null or product_id = $product_id::varchar)
),

buckets as (
    select
        source,
        date_trunc($granularity, window_start) as bucket_start,
        case when $by_product then product_id end as product_id,
        sum(orders)::bigint as orders,
        sum(units)::bigint as units,
        sum(revenue)::decimal(38, 2) as revenue,
    from in_range
    group by all
),

freshness as (
    select 'realtime_latest' as source, max(window_start) as bucket_start, null::varchar as product_id,
        null::bigint as orders, null::bigint as units, null::decimal(38, 2) as revenue,
    from realtime_minutes
)

select * from buckets
union all
select * from freshness
`;

/** The newest realtime minute in a set of files (health's freshness). */
export const REALTIME_LATEST_SQL = `
-- grain: one row: the newest minute window in the given realtime files.
select max(window_start) as latest from read_parquet($realtime_files)
`;
