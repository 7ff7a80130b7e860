-- Upkeep: pg_cron writes one row per job run to cron.job_run_details and never deletes them; the
-- safety net alone adds 8,640 a day at 10 seconds. Runs that ended more than
-- `cron_run_details_retention_days` ago are deleted, oldest first, in batches of
-- `upkeep_batch_rows`, at most `upkeep_max_batches` per run. (Runs still going have no end_time
-- and are kept.)

create or replace function conveyor.purge_cron_run_details()
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  cutoff timestamptz := pg_catalog.now()
    - pg_catalog.make_interval(secs => conveyor.setting('cron_run_details_retention_days') * 86400);
begin
  return pg_catalog.jsonb_build_object('cutoff', cutoff, 'deleted', conveyor.delete_in_batches(
    'delete from cron.job_run_details as d
      where d.runid in (select o.runid from cron.job_run_details as o
                         where o.end_time < $1 order by o.runid limit $2)',
    cutoff));
end
$$;

comment on function conveyor.purge_cron_run_details() is
  'Upkeep (pg_cron): deletes pg_cron run history (cron.job_run_details) of runs that ended more than cron_run_details_retention_days ago, in batches. Returns {cutoff, deleted}.';

revoke all on function conveyor.purge_cron_run_details() from public, anon, authenticated;
