-- Operators pause and resume the automatic wakes of a worker (triggers, pg_cron, a worker waking
-- a peer). Records keep being stored and queued while paused; resuming wakes the worker at once
-- when records wait.

create or replace function conveyor.pause_wakes(function_name text)
returns void
language sql
volatile
security definer
set search_path = ''
as $$
  insert into conveyor.function_wakes as w (function_name, paused)
  values (pause_wakes.function_name, true)
  on conflict on constraint function_wakes_pkey do update set paused = true;
$$;

comment on function conveyor.pause_wakes(text) is
  'Pauses automatic wakes of an edge function (triggers, pg_cron, peers); records keep being stored and queued. Undo with conveyor.resume_wakes.';

revoke all on function conveyor.pause_wakes(text) from public, anon, authenticated;

create or replace function conveyor.resume_wakes(function_name text, queue_name text)
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  insert into conveyor.function_wakes as w (function_name, paused)
  values (resume_wakes.function_name, false)
  on conflict on constraint function_wakes_pkey do update set paused = false;
  return conveyor.wake_if_pending(resume_wakes.function_name, resume_wakes.queue_name);
end
$$;

comment on function conveyor.resume_wakes(text, text) is
  'Resumes automatic wakes of an edge function and wakes it at once when its queue holds visible messages (what arrived while paused); returns the pg_net request id or null.';

revoke all on function conveyor.resume_wakes(text, text) from public, anon, authenticated;
