-- grain: one row per order_id. Valid orders deduplicated: an order counts once whatever the redeliveries
-- or producer retries. The survivor is chosen by a total order on the row, so every layer keeps the same one.
with

valid_orders as (
    select * from validated_orders
    where is_valid
),

deduplicated as (
    select
        order_id,
        event_id,
        user_id,
        product_id,
        quantity,
        unit_price,
        currency,
        event_time,
    from valid_orders
    qualify row_number() over (
        partition by order_id
        order by event_time, event_id nulls last, product_id, quantity, unit_price, user_id, currency
    ) = 1
)

select * from deduplicated
