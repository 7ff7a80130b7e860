-- Observability: one view that says where every staging record is, for people and for scripts.

create or replace view etl.sales_pipeline_status as
select s.status,
       pg_catalog.count(*) as records,
       pg_catalog.min(s.received_at) as oldest_received_at,
       pg_catalog.max(s.processed_at) as last_processed_at
  from etl.sales_input as s
 group by s.status;

comment on view etl.sales_pipeline_status is 'Staging records per status, with the oldest received and the last processed time.';
revoke all on etl.sales_pipeline_status from public, anon, authenticated;
