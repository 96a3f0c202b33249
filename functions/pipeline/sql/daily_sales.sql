-- grain: one row per UTC day, product and currency; the batch rollup of sales_minute.
with

sales_minute as (
    select * from sales_minute
),

days as (
    select
        window_start::date as day,
        product_id,
        currency,
        sum(orders)::bigint as orders,
        sum(units)::bigint as units,
        sum(revenue)::decimal(38, 2) as revenue,
    from sales_minute
    group by all
)

select * from days
