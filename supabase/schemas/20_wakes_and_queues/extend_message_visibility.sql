-- The worker keeps the messages of the batch it works on hidden by pushing their visibility out
-- while it works, so the queue's visibility timeout can be short and a dead worker's messages
-- come back in seconds.

create or replace function conveyor.extend_message_visibility(queue_name text, msg_ids bigint[], vt integer)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  extended integer;
begin
  if vt is null or vt < 0 then
    raise exception 'extend_message_visibility: vt must be 0 or more seconds (got %)', vt;
  end if;
  -- pgmq.set_vt for many messages in one statement. Rows locked by another statement (the batch
  -- being applied deletes them) are skipped, so this never waits for, nor deadlocks with, it.
  execute pg_catalog.format(
    'with target as (
       select m.msg_id from pgmq.%I as m where m.msg_id = any ($1) for update skip locked
     ), moved as (
       update pgmq.%I as m set vt = pg_catalog.clock_timestamp() + $2
         from target as t where m.msg_id = t.msg_id
       returning 1
     )
     select pg_catalog.count(*)::integer from moved',
    pgmq.format_table_name(queue_name, 'q'), pgmq.format_table_name(queue_name, 'q'))
  into extended
  using msg_ids, pg_catalog.make_interval(secs => vt);
  return extended;
end
$$;

comment on function conveyor.extend_message_visibility(text, bigint[], integer) is
  'Keeps messages a worker is working on hidden: sets their visibility to vt seconds from now (pgmq.set_vt for an array, skipping rows locked by their batch); returns how many.';

revoke all on function conveyor.extend_message_visibility(text, bigint[], integer) from public, anon, authenticated;
