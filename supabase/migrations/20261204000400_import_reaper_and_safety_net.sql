-- Hand-written data step, applied after the declared schema: the import jobs' reaper and safety net on pg_cron.
-- Cron jobs are data a schema diff does not capture. cron.schedule with a name replaces the job of
-- that name, so applying this twice changes nothing.

-- Every 30 seconds where pg_cron supports second schedules (1.5+, as on Supabase), every minute
-- otherwise: running jobs whose heartbeat is older than 2 minutes go back to pending (failed after
-- 5 attempts), and a pending job whose wake was lost gets one.
do $$
declare
  cron_version integer[];
begin
  select pg_catalog.string_to_array(pg_catalog.regexp_replace(e.extversion, '[^0-9.].*$', ''), '.')::integer[]
    into cron_version
    from pg_catalog.pg_extension as e
   where e.extname = 'pg_cron';
  perform cron.schedule(
    'conveyor-import-reaper',
    case when cron_version >= array[1, 5] then '30 seconds' else '* * * * *' end,
    $job$select conveyor.reap_import_jobs(interval '2 minutes', 5); select conveyor.wake_if_imports_pending()$job$
  );
end
$$;
