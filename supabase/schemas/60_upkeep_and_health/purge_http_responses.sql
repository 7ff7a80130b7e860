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
  batch_rows bigint := conveyor.setting('upkeep_batch_rows')::bigint;
  max_batches integer := conveyor.setting('upkeep_max_batches')::integer;
  deleted bigint;
  total bigint := 0;
  batches integer := 0;
begin
  if batch_rows < 1 or max_batches < 1 then
    raise exception 'purge_http_responses: upkeep_batch_rows and upkeep_max_batches must be at least 1 (got %, %)', batch_rows, max_batches;
  end if;
  loop
    delete from net._http_response as r
     where r.ctid = any (array(
             select o.ctid from net._http_response as o where o.created < cutoff limit batch_rows));
    get diagnostics deleted = row_count;
    total := total + deleted;
    batches := batches + 1;
    exit when deleted < batch_rows or batches >= max_batches;
  end loop;
  return pg_catalog.jsonb_build_object('cutoff', cutoff, 'deleted', total);
end
$$;

comment on function conveyor.purge_http_responses() is
  'Upkeep (pg_cron): deletes pg_net responses (net._http_response) older than http_response_retention_hours, in batches. Returns {cutoff, deleted}.';

revoke all on function conveyor.purge_http_responses() from public, anon, authenticated;
