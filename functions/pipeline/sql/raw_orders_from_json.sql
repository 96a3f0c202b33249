-- grain: one row per received JSON record (an SQS message body or a line of a .jsonl export).
-- Turns JSON text into the same all-VARCHAR shape CSV and Parquet exports are read into, so one
-- validation applies to every source. Unknown fields are ignored.
with

raw_order_lines as (
    select * from raw_order_lines
),

parsed as (
    select
        record_ref,
        source,
        is_event_id_required,
        received_at,
        line as raw,
        if(json_valid(line), line, null)::json as doc,
    from raw_order_lines
),

fields as (
    select
        record_ref,
        source,
        is_event_id_required,
        received_at,
        raw,
        case
            when doc is null then 'record: not valid JSON'
            when json_type(doc) <> 'OBJECT' then 'record: not a JSON object'
        end as parse_error,
        json_extract_string(doc, '$.event_id') as event_id,
        json_extract_string(doc, '$.order_id') as order_id,
        json_extract_string(doc, '$.user_id') as user_id,
        json_extract_string(doc, '$.product_id') as product_id,
        json_extract_string(doc, '$.quantity') as quantity,
        json_extract_string(doc, '$.unit_price') as unit_price,
        json_extract_string(doc, '$.currency') as currency,
        json_extract_string(doc, '$.event_time') as event_time,
    from parsed
)

select * from fields
