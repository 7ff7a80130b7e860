-- What a pipeline's staging table did lately, in one scan: records processed in the last 5 and
-- 60 minutes, rejected in the last 60 minutes, and the rejected and failed records waiting for
-- a replay. Read by conveyor.pipeline_health.

create type conveyor.staging_activity_counts as (
  processed_last_5m bigint,
  processed_last_60m bigint,
  rejected_last_60m bigint,
  rejected bigint,
  failed bigint
);

comment on type conveyor.staging_activity_counts is
  'A pipeline''s recent staging activity: processed in 5 and 60 minutes, rejected in 60 minutes, rejected and failed in all.';

create or replace function conveyor.staging_activity(pipeline text)
returns conveyor.staging_activity_counts
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  staging text;
  processed_5m bigint;
  processed_60m bigint;
  rejected_60m bigint;
  rejected_all bigint;
  failed_all bigint;
begin
  select p.staging_table into strict staging from conveyor.pipelines as p where p.name = pipeline;
  execute pg_catalog.format(
    'select pg_catalog.count(*) filter (where s.status = ''processed'' and s.processed_at >= $1 - interval ''5 minutes''),
            pg_catalog.count(*) filter (where s.status = ''processed'' and s.processed_at >= $1 - interval ''60 minutes''),
            pg_catalog.count(*) filter (where s.status = ''rejected'' and s.processed_at >= $1 - interval ''60 minutes''),
            pg_catalog.count(*) filter (where s.status = ''rejected''),
            pg_catalog.count(*) filter (where s.status = ''failed'')
       from %s as s',
    staging::regclass)
    into processed_5m, processed_60m, rejected_60m, rejected_all, failed_all
    using pg_catalog.now();
  return row(processed_5m, processed_60m, rejected_60m, rejected_all, failed_all)::conveyor.staging_activity_counts;
end
$$;

comment on function conveyor.staging_activity(text) is
  'A pipeline''s staging activity in one scan: processed in the last 5 and 60 minutes, rejected in the last 60 minutes, rejected and failed in all.';

revoke all on function conveyor.staging_activity(text) from public, anon, authenticated;
