-- grain: one row per UTC minute (by event_time) and product. Money stays DECIMAL(18,2).
with

order_facts as (
    select * from order_facts
),

minutes as (
    select
        time_bucket(interval 1 minute, event_time) as window_start,
        product_id,
        count(*)::bigint as orders,
        sum(quantity)::bigint as units,
        sum(quantity * unit_price)::decimal(18, 2) as revenue,
    from order_facts
    group by all
)

select * from minutes
