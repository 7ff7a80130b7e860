-- Wakes that never block storing. A wake that fails (a Vault secret missing, pg_net refusing) is
-- a WARNING and is recorded on conveyor.function_wakes; the records stay queued and the safety
-- net or the next insert wakes the worker once the cause is fixed. The next successful wake
-- clears the error.

create or replace function conveyor.try_wake_function(
  function_name text,
  reason text,
  timeout_milliseconds integer default 5000
)
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  request_id bigint;
  problem text;
  problem_hint text;
begin
  begin
    request_id := conveyor.wake_function(try_wake_function.function_name, pg_catalog.jsonb_build_object('reason', reason), try_wake_function.timeout_milliseconds);
  exception when others then
    get stacked diagnostics problem = message_text, problem_hint = pg_exception_hint;
    raise warning 'Conveyor: waking % failed: %', try_wake_function.function_name, problem
      using hint = coalesce(nullif(problem_hint, ''), 'The records stay queued; the pg_cron safety net wakes the worker once this is fixed.');
    insert into conveyor.function_wakes as w (function_name, last_wake_error, last_wake_error_at)
    values (try_wake_function.function_name, problem, pg_catalog.clock_timestamp())
    on conflict on constraint function_wakes_pkey
    do update set last_wake_error = excluded.last_wake_error, last_wake_error_at = excluded.last_wake_error_at;
    return null;
  end;
  update conveyor.function_wakes as w
     set last_wake_error = null
   where w.function_name = try_wake_function.function_name
     and w.last_wake_error is not null;
  return request_id;
end
$$;

comment on function conveyor.try_wake_function(text, text, integer) is
  'Wakes an edge function like conveyor.wake_function (pg_net timeout timeout_milliseconds), but a failure is a WARNING recorded in conveyor.function_wakes.last_wake_error instead of an error; returns the pg_net request id or null.';

revoke all on function conveyor.try_wake_function(text, text, integer) from public, anon, authenticated;
