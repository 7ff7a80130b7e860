-- The worker's queue statements are planned for tables that live in memory.
--
-- pgmq.read takes the oldest visible message ids, then joins them back to the queue table to
-- hide them (UPDATE ... FROM). With PostgreSQL's default random_page_cost of 4, which the
-- supabase/postgres image keeps for self-hosted projects, the planner prices 1000 index probes
-- above one sequential scan of the whole queue, so while a burst of 100,000 records waits, each
-- read hashes the entire queue table: 17-25 ms per read of 1000 messages instead of about 5 ms
-- (EXPLAIN ANALYZE on a queue of 100,000 messages; pg_stat_statements over deno task bench).
-- pgmq.delete by an array of ids inside etl.apply_sales_batch has the same problem on a queue
-- table that has not been analysed yet (5.5 against 1.7 ms per batch).
--
-- A queue table is small and hot: its pages are in shared buffers, where a random page costs
-- about what a sequential one does. Supabase's hosted projects set random_page_cost = 1.1 for
-- that reason. Setting it on the two functions the worker calls, not on the database, keeps
-- every other plan as the project's settings make it.
--
-- A later create or replace of etl.apply_sales_batch must restate the setting.

create or replace function etl.read_sales_messages(visibility_seconds integer, qty integer)
returns table (msg_id bigint, read_ct integer, message jsonb)
language sql
volatile
security definer
set search_path = ''
set random_page_cost = 1.1
as $$
  select m.msg_id, m.read_ct, m.message
    from pgmq.read('sales_input'::text, visibility_seconds, qty) as m
   order by m.msg_id
$$;

comment on function etl.read_sales_messages(integer, integer) is
  'Reads up to qty visible messages of the sales_input queue (pgmq.read: oldest first, hidden for visibility_seconds), planned with random_page_cost 1.1 so that the read joins its ids back to the queue by index, not by hashing the whole queue.';

revoke all on function etl.read_sales_messages(integer, integer) from public, anon, authenticated;

alter function etl.apply_sales_batch(jsonb) set random_page_cost = 1.1;
