-- grain: one row per UTC minute (by event_time) and product. Funnel counts are additive: exact in both layers.
-- Page views carry no product and are not part of the funnel.
with

click_facts as (
    select * from click_facts
),

funnel as (
    select
        time_bucket(interval 1 minute, event_time) as window_start,
        product_id,
        count(*) filter (where event_type = 'product_view')::bigint as product_views,
        count(*) filter (where event_type = 'add_to_cart')::bigint as add_to_carts,
        count(*) filter (where event_type = 'checkout')::bigint as checkouts,
        count(*) filter (where event_type = 'purchase')::bigint as purchases,
    from click_facts
    where product_id is not null
    group by all
)

select * from funnel
