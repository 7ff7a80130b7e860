-- The pg_cron jobs of the upkeep, scheduled by name: cron.schedule with a job name replaces the
-- job of that name, so running this again (or the migration that calls it) changes nothing. The
-- safety net (conveyor-wake-pending-pipelines, every registered pipeline) runs every 10 seconds where pg_cron
-- supports second schedules (1.5+, as on Supabase), every minute otherwise.

create or replace function conveyor.schedule_upkeep()
returns table (job_name text, job_schedule text, job_command text)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  seconds_supported boolean;
begin
  select pg_catalog.string_to_array(pg_catalog.regexp_replace(e.extversion, '[^0-9.].*$', ''), '.')::integer[]
           >= array[1, 5]
    into seconds_supported
    from pg_catalog.pg_extension as e
   where e.extname = 'pg_cron';

  perform cron.schedule(u.name, u.schedule, u.command)
     from (values
       ('conveyor-wake-pending-pipelines',
        case when seconds_supported then '10 seconds' else '* * * * *' end,
        'select conveyor.wake_pending_pipelines()'),
       ('conveyor-purge-processed-staging', '* * * * *', 'select conveyor.purge_processed_staging()'),
       ('conveyor-purge-archived-messages', '15 * * * *', 'select conveyor.purge_archived_messages()'),
       ('conveyor-purge-http-responses', '*/10 * * * *', 'select conveyor.purge_http_responses()'),
       ('conveyor-purge-cron-run-details', '25 * * * *', 'select conveyor.purge_cron_run_details()'),
       -- import jobs: running ones whose heartbeat is older than import_stale_heartbeat_seconds go
       -- back to pending (failed after import_max_attempts); a pending job whose wake was lost gets one
       ('conveyor-import-reaper',
        case when seconds_supported then '30 seconds' else '* * * * *' end,
        'select conveyor.reap_import_jobs(pg_catalog.make_interval(secs => conveyor.setting(''import_stale_heartbeat_seconds'')), '
          || 'conveyor.setting(''import_max_attempts'')::integer); select conveyor.wake_if_imports_pending()')
     ) as u(name, schedule, command);

  return query
    select j.jobname::text, j.schedule::text, j.command::text
      from cron.job as j
     where j.jobname like 'conveyor-%'
     order by j.jobname;
end
$$;

comment on function conveyor.schedule_upkeep() is
  'Schedules (or re-schedules, by job name) the pg_cron upkeep jobs: the safety net of every pipeline, the purges and the import reaper. Idempotent. Returns the conveyor-* jobs.';

revoke all on function conveyor.schedule_upkeep() from public, anon, authenticated;
