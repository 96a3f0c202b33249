-- grain: one row per received JSON record (an SQS message body or a line of a .jsonl export).
-- Turns JSON text into the same all-VARCHAR shape CSV and Parquet exports are read into, so one
-- validation applies to every source. Unknown fields are ignored.
with

raw_order_lines as (
    select * from raw_order_lines
),

unmarked as (
    -- A leading UTF-8 byte order mark (some .NET and Windows producers write one) is an encoding marker, not
    -- JSON: RFC 8259 lets a parser ignore it, and files drop it the same way. `raw` keeps the body as received.
    select
        *,
        if(starts_with(line, chr(65279)), line[2:], line) as json_text,
    from raw_order_lines
),

parsed as (
    select
        record_ref,
        source,
        is_event_id_required,
        received_at,
        line as raw,
        encoding_error,
        if(encoding_error is null and json_valid(json_text), json_text, null)::json as doc,
    from unmarked
),

keyed as (
    select
        *,
        json_keys(doc) as keys,
    from parsed
),

deduplicated_keys as (
    -- JSON.parse keeps the last of two equal keys, json_extract the first: which value the producer meant is
    -- unknowable, so a contract field given twice rejects the record. Repeated unknown fields are ignored.
    -- Counted per contract field, so a body of thousands of keys stays linear.
    select
        *,
        list_filter(
            ['event_id', 'order_id', 'user_id', 'product_id', 'quantity', 'unit_price', 'currency', 'event_time'],
            lambda field: len(list_filter(keys, lambda key: key = field)) > 1
        ) as duplicate_keys,
    from keyed
),

fields as (
    select
        record_ref,
        source,
        is_event_id_required,
        received_at,
        raw,
        case
            when encoding_error is not null then encoding_error
            when doc is null then 'record: not valid JSON'
            when json_type(doc) <> 'OBJECT' then 'record: not a JSON object'
            when len(duplicate_keys) > 0
                then 'record: duplicate key ' || array_to_string(duplicate_keys, ', ')
        end as parse_error,
        -- Ids are text; a whole JSON number (64-bit) is read as its digits, exactly. Anything else (an array, object,
        -- boolean, fraction or a longer number) would otherwise be counted as its JSON text. Currency and event time
        -- are text (their own checks reject other JSON too).
        list_concat(
            list_filter(
                ['event_id', 'order_id', 'user_id', 'product_id'],
                lambda field: json_type(doc, '$.' || field) not in ('VARCHAR', 'BIGINT', 'UBIGINT', 'NULL')
            ),
            list_filter(
                ['currency', 'event_time'],
                lambda field: json_type(doc, '$.' || field) not in ('VARCHAR', 'NULL')
            )
        ) as mistyped_fields,
        json_extract_string(doc, '$.event_id') as event_id,
        json_extract_string(doc, '$.order_id') as order_id,
        json_extract_string(doc, '$.user_id') as user_id,
        json_extract_string(doc, '$.product_id') as product_id,
        json_extract_string(doc, '$.quantity') as quantity,
        json_extract_string(doc, '$.unit_price') as unit_price,
        json_extract_string(doc, '$.currency') as currency,
        json_extract_string(doc, '$.event_time') as event_time,
    from deduplicated_keys
)

select * from fields
