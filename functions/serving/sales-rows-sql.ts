/**
 * The one serving query. Static text: every value — file lists, bounds, product, granularity — is bound, so
 * nothing a client sends is ever spliced into SQL. Both file lists always hold at least an empty file with the
 * schema it stands for, so the statement never changes shape.
 */
export const SALES_ROWS_SQL = `
-- grain: one row per source, part (the lake day a batch row came from), bucket (minute | hour: UTC; day: a day
-- of $tz), currency and, when grouped, product. $lake_zone is the zone the lake's days are days of.
-- latest_window: newest minute of the group in range whatever the product filter (realtime freshness), so the
-- files are scanned once; groups with no matching product have matched_rows = 0.
with

batch_minutes as (
    select 'batch' as source, timezone($lake_zone, window_start::timestamptz)::date as part_day,
        window_start, product_id, currency, orders, units, revenue::decimal(38, 2) as revenue,
    from read_parquet($batch_files)
),

batch_days as (
    -- a whole published day at granularity=day: the batch daily_sales rollup (same shared SQL, far fewer rows)
    select 'batch' as source, day as part_day, timezone('UTC', timezone($lake_zone, day::timestamp)) as window_start,
        product_id, currency, orders, units, revenue::decimal(38, 2) as revenue,
    from read_parquet($batch_daily_files)
),

realtime_minutes as (
    select 'realtime' as source, null::date as part_day, window_start, product_id, currency, orders, units,
        revenue::decimal(38, 2) as revenue,
    from read_parquet($realtime_files)
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
        ($product_id::varchar is null or product_id = $product_id::varchar) as is_match,
    from minutes
    where window_start >= $start::timestamp
        and window_start < $end::timestamp
),

buckets as (
    select
        source,
        part_day,
        case
            when $granularity = 'day'
                then timezone('UTC', timezone($tz, date_trunc('day', timezone($tz, window_start::timestamptz))))
            else date_trunc($granularity, window_start)
        end as bucket_start,
        case when $by_product then product_id end as product_id,
        currency,
        count(*) filter (where is_match) as matched_rows,
        coalesce(sum(orders) filter (where is_match), 0)::bigint as orders,
        coalesce(sum(units) filter (where is_match), 0)::bigint as units,
        coalesce(sum(revenue) filter (where is_match), 0)::decimal(38, 2) as revenue,
        max(window_start) as latest_window,
    from in_range
    group by all
)

select * from buckets
`;

/** The newest realtime minute in a set of files (health's freshness). */
export const REALTIME_LATEST_SQL = `
-- grain: one row: the newest minute window in the given realtime files.
select max(window_start) as latest from read_parquet($realtime_files)
`;
