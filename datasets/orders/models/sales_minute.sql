-- grain: one row per UTC minute (by event_time), product and currency. Money never mixes currencies, and sums
-- are DECIMAL(38,2): a minute of valid orders (each at most 100000 × 1000000.00) can never overflow it.
with

order_facts as (
    select * from order_facts
),

minutes as (
    select
        time_bucket(interval 1 minute, event_time) as window_start,
        product_id,
        currency,
        count(*)::bigint as orders,
        sum(quantity)::bigint as units,
        sum(quantity * unit_price)::decimal(38, 2) as revenue,
    from order_facts
    group by all
)

select * from minutes
