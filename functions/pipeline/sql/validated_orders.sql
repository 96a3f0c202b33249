-- grain: one row per received record (raw_orders), with typed columns and the list of reasons it is
-- invalid. THE definition of a valid order event, shared by the batch and speed layers.
with

raw_orders as (
    select * from raw_orders
),

currency_codes as (
    -- every ISO 4217 code, and whether this stage accepts it (validation-policy.ts)
    select * from currency_codes
),

validation_policy as (
    -- one row: max_clock_skew_seconds, accepted_currencies (text for reasons), time_zone (the reporting zone)
    select * from validation_policy
),

trimmed as (
    select
        *,
        nullif(trim(event_id), '') as event_id_text,
        nullif(trim(order_id), '') as order_id_text,
        nullif(trim(user_id), '') as user_id_text,
        nullif(trim(product_id), '') as product_id_text,
        nullif(trim(quantity), '') as quantity_text,
        nullif(trim(unit_price), '') as unit_price_text,
        coalesce(nullif(trim(currency), ''), 'USD') as currency_text,
        nullif(trim(event_time), '') as event_time_text,
    from raw_orders
),

typed as (
    select
        *,
        if(regexp_full_match(quantity_text, '[0-9]{1,9}'), quantity_text::bigint, null) as quantity_value,
        if(
            regexp_full_match(unit_price_text, '[0-9]{1,13}(\.[0-9]{1,2})?'),
            unit_price_text::decimal(18, 2),
            null
        ) as unit_price_value,
        if(
            regexp_full_match(
                event_time_text,
                '[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)'
            ),
            try_cast(event_time_text as timestamptz)::timestamp,
            null
        ) as event_time_value,
        currency_codes.code is not null as is_iso_currency,
        coalesce(currency_codes.is_accepted, false) as is_accepted_currency,
        validation_policy.max_clock_skew_seconds,
        validation_policy.accepted_currencies,
        validation_policy.time_zone,
    from trimmed
    cross join validation_policy
    left join currency_codes on currency_codes.code = trimmed.currency_text
),

checked as (
    -- One reason column per field: cheap per row; the list is only built for rejected rows.
    select
        *,
        case
            when parse_error is null and list_contains(mistyped_fields, 'event_id')
                then 'event_id: must be a string or a whole number'
            when parse_error is null and event_id_text is null and is_event_id_required
                then 'event_id: required'
            when length(event_id_text) > 128 then 'event_id: longer than 128 characters'
        end as event_id_reason,
        case
            when parse_error is not null then null
            when list_contains(mistyped_fields, 'order_id') then 'order_id: must be a string or a whole number'
            when order_id_text is null then 'order_id: required'
            when length(order_id_text) > 128 then 'order_id: longer than 128 characters'
        end as order_id_reason,
        case
            when parse_error is not null then null
            when list_contains(mistyped_fields, 'user_id') then 'user_id: must be a string or a whole number'
            when user_id_text is null then 'user_id: required'
            when length(user_id_text) > 128 then 'user_id: longer than 128 characters'
        end as user_id_reason,
        case
            when parse_error is not null then null
            when list_contains(mistyped_fields, 'product_id') then 'product_id: must be a string or a whole number'
            when product_id_text is null then 'product_id: required'
            when length(product_id_text) > 128 then 'product_id: longer than 128 characters'
        end as product_id_reason,
        case
            when parse_error is not null then null
            when quantity_text is null then 'quantity: required'
            when regexp_full_match(quantity_text, '-[0-9]+') then 'quantity: must be greater than 0'
            when quantity_value is null then 'quantity: not a whole number (or more than 9 digits)'
            when quantity_value <= 0 then 'quantity: must be greater than 0'
            when quantity_value > 100000 then 'quantity: larger than 100000'
        end as quantity_reason,
        case
            when parse_error is not null then null
            when unit_price_text is null then 'unit_price: required'
            when regexp_full_match(unit_price_text, '-[0-9]+(\.[0-9]*)?') then 'unit_price: must be 0 or more'
            when regexp_full_match(unit_price_text, '[0-9]+\.[0-9]{3,}')
                then 'unit_price: more than 2 decimal places'
            when unit_price_value is null then 'unit_price: not a decimal number'
            when unit_price_value > 1000000 then 'unit_price: larger than 1000000.00'
        end as unit_price_reason,
        case
            when parse_error is not null then null
            when not is_iso_currency then 'currency: not an ISO 4217 code'
            when not is_accepted_currency
                then 'currency: ' || currency_text || ' not accepted (accepted: ' || accepted_currencies || ')'
        end as currency_reason,
        case
            when parse_error is not null then null
            when event_time_text is null then 'event_time: required'
            when event_time_value is null then 'event_time: not an ISO-8601 timestamp with a time zone'
            when event_time_value < timestamp '2000-01-01' or event_time_value >= timestamp '2100-01-01'
                then 'event_time: outside 2000..2099'
            -- A producer clock far ahead would move the watermark and make every later event late.
            when event_time_value > received_at + to_seconds(max_clock_skew_seconds)
                then 'event_time: more than ' || max_clock_skew_seconds || ' s after the record was received ('
                    || strftime(received_at, '%Y-%m-%dT%H:%M:%SZ') || ')'
        end as event_time_reason,
    from typed
),

verdicts as (
    select
        *,
        (
            parse_error is null
            and event_id_reason is null
            and order_id_reason is null
            and user_id_reason is null
            and product_id_reason is null
            and quantity_reason is null
            and unit_price_reason is null
            and currency_reason is null
            and event_time_reason is null
        ) as is_valid,
        case
            when is_valid then []::varchar[]
            else list_filter(
                [
                    parse_error, event_id_reason, order_id_reason, user_id_reason, product_id_reason,
                    quantity_reason, unit_price_reason, currency_reason, event_time_reason
                ],
                lambda reason: reason is not null
            )
        end as reasons,
    from checked
),

final as (
    select
        -- Where a rejected record came from and what it said; only built for rejected rows.
        case
            when not is_valid then coalesce(record_ref, source || ':row-' || record_no)
            else record_ref
        end as record_ref,
        source,
        case
            when not is_valid then coalesce(raw, json_object(
                'event_id', event_id, 'order_id', order_id, 'user_id', user_id, 'product_id', product_id,
                'quantity', quantity, 'unit_price', unit_price, 'currency', currency, 'event_time', event_time
            )::varchar)
        end as raw,
        reasons,
        is_valid,
        event_id_text as event_id,
        order_id_text as order_id,
        user_id_text as user_id,
        product_id_text as product_id,
        quantity_value::integer as quantity,
        unit_price_value as unit_price,
        currency_text as currency,
        event_time_value as event_time,
        -- the order's day in the stage's reporting time zone: its landing folder, dedup scope and daily rollup
        timezone(time_zone, event_time_value::timestamptz)::date as reporting_day,
    from verdicts
)

select * from final
