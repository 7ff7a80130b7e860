-- Runs of import jobs: claiming the oldest pending job under the per-shop limit, and the reaper
-- that returns jobs whose run died (a stale heartbeat) to pending, or fails them after their
-- attempts. Progress, checkpoints and the end of a job are written by process-import itself, each
-- chunk with its records in one transaction.

create or replace function conveyor.claim_import_job(run_id uuid, max_running_per_shop integer)
returns setof conveyor.import_jobs
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if max_running_per_shop is null or max_running_per_shop < 1 then
    raise exception 'claim_import_job: max_running_per_shop must be at least 1 (got %)', max_running_per_shop;
  end if;
  -- Claims queue here until commit, so each one counts the running jobs every earlier claim left.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('conveyor:import_jobs:claim'));
  return query
  with running as (
    select r.shop, pg_catalog.count(*) as n
      from conveyor.import_jobs as r
     where r.status = 'running'
     group by r.shop
  ),
  candidate as (
    select j.id
      from conveyor.import_jobs as j
      left join running as r on r.shop = j.shop
     where j.status = 'pending'
       and coalesce(r.n, 0) < claim_import_job.max_running_per_shop
     order by j.created_at, j.id
     limit 1
       for update of j skip locked
  )
  update conveyor.import_jobs as j
     set status = 'running',
         run_id = claim_import_job.run_id,
         heartbeat_at = pg_catalog.clock_timestamp()
    from candidate as c
   where j.id = c.id
  returning j.*;
end
$$;

comment on function conveyor.claim_import_job(uuid, integer) is
  'Claims the oldest pending import job whose shop runs fewer than max_running_per_shop jobs: sets it running for run_id and returns it (no row when none may start).';

revoke all on function conveyor.claim_import_job(uuid, integer) from public, anon, authenticated;

create or replace function conveyor.reap_import_jobs(
  stale_after interval default interval '2 minutes',
  max_attempts integer default 5
)
returns integer
language sql
volatile
security definer
set search_path = ''
as $$
  with reaped as (
    update conveyor.import_jobs as j
       set attempts = j.attempts + 1,
           status = case when j.attempts + 1 >= reap_import_jobs.max_attempts then 'failed' else 'pending' end,
           run_id = null,
           last_error = 'run lost: no heartbeat since ' || coalesce(j.heartbeat_at::text, 'it started')
                        || ' (attempt ' || (j.attempts + 1) || ' of ' || reap_import_jobs.max_attempts || ')'
     where j.status = 'running'
       and coalesce(j.heartbeat_at, j.updated_at) < pg_catalog.clock_timestamp() - reap_import_jobs.stale_after
    returning 1
  )
  select pg_catalog.count(*)::integer from reaped;
$$;

comment on function conveyor.reap_import_jobs(interval, integer) is
  'Returns running import jobs whose heartbeat is older than stale_after to pending (the wake trigger starts a run that resumes at the checkpoint), or fails them once they reach max_attempts; returns how many.';

revoke all on function conveyor.reap_import_jobs(interval, integer) from public, anon, authenticated;

create or replace function conveyor.wake_if_imports_pending()
returns bigint
language sql
volatile
security definer
set search_path = ''
as $$
  select conveyor.try_wake_function('process-import', 'safety_net', 300000)
   where exists (select from conveyor.import_jobs as j where j.status = 'pending')
     and not exists (select from conveyor.function_wakes as w where w.function_name = 'process-import' and w.paused);
$$;

comment on function conveyor.wake_if_imports_pending() is
  'pg_cron safety net: wakes process-import when a job is pending (a lost wake, a run that found its shop at the limit) unless its wakes are paused; returns the pg_net request id or null.';

revoke all on function conveyor.wake_if_imports_pending() from public, anon, authenticated;
