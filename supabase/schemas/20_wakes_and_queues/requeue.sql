-- Replay: puts rejected or failed (or processed) staging records back on their queue after a
-- fix, and wakes the worker.

create or replace function conveyor.requeue(
  pipeline text,
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
  target conveyor.pipelines;
  messages jsonb[];
  requeued bigint;
begin
  select * into target from conveyor.pipelines as p where p.name = pipeline;
  if not found then
    raise exception 'requeue: pipeline "%" is not registered (see conveyor.pipelines)', pipeline;
  end if;
  if statuses is null or not statuses <@ array['rejected', 'failed', 'processed'] then
    raise exception 'requeue: statuses must be among rejected, failed, processed (got %)', statuses;
  end if;
  execute pg_catalog.format(
    'with picked as (
       update %s as s
          set status = ''received'', error = null, attempts = 0, processed_at = null
        where s.status = any ($1)
          and ($2 is null or s.id = any ($2))
          and ($3 is null or s.batch_id = $3)
       returning s.id
     )
     select pg_catalog.array_agg(pg_catalog.jsonb_build_object(''id'', p.id) order by p.id), pg_catalog.count(*)
       from picked as p',
    target.staging_table::regclass)
    into messages, requeued
    using statuses, only_ids, only_batch;
  if requeued > 0 then
    perform pgmq.send_batch(target.queue_name, messages, 0::integer);
    perform conveyor.request_wake(target.worker_function, 'requeue');
  end if;
  return requeued;
end
$$;

comment on function conveyor.requeue(text, text[], bigint[], uuid) is
  'Replays staging records of a pipeline: sets the chosen rejected/failed (or processed) rows back to received, queues them again and wakes the worker; returns how many.';

revoke all on function conveyor.requeue(text, text[], bigint[], uuid) from public, anon, authenticated;
grant execute on function conveyor.requeue(text, text[], bigint[], uuid) to service_role;
