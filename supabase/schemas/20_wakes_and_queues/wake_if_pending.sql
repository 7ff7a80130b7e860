-- The safety net pg_cron runs: wakes a worker whose queue holds visible messages, in case a wake
-- call was lost (pg_net does not retry) or a worker died. Scheduled by a migration
-- (cron jobs are data, not schema).

create or replace function conveyor.wake_if_pending(function_name text, queue_name text)
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  pending boolean;
begin
  if exists (select from conveyor.function_wakes as w where w.function_name = wake_if_pending.function_name and w.paused) then
    return null;
  end if;
  execute pg_catalog.format(
    'select exists (select from pgmq.%I where vt <= pg_catalog.clock_timestamp())',
    'q_' || queue_name
  ) into pending;
  if not pending then
    return null;
  end if;
  return conveyor.try_wake_function(wake_if_pending.function_name, 'cron');
end
$$;

comment on function conveyor.wake_if_pending(text, text) is
  'Safety net run by pg_cron: wakes the function when its queue holds visible messages (unless paused); a failed wake is a WARNING recorded in conveyor.function_wakes; returns the pg_net request id or null.';

revoke all on function conveyor.wake_if_pending(text, text) from public, anon, authenticated;
