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
        line as raw,
        encoding_error,
        if(encoding_error is null and json_valid(json_text), json_text, null)::json as doc,
    from unmarked
),

fields as (
    select
        record_ref,
        source,
        is_event_id_required,
        raw,
        case
            when encoding_error is not null then encoding_error
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
