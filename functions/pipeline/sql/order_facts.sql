-- grain: one row per order_id and reporting day (a day in the stage's time zone, UTC by default; the column
-- reporting_day of validated_orders). THE dedup rule of every layer: within the order's day an order
-- counts once whatever the redeliveries or producer retries, and the copy with the earliest event_time wins
-- (ties broken by a total order on the row, so every layer keeps the same one, whatever the arrival order).
-- Copies on two different days count on each day (days stay independent, so backfills run in parallel); the
-- batch run report and reconciliation report them as cross-day duplicates.
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
        reporting_day,
    from valid_orders
    qualify row_number() over (
        partition by order_id, reporting_day
        order by event_time, event_id nulls last, product_id, quantity, unit_price, user_id, currency
    ) = 1
)

select * from deduplicated
