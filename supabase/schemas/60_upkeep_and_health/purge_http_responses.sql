-- Upkeep: pg_net keeps one row per request in net._http_response (its own time to live is
-- pg_net.ttl, 6 hours by default, and only while its worker runs). Every wake adds one; this job
-- deletes those older than `http_response_retention_hours`, in batches of `upkeep_batch_rows`
-- (the table has no key: by ctid), at most `upkeep_max_batches` per run.

create or replace function conveyor.purge_http_responses()
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  cutoff timestamptz := pg_catalog.now()
    - pg_catalog.make_interval(secs => conveyor.setting('http_response_retention_hours') * 3600);
begin
  return pg_catalog.jsonb_build_object('cutoff', cutoff, 'deleted', conveyor.delete_in_batches(
    'delete from net._http_response as r
      where r.ctid = any (array(select o.ctid from net._http_response as o where o.created < $1 limit $2))',
    cutoff));
end
$$;

comment on function conveyor.purge_http_responses() is
  'Upkeep (pg_cron): deletes pg_net responses (net._http_response) older than http_response_retention_hours, in batches. Returns {cutoff, deleted}.';

revoke all on function conveyor.purge_http_responses() from public, anon, authenticated;
