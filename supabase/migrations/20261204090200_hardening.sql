-- Hardening (issue 14): the staging table refuses payloads PostgreSQL cannot read back, a bulk
-- insert without a batch id gets one, storing records never depends on waking the worker, and
-- operators pause and resume wakes with a function that wakes the worker when records wait.
-- Idempotent: safe to apply again.

-- ---------------------------------------------------------------------------------------------
-- 1. Staging payloads that `payload ->> ...` and `payload::jsonb` can always read.
-- The json type stores text as received, and accepts the escapes \u0000 (NUL) and lone
-- surrogates (\ud800), which no PostgreSQL text can hold: the first `->>` or jsonb cast that
-- meets one fails, and a query over the whole table fails with it. The ingest API refuses them
-- with 400 naming the record and field; this check refuses them from any other writer (a bulk
-- SQL insert). Only a payload with a \u escape at all is converted, so the ingest path pays a
-- strpos per row.

create or replace function etl.sales_payload_is_readable(payload json)
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
    raise exception 'etl.sales_input.payload: % (text holding a NUL character \u0000 or a lone surrogate such as \ud800 cannot be read by PostgreSQL)', problem
      using errcode = 'check_violation',
            hint = 'The ingest API refuses such records with 400 naming the field; remove or replace the character before inserting.';
  end;
  return true;
end
$$;

comment on function etl.sales_payload_is_readable(json) is
  'CHECK of etl.sales_input.payload: true when every string and key converts to PostgreSQL text (no \u0000, no lone surrogate); raises naming the problem otherwise.';

-- Run by whoever inserts (the check runs as the inserting role): service_role may insert.
revoke all on function etl.sales_payload_is_readable(json) from public, anon, authenticated;
grant execute on function etl.sales_payload_is_readable(json) to service_role;

do $$
begin
  if not exists (
    select from pg_catalog.pg_constraint
     where conrelid = 'etl.sales_input'::pg_catalog.regclass and conname = 'sales_input_payload_readable'
  ) then
    -- NOT VALID: rows stored before this check are left as they are (find them with
    -- `select id from etl.sales_input where payload::text like '%\u%'` and a jsonb cast per row).
    alter table etl.sales_input
      add constraint sales_input_payload_readable check (etl.sales_payload_is_readable(payload)) not valid;
  end if;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- 2. A default batch id: the rows one transaction inserts share one batch, as the ingest API's
-- do, so `insert into etl.sales_input (payload) select ...` works and can be requeued as a batch.

create or replace function etl.transaction_batch_id()
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

comment on function etl.transaction_batch_id() is
  'Default batch_id of etl.sales_input: one uuid per transaction (from its transaction id), so the rows of one bulk insert share a batch.';

revoke all on function etl.transaction_batch_id() from public, anon, authenticated;
grant execute on function etl.transaction_batch_id() to service_role;

alter table etl.sales_input alter column batch_id set default etl.transaction_batch_id();

-- ---------------------------------------------------------------------------------------------
-- 3. Wakes that never block storing. A wake that fails (a Vault secret missing, pg_net refusing)
-- is a WARNING and is recorded on etl.function_wakes; the records stay queued and the safety net
-- or the next insert wakes the worker once the cause is fixed. The next successful wake clears it.

alter table etl.function_wakes add column if not exists last_wake_error text;
alter table etl.function_wakes add column if not exists last_wake_error_at timestamptz;

comment on column etl.function_wakes.last_wake_error is
  'Why the last wake of this function failed (for example a Vault secret missing); null once a wake succeeds again.';
comment on column etl.function_wakes.last_wake_error_at is
  'When a wake of this function last failed (kept after the error clears).';

create or replace function etl.try_wake_function(function_name text, reason text)
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  request_id bigint;
  problem text;
  problem_hint text;
begin
  begin
    request_id := etl.wake_function(try_wake_function.function_name, pg_catalog.jsonb_build_object('reason', reason));
  exception when others then
    get stacked diagnostics problem = message_text, problem_hint = pg_exception_hint;
    raise warning 'Conveyor: waking % failed: %', try_wake_function.function_name, problem
      using hint = coalesce(nullif(problem_hint, ''), 'The records stay queued; the pg_cron safety net wakes the worker once this is fixed.');
    insert into etl.function_wakes as w (function_name, last_wake_error, last_wake_error_at)
    values (try_wake_function.function_name, problem, pg_catalog.clock_timestamp())
    on conflict on constraint function_wakes_pkey
    do update set last_wake_error = excluded.last_wake_error, last_wake_error_at = excluded.last_wake_error_at;
    return null;
  end;
  update etl.function_wakes as w
     set last_wake_error = null
   where w.function_name = try_wake_function.function_name
     and w.last_wake_error is not null;
  return request_id;
end
$$;

comment on function etl.try_wake_function(text, text) is
  'Wakes an edge function like etl.wake_function, but a failure is a WARNING recorded in etl.function_wakes.last_wake_error instead of an error; returns the pg_net request id or null.';

revoke all on function etl.try_wake_function(text, text) from public, anon, authenticated;

create or replace function etl.request_wake(function_name text, reason text default 'enqueue')
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  recent timestamptz;
  window_size interval;
  is_paused boolean;
begin
  select w.last_requested_at, w.min_interval, w.paused
    into recent, window_size, is_paused
    from etl.function_wakes as w
   where w.function_name = request_wake.function_name;
  if not found then
    insert into etl.function_wakes (function_name)
    values (request_wake.function_name)
    on conflict on constraint function_wakes_pkey do nothing;
    recent := '-infinity';
    window_size := interval '250 milliseconds';
    is_paused := false;
  end if;
  if is_paused then
    return null;
  end if;
  -- Cheap check first, without a lock: most callers inside the window stop here.
  if recent > pg_catalog.clock_timestamp() - window_size then
    return null;
  end if;
  update etl.function_wakes as w
     set last_requested_at = pg_catalog.clock_timestamp(),
         requests_sent = w.requests_sent + 1
   where w.function_name = request_wake.function_name
     and not w.paused
     and w.last_requested_at <= pg_catalog.clock_timestamp() - w.min_interval;
  if not found then
    return null; -- a concurrent statement woke it just now
  end if;
  return etl.try_wake_function(request_wake.function_name, reason);
end
$$;

comment on function etl.request_wake(text, text) is
  'Wakes an edge function unless it was woken less than min_interval ago (coalescing) or its wakes are paused; a failed wake is a WARNING recorded in etl.function_wakes, never an error; returns the pg_net request id or null.';

create or replace function etl.wake_if_pending(function_name text, queue_name text)
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  pending boolean;
begin
  if exists (select from etl.function_wakes as w where w.function_name = wake_if_pending.function_name and w.paused) then
    return null;
  end if;
  execute pg_catalog.format(
    'select exists (select from pgmq.%I where vt <= pg_catalog.clock_timestamp())',
    'q_' || queue_name
  ) into pending;
  if not pending then
    return null;
  end if;
  return etl.try_wake_function(wake_if_pending.function_name, 'cron');
end
$$;

comment on function etl.wake_if_pending(text, text) is
  'Safety net run by pg_cron: wakes the function when its queue holds visible messages (unless paused); a failed wake is a WARNING recorded in etl.function_wakes; returns the pg_net request id or null.';

-- ---------------------------------------------------------------------------------------------
-- 4. Pausing and resuming automatic wakes (triggers, pg_cron, a worker waking a peer).

create or replace function etl.pause_wakes(function_name text)
returns void
language sql
volatile
security definer
set search_path = ''
as $$
  insert into etl.function_wakes as w (function_name, paused)
  values (pause_wakes.function_name, true)
  on conflict on constraint function_wakes_pkey do update set paused = true;
$$;

comment on function etl.pause_wakes(text) is
  'Pauses automatic wakes of an edge function (triggers, pg_cron, peers); records keep being stored and queued. Undo with etl.resume_wakes.';

revoke all on function etl.pause_wakes(text) from public, anon, authenticated;

create or replace function etl.resume_wakes(function_name text, queue_name text)
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  insert into etl.function_wakes as w (function_name, paused)
  values (resume_wakes.function_name, false)
  on conflict on constraint function_wakes_pkey do update set paused = false;
  return etl.wake_if_pending(resume_wakes.function_name, resume_wakes.queue_name);
end
$$;

comment on function etl.resume_wakes(text, text) is
  'Resumes automatic wakes of an edge function and wakes it at once when its queue holds visible messages (what arrived while paused); returns the pg_net request id or null.';

revoke all on function etl.resume_wakes(text, text) from public, anon, authenticated;
