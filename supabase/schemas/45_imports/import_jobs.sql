-- Import jobs: a shop's feed file (CSV, NDJSON or a JSON array) at an http(s) URL, streamed by the
-- process-import edge function into conveyor.sales_input in chunks, where the sales pipeline
-- takes over. A job is created by an insert (SQL, the `import` function or `deno task import`);
-- inserting it, or setting it back to pending, wakes process-import. Cancelling is
--   update conveyor.import_jobs set status = 'cancelled' where id = ...;
-- and the run stops at its next chunk.
--   pending   -> waiting for a run (new, handed over at the end of a run's slice, or reaped)
--   running   -> a run holds it (run_id) and beats heartbeat_at
--   succeeded | failed (last_error says why) | cancelled

create table conveyor.import_jobs (
  id bigint generated always as identity primary key,
  shop text not null,
  format text not null default 'csv',
  source_url text not null,
  -- {"<column name, or its 1-based number without a header>": "<record field, e.g. product.sku>"};
  -- null: header names map to themselves (dotted for nested fields).
  mapping jsonb,
  delimiter text not null default ',',
  header boolean not null default true,
  encoding text not null default 'utf-8',
  decimal_comma boolean not null default false,
  status text not null default 'pending',
  -- the file's size when the server said it (Content-Length), for progress and ETA
  bytes_total bigint,
  bytes_read bigint not null default 0,
  rows_read bigint not null default 0,
  rows_accepted bigint not null default 0,
  rows_rejected bigint not null default 0,
  attempts integer not null default 0,
  last_error text,
  -- the position after the last stored chunk: its byte offset, data rows and lines before it
  checkpoint_offset bigint not null default 0,
  checkpoint_row bigint not null default 0,
  checkpoint_line bigint not null default 0,
  -- the CSV header read at offset 0, so a run resuming with a Range request knows the columns
  columns text[],
  -- whether the server answered a Range request with 206 (null: not known yet)
  accepts_ranges boolean,
  run_id uuid,
  heartbeat_at timestamptz,
  created_at timestamptz not null default pg_catalog.clock_timestamp(),
  started_at timestamptz,
  finished_at timestamptz,
  updated_at timestamptz not null default pg_catalog.clock_timestamp(),
  constraint import_jobs_status_known
    check (status in ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
  constraint import_jobs_counts_add_up
    check (rows_read = rows_accepted + rows_rejected and checkpoint_row <= rows_read)
);

create index import_jobs_waiting_idx on conveyor.import_jobs (created_at, id)
  where status in ('pending', 'running');

comment on table conveyor.import_jobs is
  'Import jobs: a feed file at a URL streamed into conveyor.sales_input in chunks, with status pending|running|succeeded|failed|cancelled, progress, checkpoint and heartbeat.';
comment on column conveyor.import_jobs.mapping is
  'Column -> record field ({"Артикул": "product.sku"}); keys are 1-based column numbers when header is false; null maps header names to themselves.';
comment on column conveyor.import_jobs.checkpoint_offset is
  'Byte offset after the last stored chunk: a resumed run asks for it with a Range request, or skips checkpoint_row rows.';

revoke all on table conveyor.import_jobs from public, anon, authenticated;
grant select, insert, update on table conveyor.import_jobs to service_role;

-- The record fields a mapping may name (docs/reference/record-contract.md).
create or replace function conveyor.import_record_fields()
returns text[]
language sql
immutable
set search_path = ''
as $$
  select array[
    'source', 'external_id', 'occurred_at', 'type', 'quantity', 'unit_price', 'currency',
    'product.sku', 'product.name', 'product.manufacturer', 'product.category', 'product.group',
    'product.kind', 'supplier.name', 'supplier.tax_id', 'location.name', 'location.city',
    'location.address'
  ]::text[]
$$;

comment on function conveyor.import_record_fields() is
  'The sales record fields an import mapping may name, dotted for nested ones (the record contract).';

revoke all on function conveyor.import_record_fields() from public, anon, authenticated;
grant execute on function conveyor.import_record_fields() to service_role;

-- Refuses bad job input at insert (and at an update of the input), naming the field; stamps
-- started_at, finished_at and updated_at as the status moves.
create or replace function conveyor.check_import_job()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  bad_key text;
  bad_value text;
begin
  if tg_op = 'INSERT' or new.shop is distinct from old.shop or new.format is distinct from old.format
     or new.source_url is distinct from old.source_url or new.mapping is distinct from old.mapping
     or new.delimiter is distinct from old.delimiter or new.encoding is distinct from old.encoding then
    if not exists (select from public.shops as s where s.code = new.shop and s.active) then
      raise exception 'import_jobs.shop: "%" is not an active shop', new.shop
        using errcode = 'check_violation', hint = 'Shops are listed in public.shops.';
    end if;
    if new.format is null or new.format not in ('csv', 'ndjson', 'json') then
      raise exception 'import_jobs.format: "%" is not one of csv, ndjson, json', new.format
        using errcode = 'check_violation';
    end if;
    if new.source_url is null or new.source_url !~* '^https?://[^/\s]+' then
      raise exception 'import_jobs.source_url: "%" is not an http or https URL', new.source_url
        using errcode = 'check_violation',
              hint = 'A Supabase Storage object is imported through a signed URL.';
    end if;
    if new.delimiter is null or pg_catalog.length(new.delimiter) <> 1 or new.delimiter in ('"', E'\n', E'\r') then
      raise exception 'import_jobs.delimiter: "%" must be one character other than a quote or a line break', new.delimiter
        using errcode = 'check_violation';
    end if;
    if new.encoding is null or pg_catalog.lower(new.encoding) not in
       ('utf-8', 'utf8', 'windows-1251', 'cp1251', 'windows-1252', 'koi8-r', 'koi8-u', 'iso-8859-1', 'iso-8859-5', 'ibm866') then
      raise exception 'import_jobs.encoding: "%" is not supported (utf-8, windows-1251, windows-1252, koi8-r, koi8-u, iso-8859-1, iso-8859-5, ibm866)', new.encoding
        using errcode = 'check_violation';
    end if;
    if new.mapping is not null then
      if pg_catalog.jsonb_typeof(new.mapping) <> 'object' or new.mapping = '{}'::jsonb then
        raise exception 'import_jobs.mapping: names no column (an object of column -> record field, e.g. {"Артикул": "product.sku"})'
          using errcode = 'check_violation';
      end if;
      select m.key into bad_key
        from pg_catalog.jsonb_each(new.mapping) as m
       where pg_catalog.btrim(m.key) = ''
          or (not new.header and m.key !~ '^[1-9][0-9]{0,3}$')
       limit 1;
      if found then
        raise exception 'import_jobs.mapping: "%" names no column (%)', bad_key,
          case when new.header then 'a column name from the header' else 'a 1-based column number, as the file has no header' end
          using errcode = 'check_violation';
      end if;
      select m.key, m.value::text into bad_key, bad_value
        from pg_catalog.jsonb_each(new.mapping) as m
       where pg_catalog.jsonb_typeof(m.value) <> 'string'
          or not (m.value #>> '{}') = any (conveyor.import_record_fields())
       limit 1;
      if found then
        raise exception 'import_jobs.mapping: column "%" maps to %, which is not a record field (one of %)',
          bad_key, bad_value, pg_catalog.array_to_string(conveyor.import_record_fields(), ', ')
          using errcode = 'check_violation';
      end if;
      select m.value #>> '{}' into bad_value
        from pg_catalog.jsonb_each(new.mapping) as m
       group by m.value #>> '{}'
      having pg_catalog.count(*) > 1
       limit 1;
      if found then
        raise exception 'import_jobs.mapping: more than one column maps to "%"', bad_value
          using errcode = 'check_violation';
      end if;
    end if;
  end if;
  new.updated_at := pg_catalog.clock_timestamp();
  if tg_op = 'UPDATE' and new.status is distinct from old.status then
    if new.status = 'running' then
      new.started_at := coalesce(old.started_at, pg_catalog.clock_timestamp());
    elsif new.status in ('succeeded', 'failed', 'cancelled') then
      new.finished_at := pg_catalog.clock_timestamp();
      new.run_id := null;
    end if;
  end if;
  return new;
end
$$;

comment on function conveyor.check_import_job() is
  'BEFORE trigger of conveyor.import_jobs: refuses an inactive shop, an unknown format, a non-http(s) URL, a bad delimiter or encoding, and a mapping that names no column or no record field, naming the field; stamps started_at, finished_at and updated_at.';

revoke all on function conveyor.check_import_job() from public, anon, authenticated;

create trigger import_jobs_check
  before insert or update on conveyor.import_jobs
  for each row
  execute function conveyor.check_import_job();

-- A pending job wakes process-import (after commit, through pg_net), unless an operator paused
-- its wakes. The run answers at once and works in the background; the 5-minute timeout covers a
-- run asked to answer when it is done.
create or replace function conveyor.wake_import_worker()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if exists (select from conveyor.function_wakes as w where w.function_name = 'process-import' and w.paused) then
    return null;
  end if;
  perform conveyor.try_wake_function('process-import', 'import_job', 300000);
  return null;
end
$$;

comment on function conveyor.wake_import_worker() is
  'AFTER trigger of conveyor.import_jobs on pending jobs: wakes process-import through pg_net (5-minute timeout) unless its wakes are paused; a failed wake is a WARNING.';

revoke all on function conveyor.wake_import_worker() from public, anon, authenticated;

create trigger import_jobs_wake
  after insert or update of status on conveyor.import_jobs
  for each row
  when (new.status = 'pending')
  execute function conveyor.wake_import_worker();
