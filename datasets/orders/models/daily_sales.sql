-- grain: one row per reporting day (the stage's time zone: validation_policy.time_zone), product and currency;
-- the batch rollup of sales_minute.
with

validation_policy as (
    select * from validation_policy
),

sales_minute as (
    select * from sales_minute
),

days as (
    select
        local_date(window_start, (select time_zone from validation_policy)) as day,
        product_id,
        currency,
        sum(orders)::bigint as orders,
        sum(units)::bigint as units,
        sum(revenue)::decimal(38, 2) as revenue,
    from sales_minute
    group by all
)

select * from days
