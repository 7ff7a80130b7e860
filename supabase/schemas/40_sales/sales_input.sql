-- Staging: every record exactly as the ingest API received it, with its processing state.
--   received  -> waiting in the queue (or being processed)
--   processed -> normalised into public.operations
--   rejected  -> broke a rule; `error` names the field; kept, never retried on its own
--   failed    -> transient errors exhausted the attempts (dead letter); `error` is the last one
-- Rejected and failed rows are replayed with conveyor.requeue_sales_input() after a fix.
-- Every insert statement queues one pgmq message per new row ({"id": <staging id>}) in one
-- send_batch, then wakes the process-sales worker (coalesced). The queue itself is created by a
-- migration (20261204000300_sales_queue_and_safety_net.sql).

create table conveyor.sales_input (
  id bigint generated always as identity primary key,
  -- json, not jsonb: the text exactly as received, and no jsonb conversion on the ingest path
  -- (docs/decisions/staging-json-not-jsonb.md).
  payload json not null,
  received_at timestamptz not null default now(),
  batch_id uuid not null,
  status text not null default 'received'
    check (status in ('received', 'processed', 'rejected', 'failed')),
  error text,
  attempts integer not null default 0,
  processed_at timestamptz
)
-- Each row is updated once or twice after insert; free space in every page and no index on
-- status keep those updates HOT.
with (fillfactor = 50);

create index sales_input_batch_id_idx on conveyor.sales_input (batch_id);

comment on table conveyor.sales_input is
  'Sales records exactly as received by the ingest API, with status received|processed|rejected|failed, the last error and attempts.';

revoke all on table conveyor.sales_input from public, anon, authenticated;
grant select, insert on table conveyor.sales_input to service_role;

create or replace function conveyor.enqueue_sales_input()
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
  perform conveyor.request_wake('process-sales', 'enqueue');
  return null;
end
$$;

comment on function conveyor.enqueue_sales_input() is
  'Statement trigger on conveyor.sales_input: queues one pgmq message per new row in one send_batch, then wakes process-sales (coalesced).';

revoke all on function conveyor.enqueue_sales_input() from public, anon, authenticated;

create trigger sales_input_enqueue
  after insert on conveyor.sales_input
  referencing new table as new_rows
  for each statement
  execute function conveyor.enqueue_sales_input();
