-- Upkeep: the backlog wake-ups (the safety net) of every registered pipeline in one job. For each
-- row of conveyor.pipelines it wakes the worker function when its queue holds visible messages
-- (conveyor.wake_if_pending: not when paused; a failed wake is a WARNING recorded in
-- conveyor.function_wakes). A pipeline registered later is covered without a job of its own.

create or replace function conveyor.wake_pending_pipelines()
returns jsonb
language sql
volatile
security definer
set search_path = ''
as $$
  select coalesce(
           pg_catalog.jsonb_object_agg(p.name, conveyor.wake_if_pending(p.worker_function, p.queue_name) order by p.name),
           '{}'::jsonb)
    from conveyor.pipelines as p;
$$;

comment on function conveyor.wake_pending_pipelines() is
  'Safety net run by pg_cron: conveyor.wake_if_pending for every registered pipeline; returns {<pipeline>: <pg_net request id, or null when it did not wake>}.';

revoke all on function conveyor.wake_pending_pipelines() from public, anon, authenticated;
