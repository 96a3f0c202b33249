-- grain: one row per UTC day and product; the batch rollup of sales_minute.
with

sales_minute as (
    select * from sales_minute
),

days as (
    select
        window_start::date as day,
        product_id,
        sum(orders)::bigint as orders,
        sum(units)::bigint as units,
        sum(revenue)::decimal(18, 2) as revenue,
    from sales_minute
    group by all
)

select * from days
