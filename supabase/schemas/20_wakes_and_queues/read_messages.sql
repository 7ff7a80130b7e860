-- The workers' queue read: pgmq.read planned for a small, hot table. Whatever the queue's
-- statistics say, it walks the queue by its primary key and joins the ids it takes by a merge
-- join (docs/decisions/queue-read-plan-settings.md: a read of 1000 from 50,000 messages took 5.7 s with
-- the nested loop the planner chose from stale statistics, 5.4 ms this way).

create or replace function conveyor.read_messages(queue_name text, visibility_seconds integer, qty integer)
returns table (msg_id bigint, read_ct integer, message jsonb)
language sql
volatile
security definer
set search_path = ''
set random_page_cost = 1.1
set enable_seqscan = off
set enable_nestloop = off
set enable_hashjoin = off
as $$
  select m.msg_id, m.read_ct, m.message
    from pgmq.read(queue_name, visibility_seconds, qty) as m
   order by m.msg_id
$$;

comment on function conveyor.read_messages(text, integer, integer) is
  'Reads up to qty visible messages of a queue (pgmq.read: oldest first, hidden for visibility_seconds), planned to walk the queue by its primary key with a merge join whatever its statistics say.';

revoke all on function conveyor.read_messages(text, integer, integer) from public, anon, authenticated;
