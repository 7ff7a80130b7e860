-- Staging: every record exactly as the ingest API received it, with its processing state.
--   received  -> waiting in the queue (or being processed)
--   processed -> normalised into public.operations
--   rejected  -> broke a rule; `error` names the field; kept, never retried on its own
--   failed    -> transient errors exhausted the attempts (dead letter); `error` is the last one
-- Rejected and failed rows are replayed with conveyor.requeue('sales') after a fix.
-- Every insert statement queues one pgmq message per new row ({"id": <staging id>}) in one
-- send_batch, then wakes the process-sales worker (coalesced). The queue itself is created by a
-- migration (20261204000300_sales_queue.sql).

-- Payloads that `payload ->> ...` and `payload::jsonb` can always read. The json type stores text
-- as received and accepts the escapes \u0000 (NUL) and lone surrogates (\ud800), which no
-- PostgreSQL text can hold: the first `->>` or jsonb cast that meets one fails, and a query over
-- the whole table fails with it. The ingest API refuses them with 400 naming the record and
-- field; this check refuses them from any other writer (a bulk SQL insert). Only a payload with a
-- \u escape at all is converted: the constraint tests for one inline (a LIKE, about 0.5 µs a row)
-- and calls the function only then (a plpgsql call on every row cost 1.7 µs).
create or replace function conveyor.sales_payload_is_readable(payload json)
returns boolean
language plpgsql
immutable
strict
set search_path = ''
as $$
declare
  problem text;
begin
  if pg_catalog.strpos(payload::text, '\u') = 0 then
    return true;
  end if;
  begin
    perform payload::jsonb;
  exception when others then
    get stacked diagnostics problem = message_text;
    raise exception 'conveyor.sales_input.payload: % (text holding a NUL character \u0000 or a lone surrogate such as \ud800 cannot be read by PostgreSQL)', problem
      using errcode = 'check_violation',
            hint = 'The ingest API refuses such records with 400 naming the field; remove or replace the character before inserting.';
  end;
  return true;
end
$$;

comment on function conveyor.sales_payload_is_readable(json) is
  'CHECK of conveyor.sales_input.payload: true when every string and key converts to PostgreSQL text (no \u0000, no lone surrogate); raises naming the problem otherwise.';

-- Run by whoever inserts (the check runs as the inserting role): service_role may insert.
revoke all on function conveyor.sales_payload_is_readable(json) from public, anon, authenticated;
grant execute on function conveyor.sales_payload_is_readable(json) to service_role;

-- A default batch id: the rows one transaction inserts share one batch, as the ingest API's do,
-- so `insert into conveyor.sales_input (payload) select ...` works and can be requeued as a batch.
create or replace function conveyor.transaction_batch_id()
returns uuid
language sql
stable
set search_path = ''
as $$
  select pg_catalog.md5(
           'conveyor batch ' || pg_catalog.pg_current_xact_id()::text || ' ' ||
           pg_catalog.pg_postmaster_start_time()::text
         )::uuid
$$;

comment on function conveyor.transaction_batch_id() is
  'Default batch_id of conveyor.sales_input: one uuid per transaction (from its transaction id), so the rows of one bulk insert share a batch.';

revoke all on function conveyor.transaction_batch_id() from public, anon, authenticated;
grant execute on function conveyor.transaction_batch_id() to service_role;

create table conveyor.sales_input (
  id bigint generated always as identity primary key,
  -- json, not jsonb: the text exactly as received, and no jsonb conversion on the ingest path
  -- (docs/decisions/staging-json-not-jsonb.md).
  payload json not null,
  received_at timestamptz not null default now(),
  batch_id uuid not null default conveyor.transaction_batch_id(),
  status text not null default 'received'
    check (status in ('received', 'processed', 'rejected', 'failed')),
  error text,
  attempts integer not null default 0,
  processed_at timestamptz,
  constraint sales_input_payload_readable
    check (payload::text not like '%\\u%' or conveyor.sales_payload_is_readable(payload))
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
