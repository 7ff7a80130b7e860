-- Staging: every record exactly as the ingest API received it, with its processing state.
--   received  -> waiting in the queue (or being processed)
--   processed -> normalised into public.operations
--   rejected  -> broke a rule; `error` names the field; kept, never retried on its own
--   failed    -> transient errors exhausted the attempts (dead letter); `error` is the last one
-- Rejected and failed rows are replayed with etl.requeue_sales_input() after a fix.

create table if not exists etl.sales_input (
  id bigint generated always as identity primary key,
  -- json, not jsonb: the text exactly as received (key order, duplicates, number spelling), and
  -- no jsonb conversion on the ingest path; the worker parses it anyway.
  payload json not null,
  received_at timestamptz not null default now(),
  batch_id uuid not null,
  status text not null default 'received'
    check (status in ('received', 'processed', 'rejected', 'failed')),
  error text,
  attempts integer not null default 0,
  processed_at timestamptz
)
-- Each row is updated once or twice after insert (processed, rejected...). Free space in every
-- page, and no index on status, keep those updates HOT: about 3x cheaper than moving the row.
with (fillfactor = 50);

create index if not exists sales_input_batch_id_idx on etl.sales_input (batch_id);

comment on table etl.sales_input is
  'Sales records exactly as received by the ingest API, with status received|processed|rejected|failed, the last error and attempts.';

revoke all on table etl.sales_input from public, anon, authenticated;
grant select, insert on table etl.sales_input to service_role;
