-- Retries and replay. A transient failure (lost connection, deadlock, timeout) leaves the batch's
-- messages in the queue: etl.defer_sales_messages records the error and pushes each message's
-- visibility out by the worker's backoff. etl.requeue_sales_input puts rejected or failed records
-- back on the queue after a fix.

create or replace function etl.defer_sales_messages(deferrals jsonb, error text)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  deferred integer;
begin
  with d as (
    select * from pg_catalog.jsonb_to_recordset(deferrals)
      as x(input_id bigint, msg_id bigint, attempts integer, delay_seconds integer)
  ), noted as (
    update etl.sales_input as s
       set error = defer_sales_messages.error, attempts = d.attempts
      from d
     where s.id = d.input_id and s.status = 'received'
  )
  select pg_catalog.count(*)::integer
    into deferred
    from d
    cross join lateral pgmq.set_vt('sales_input'::text, d.msg_id, greatest(d.delay_seconds, 0)) as m;
  return deferred;
end
$$;

comment on function etl.defer_sales_messages(jsonb, text) is
  'After a transient failure: records the error and attempts on the staging rows and sets each message''s visibility timeout to its backoff delay ([{input_id,msg_id,attempts,delay_seconds}]).';

revoke all on function etl.defer_sales_messages(jsonb, text) from public, anon, authenticated;

create or replace function etl.requeue_sales_input(
  statuses text[] default array['rejected', 'failed'],
  only_ids bigint[] default null,
  only_batch uuid default null
)
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  messages jsonb[];
  requeued bigint;
begin
  if statuses is null or not statuses <@ array['rejected', 'failed', 'processed'] then
    raise exception 'requeue_sales_input: statuses must be among rejected, failed, processed (got %)', statuses;
  end if;
  with picked as (
    update etl.sales_input as s
       set status = 'received', error = null, attempts = 0, processed_at = null
     where s.status = any (statuses)
       and (only_ids is null or s.id = any (only_ids))
       and (only_batch is null or s.batch_id = only_batch)
    returning s.id
  )
  select pg_catalog.array_agg(pg_catalog.jsonb_build_object('id', p.id) order by p.id), pg_catalog.count(*)
    into messages, requeued
    from picked as p;
  if requeued > 0 then
    perform pgmq.send_batch('sales_input'::text, messages, 0::integer);
    perform etl.request_wake('process-sales', 'requeue');
  end if;
  return requeued;
end
$$;

comment on function etl.requeue_sales_input(text[], bigint[], uuid) is
  'Replays staging records: sets the chosen rejected/failed (or processed) rows back to received and queues them again; returns how many.';

revoke all on function etl.requeue_sales_input(text[], bigint[], uuid) from public, anon, authenticated;
grant execute on function etl.requeue_sales_input(text[], bigint[], uuid) to service_role;
