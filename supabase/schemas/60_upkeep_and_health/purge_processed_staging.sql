-- Upkeep: retention of processed staging rows. Every processed record would otherwise stay in its
-- staging table for ever (and its dead versions with it), so the table, and every scan of it,
-- grows with the feed. Rows processed more than `staging_retention_days` ago are deleted;
-- received, rejected and failed rows are never deleted (they wait for the worker or for a replay).
--
-- The deletes go in id ranges of `upkeep_batch_rows` ids, oldest first, each one set-based
-- statement on the primary key, and stop at the first range holding a row received after the
-- cutoff (ids are arrival order, so later ranges are newer) or after `upkeep_max_batches`
-- ranges; the next run goes on. An empty stretch of ids is skipped by one index probe.

create or replace function conveyor.purge_processed_staging()
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  cutoff timestamptz := pg_catalog.now()
    - pg_catalog.make_interval(secs => conveyor.setting('staging_retention_days') * 86400);
  batch_rows bigint := conveyor.setting('upkeep_batch_rows')::bigint;
  max_batches integer := conveyor.setting('upkeep_max_batches')::integer;
  pipeline record;
  staging regclass;
  low bigint;
  deleted bigint;
  total bigint;
  batches integer;
  newer_in_range boolean;
  per_pipeline jsonb := '{}'::jsonb;
begin
  if batch_rows < 1 or max_batches < 1 then
    raise exception 'purge_processed_staging: upkeep_batch_rows and upkeep_max_batches must be at least 1 (got %, %)', batch_rows, max_batches;
  end if;
  for pipeline in select p.name, p.staging_table from conveyor.pipelines as p order by p.name loop
    staging := pipeline.staging_table::regclass;
    total := 0;
    batches := 0;
    execute pg_catalog.format('select pg_catalog.min(s.id) from %s as s', staging) into low;
    while low is not null and batches < max_batches loop
      execute pg_catalog.format(
        'delete from %s as s
          where s.id >= $1 and s.id < $2 and s.status = ''processed'' and s.processed_at < $3', staging)
        using low, low + batch_rows, cutoff;
      get diagnostics deleted = row_count;
      total := total + deleted;
      batches := batches + 1;
      execute pg_catalog.format(
        'select exists (select from %s as s where s.id >= $1 and s.id < $2 and s.received_at >= $3)', staging)
        into newer_in_range
        using low, low + batch_rows, cutoff;
      exit when newer_in_range;
      execute pg_catalog.format('select pg_catalog.min(s.id) from %s as s where s.id >= $1', staging)
        into low
        using low + batch_rows;
    end loop;
    per_pipeline := per_pipeline || pg_catalog.jsonb_build_object(
      pipeline.name, pg_catalog.jsonb_build_object('deleted', total, 'batches', batches));
  end loop;
  return pg_catalog.jsonb_build_object('cutoff', cutoff, 'pipelines', per_pipeline);
end
$$;

comment on function conveyor.purge_processed_staging() is
  'Upkeep (pg_cron): deletes staging rows of every pipeline processed more than staging_retention_days ago, in id ranges of upkeep_batch_rows, at most upkeep_max_batches per pipeline; never received, rejected or failed rows. Returns {cutoff, pipelines: {<name>: {deleted, batches}}}.';

revoke all on function conveyor.purge_processed_staging() from public, anon, authenticated;
