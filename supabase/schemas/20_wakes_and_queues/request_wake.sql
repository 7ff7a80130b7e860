-- Coalesced wake-ups. Triggers call conveyor.request_wake() once per statement; it sends at most
-- one pg_net call per function per `min_interval`, so 10,000 single-row inserts in a second make a
-- handful of HTTP calls, not 10,000. A worker keeps polling for a while after the queue looks
-- empty (longer than min_interval), so a wake skipped inside the window is never needed; pg_cron
-- wakes workers as a safety net.

create or replace function conveyor.request_wake(function_name text, reason text default 'enqueue')
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  recent timestamptz;
  window_size interval;
  is_paused boolean;
begin
  select w.last_requested_at, w.min_interval, w.paused
    into recent, window_size, is_paused
    from conveyor.function_wakes as w
   where w.function_name = request_wake.function_name;
  if not found then
    insert into conveyor.function_wakes (function_name)
    values (request_wake.function_name)
    on conflict on constraint function_wakes_pkey do nothing;
    recent := '-infinity';
    window_size := interval '250 milliseconds';
    is_paused := false;
  end if;
  if is_paused then
    return null;
  end if;
  -- Cheap check first, without a lock: most callers inside the window stop here.
  if recent > pg_catalog.clock_timestamp() - window_size then
    return null;
  end if;
  update conveyor.function_wakes as w
     set last_requested_at = pg_catalog.clock_timestamp(),
         requests_sent = w.requests_sent + 1
   where w.function_name = request_wake.function_name
     and not w.paused
     and w.last_requested_at <= pg_catalog.clock_timestamp() - w.min_interval;
  if not found then
    return null; -- a concurrent statement woke it just now
  end if;
  return conveyor.try_wake_function(request_wake.function_name, reason);
end
$$;

comment on function conveyor.request_wake(text, text) is
  'Wakes an edge function unless it was woken less than min_interval ago (coalescing) or its wakes are paused; a failed wake is a WARNING recorded in conveyor.function_wakes, never an error; returns the pg_net request id or null.';

revoke all on function conveyor.request_wake(text, text) from public, anon, authenticated;
