-- grain: one row per UTC minute, product and warehouse. Every measure is a sum of units, so any range adds up
-- exactly in both layers; net_change is what the movements did to the stock: received + returned + adjusted - sold.
with

facts as (
    select * from stock_movement_facts
)

select
    time_bucket(interval 1 minute, event_time) as window_start,
    product_id,
    warehouse_id,
    coalesce(sum(quantity) filter (where movement_type = 'receipt'), 0)::bigint as received,
    coalesce(sum(quantity) filter (where movement_type = 'sale'), 0)::bigint as sold,
    coalesce(sum(quantity) filter (where movement_type = 'return'), 0)::bigint as returned,
    coalesce(sum(quantity) filter (where movement_type = 'adjustment'), 0)::bigint as adjusted,
    sum(case when movement_type = 'sale' then -quantity else quantity end)::bigint as net_change,
from facts
group by all
