-- After a transient failure (lost connection, deadlock, timeout) the batch's messages stay in
-- the queue: the error and attempts are recorded on the staging rows and each message's
-- visibility is pushed out by the worker's backoff.

create or replace function conveyor.defer_messages(pipeline text, deferrals jsonb, error text)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  target conveyor.pipelines;
  deferred integer;
begin
  select * into strict target from conveyor.pipelines as p where p.name = pipeline;
  execute pg_catalog.format(
    'update %s as s
        set error = $1, attempts = d.attempts
       from pg_catalog.jsonb_to_recordset($2) as d(input_id bigint, attempts integer)
      where s.id = d.input_id and s.status = ''received''',
    target.staging_table::regclass)
    using error, deferrals;
  select pg_catalog.count(*)::integer
    into deferred
    from pg_catalog.jsonb_to_recordset(deferrals) as d(msg_id bigint, delay_seconds integer)
    cross join lateral pgmq.set_vt(target.queue_name, d.msg_id, greatest(d.delay_seconds, 0)) as m;
  return deferred;
end
$$;

comment on function conveyor.defer_messages(text, jsonb, text) is
  'After a transient failure: records the error and attempts on the pipeline''s staging rows and sets each message''s visibility timeout to its backoff delay ([{input_id,msg_id,attempts,delay_seconds}]); returns how many were deferred.';

revoke all on function conveyor.defer_messages(text, jsonb, text) from public, anon, authenticated;
