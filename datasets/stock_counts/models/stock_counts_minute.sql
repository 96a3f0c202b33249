-- grain: one row per UTC minute, product and warehouse. counted_units adds up the units found by the counts of
-- that minute; a stock level is one count plus the movements since, not a sum of counts.
with

facts as (
    select * from stock_count_facts
)

select
    time_bucket(interval 1 minute, counted_at) as window_start,
    product_id,
    warehouse_id,
    count(*)::bigint as counts,
    sum(on_hand)::bigint as counted_units,
from facts
group by all
