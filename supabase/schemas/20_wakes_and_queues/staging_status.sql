-- Where every staging record is, per pipeline and status, for people and for scripts.

create type conveyor.staging_count as (
  status text,
  records bigint,
  oldest_received_at timestamptz,
  last_processed_at timestamptz
);

comment on type conveyor.staging_count is 'Staging records of one status: how many, the oldest received and the last processed time.';

create or replace function conveyor.staging_status(pipeline text)
returns setof conveyor.staging_count
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  staging text;
begin
  select p.staging_table into strict staging from conveyor.pipelines as p where p.name = pipeline;
  return query execute pg_catalog.format(
    'select s.status, pg_catalog.count(*), pg_catalog.min(s.received_at), pg_catalog.max(s.processed_at)
       from %s as s
      group by s.status',
    staging::regclass);
end
$$;

comment on function conveyor.staging_status(text) is
  'Staging records of a pipeline per status, with the oldest received and the last processed time.';

revoke all on function conveyor.staging_status(text) from public, anon, authenticated;

create view conveyor.pipeline_status as
select p.name as pipeline, s.status, s.records, s.oldest_received_at, s.last_processed_at
  from conveyor.pipelines as p
  cross join lateral conveyor.staging_status(p.name) as s;

comment on view conveyor.pipeline_status is 'Staging records per pipeline and status, with the oldest received and the last processed time.';
revoke all on conveyor.pipeline_status from public, anon, authenticated;
