-- grain: one row per UTC minute in which sessions start, and the device of each session's first event.
-- A session is one user_id's events, in event-time order, with gaps shorter than session_gap_minutes (the client's
-- session_id is not used). It belongs to the reporting day and minute of its first event. The day's facts are read
-- with the neighbouring days' (click_facts_neighbours): an early event continues a session of the day before when
-- that day's last event of the user is within the gap, and a late session's end, bounce and conversion follow the
-- day after's first events.
with

click_facts as (
    select * from click_facts
),

neighbours as (
    select * from click_facts_neighbours
),

events as (
    select user_id, event_id, event_type, device, event_time, reporting_day, false as is_neighbour from click_facts
    union all
    select user_id, event_id, event_type, device, event_time, reporting_day, true as is_neighbour from neighbours
),

gaps as (
    select
        *,
        lag(event_time) over (partition by user_id order by event_time, event_id) as previous_time,
    from events
),

starts as (
    select
        *,
        (previous_time is null
            or event_time - previous_time >= to_minutes(getvariable('session_gap_minutes')::bigint)) as is_start,
    from gaps
),

numbered as (
    select
        *,
        sum(is_start::integer) over (
            partition by user_id order by event_time, event_id rows between unbounded preceding and current row
        ) as session_no,
    from starts
),

sessions as (
    select
        user_id,
        session_no,
        min(event_time) as started_at,
        arg_min(reporting_day, event_time) as start_day,
        arg_min(is_neighbour, event_time) as starts_in_neighbour,
        arg_min(device, event_time) as device,
        count(*) as events,
        bool_or(event_type = 'purchase') as is_converted,
    from numbered
    group by all
)

select
    time_bucket(interval 1 minute, started_at) as window_start,
    coalesce(device, 'unknown') as device,
    count(*)::bigint as sessions,
    count(*) filter (where events = 1)::bigint as bounced_sessions,
    count(*) filter (where is_converted)::bigint as converted_sessions,
    list(distinct user_id) as unique_users,
from sessions
-- the sessions that start on this day (the neighbours only decide where sessions begin and end)
where not starts_in_neighbour
group by all
