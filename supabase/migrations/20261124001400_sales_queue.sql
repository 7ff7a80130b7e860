-- The sales queue and the statement-level trigger that fills it: one pgmq.send_batch per
-- INSERT statement (one message {"id": <staging id>} per row), then one coalesced wake-up of the
-- process-sales worker through pg_net.

select pgmq.create('sales_input')
 where not exists (select from pgmq.list_queues() as q where q.queue_name = 'sales_input');

create or replace function etl.enqueue_sales_input()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  messages jsonb[];
begin
  select pg_catalog.array_agg(pg_catalog.jsonb_build_object('id', r.id) order by r.id)
    into messages
    from new_rows as r
   where r.status = 'received';
  if messages is null then
    return null;
  end if;
  perform pgmq.send_batch('sales_input'::text, messages, 0::integer);
  perform etl.request_wake('process-sales', 'enqueue');
  return null;
end
$$;

comment on function etl.enqueue_sales_input() is
  'Statement trigger on etl.sales_input: queues one pgmq message per new row in one send_batch, then wakes process-sales (coalesced).';

revoke all on function etl.enqueue_sales_input() from public, anon, authenticated;

drop trigger if exists sales_input_enqueue on etl.sales_input;
create trigger sales_input_enqueue
  after insert on etl.sales_input
  referencing new table as new_rows
  for each statement
  execute function etl.enqueue_sales_input();
