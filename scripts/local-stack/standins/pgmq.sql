-- Local stack only: a stand-in for the pgmq extension, version 1.5.1.
--
-- Debian does not package pgmq, so `deno task stack up` applies this file (as the `postgres`
-- superuser, to a fresh database) when the real extension is not installed. It is NEVER applied on
-- Supabase, where the real pgmq extension is used. It is safe to apply twice.
--
-- Written by this project from pgmq's documented API (README / docs and the 1.5.x function
-- signatures), not copied from pgmq's source. It reproduces, for the subset of the API the
-- project uses, what callers can observe of pgmq 1.5.1:
--   * the schema `pgmq`, the catalogue table `pgmq.meta`, the queue tables `pgmq.q_<name>` and
--     archive tables `pgmq.a_<name>` with the same columns;
--   * the composite types `pgmq.message_record`, `pgmq.queue_record`, `pgmq.metrics_result`;
--   * the functions below with pgmq 1.5.1's exact names, parameter names, defaults, overloads and
--     return types (callers use named arguments and casts, so these must match).
-- Not provided: partitioned queues (pg_partman), detach_archive, convert_archive_partitioned.
--
-- Privileges follow what pgmq itself sets up (USAGE on the schema and SELECT on its tables and
-- sequences for pg_monitor; functions keep PostgreSQL's default EXECUTE for PUBLIC, gated by the
-- schema's USAGE) and what Supabase adds (objects owned by `postgres`, which applies this file).
-- Neither grants anything in `pgmq` to anon, authenticated or service_role: a migration that wants
-- those roles to use queues must grant it, and will then behave the same here and on Supabase.

create schema if not exists pgmq;
comment on schema pgmq is
  'Local stand-in for the pgmq 1.5.1 extension (scripts/local-stack/standins/pgmq.sql); never on Supabase.';

------------------------------------------------------------------------------------------------
-- Catalogue and types
------------------------------------------------------------------------------------------------

create table if not exists pgmq.meta (
  queue_name varchar unique not null,
  is_partitioned boolean not null,
  is_unlogged boolean not null,
  created_at timestamp with time zone not null default now()
);
comment on table pgmq.meta is 'One row per queue created with pgmq.create / pgmq.create_unlogged.';

do $types$
begin
  if to_regtype('pgmq.message_record') is null then
    create type pgmq.message_record as (
      msg_id bigint,
      read_ct integer,
      enqueued_at timestamp with time zone,
      vt timestamp with time zone,
      message jsonb,
      headers jsonb
    );
  end if;
  if to_regtype('pgmq.queue_record') is null then
    create type pgmq.queue_record as (
      queue_name varchar,
      is_partitioned boolean,
      is_unlogged boolean,
      created_at timestamp with time zone
    );
  end if;
  if to_regtype('pgmq.metrics_result') is null then
    create type pgmq.metrics_result as (
      queue_name text,
      queue_length bigint,
      newest_msg_age_sec integer,
      oldest_msg_age_sec integer,
      total_messages bigint,
      scrape_time timestamp with time zone,
      queue_visible_length bigint
    );
  end if;
end
$types$;

comment on type pgmq.message_record is 'A message as returned by read, pop and set_vt.';
comment on type pgmq.queue_record is 'A queue as listed by list_queues.';
comment on type pgmq.metrics_result is 'One queue''s figures as returned by metrics and metrics_all.';

------------------------------------------------------------------------------------------------
-- Names
------------------------------------------------------------------------------------------------

create or replace function pgmq.format_table_name(queue_name text, prefix text)
returns text
language plpgsql
immutable
as $fn$
begin
  if queue_name is null then
    raise exception 'pgmq: queue name must not be null';
  end if;
  if strpos(queue_name, '$') > 0 or strpos(queue_name, ';') > 0
     or strpos(queue_name, '--') > 0 or strpos(queue_name, '''') > 0 then
    raise exception 'pgmq: queue name % contains an invalid character ($, ;, -- or '')',
      quote_literal(queue_name);
  end if;
  return lower(prefix || '_' || queue_name);
end
$fn$;
comment on function pgmq.format_table_name(text, text) is
  'Table name for a queue: lower(prefix || ''_'' || queue_name); rejects $, ;, -- and quotes.';

create or replace function pgmq.validate_queue_name(queue_name text)
returns void
language plpgsql
immutable
as $fn$
begin
  if length(queue_name) >= 48 then
    raise exception 'pgmq: queue name % is too long (% characters); it must be shorter than 48',
      quote_literal(queue_name), length(queue_name);
  end if;
end
$fn$;
comment on function pgmq.validate_queue_name(text) is
  'Rejects queue names of 48 characters or more, as pgmq 1.5.1 does.';

------------------------------------------------------------------------------------------------
-- Creating and dropping queues
------------------------------------------------------------------------------------------------

-- Shared by create, create_non_partitioned and create_unlogged (stand-in internal).
create or replace function pgmq._standin_create_queue(queue_name text, unlogged boolean)
returns void
language plpgsql
as $fn$
declare
  q text := pgmq.format_table_name(queue_name, 'q');
  a text := pgmq.format_table_name(queue_name, 'a');
begin
  perform pgmq.validate_queue_name(queue_name);
  -- Serialise concurrent creation of the same queue until commit.
  perform pg_advisory_xact_lock(hashtext('pgmq.queue_' || q));

  execute format(
    'create %s table if not exists pgmq.%I (
       msg_id bigint primary key generated always as identity,
       read_ct integer not null default 0,
       enqueued_at timestamp with time zone not null default now(),
       vt timestamp with time zone not null,
       message jsonb,
       headers jsonb
     )',
    case when unlogged then 'unlogged' else '' end, q);
  execute format(
    'create table if not exists pgmq.%I (
       msg_id bigint primary key,
       read_ct integer not null default 0,
       enqueued_at timestamp with time zone not null default now(),
       archived_at timestamp with time zone not null default now(),
       vt timestamp with time zone not null,
       message jsonb,
       headers jsonb
     )',
    a);
  execute format('create index if not exists %I on pgmq.%I (vt)', q || '_vt_idx', q);
  execute format('create index if not exists %I on pgmq.%I (archived_at)', 'archived_at_idx_' || queue_name, a);

  insert into pgmq.meta as m (queue_name, is_partitioned, is_unlogged)
  values (_standin_create_queue.queue_name, false, unlogged)
  on conflict do nothing;
end
$fn$;
comment on function pgmq._standin_create_queue(text, boolean) is
  'Stand-in internal: creates q_<name>, a_<name>, their indexes and the meta row, idempotently.';

create or replace function pgmq.create_non_partitioned(queue_name text)
returns void
language sql
as $fn$
  select pgmq._standin_create_queue(queue_name, false);
$fn$;
comment on function pgmq.create_non_partitioned(text) is
  'Creates a logged queue (q_<name>) and its archive (a_<name>) if they do not exist.';

create or replace function pgmq.create(queue_name text)
returns void
language sql
as $fn$
  select pgmq._standin_create_queue(queue_name, false);
$fn$;
comment on function pgmq.create(text) is
  'Creates a queue: table pgmq.q_<name>, archive pgmq.a_<name> and a pgmq.meta row. Idempotent.';

create or replace function pgmq.create_unlogged(queue_name text)
returns void
language sql
as $fn$
  select pgmq._standin_create_queue(queue_name, true);
$fn$;
comment on function pgmq.create_unlogged(text) is
  'Creates a queue whose message table is UNLOGGED (the archive stays logged). Idempotent.';

create or replace function pgmq.create_partitioned(
  queue_name text,
  partition_interval text default '10000',
  retention_interval text default '100000'
)
returns void
language plpgsql
as $fn$
begin
  raise exception 'pg_partman is required for partitioned queues (queue %: the local pgmq stand-in has no pg_partman; partition %, retention %)',
    quote_literal(queue_name), partition_interval, retention_interval;
end
$fn$;
comment on function pgmq.create_partitioned(text, text, text) is
  'Partitioned queues need pg_partman, which the local stack does not have: always raises.';

create or replace function pgmq.drop_queue(queue_name text)
returns boolean
language plpgsql
as $fn$
declare
  q text := pgmq.format_table_name(queue_name, 'q');
  a text := pgmq.format_table_name(queue_name, 'a');
begin
  perform pg_advisory_xact_lock(hashtext('pgmq.queue_' || q));
  if to_regclass(format('pgmq.%I', q)) is null then
    raise notice 'pgmq queue % does not exist', quote_literal(queue_name);
    return false;
  end if;
  execute format('drop table if exists pgmq.%I, pgmq.%I', q, a);
  delete from pgmq.meta as m where m.queue_name = drop_queue.queue_name;
  return true;
end
$fn$;
comment on function pgmq.drop_queue(text) is
  'Drops a queue''s tables (messages and archive) and its meta row; false if the queue does not exist.';

create or replace function pgmq.drop_queue(queue_name text, partitioned boolean)
returns boolean
language plpgsql
as $fn$
begin
  raise warning 'drop_queue(queue_name, partitioned) is deprecated and will be removed in PGMQ v2.0. Use drop_queue(queue_name) instead.';
  return pgmq.drop_queue(queue_name);
end
$fn$;
comment on function pgmq.drop_queue(text, boolean) is
  'Deprecated form kept by pgmq 1.5.1: warns, then does drop_queue(queue_name).';

create or replace function pgmq.purge_queue(queue_name text)
returns bigint
language plpgsql
as $fn$
declare
  q text := pgmq.format_table_name(queue_name, 'q');
  removed bigint;
begin
  -- Lock first so the count is exactly what TRUNCATE removes.
  execute format('lock table pgmq.%I in access exclusive mode', q);
  execute format('select count(*) from pgmq.%I', q) into removed;
  execute format('truncate table pgmq.%I', q);
  return removed;
end
$fn$;
comment on function pgmq.purge_queue(text) is
  'Removes every message from a queue (not from its archive); returns how many it removed.';

create or replace function pgmq.list_queues()
returns setof pgmq.queue_record
language sql
stable
as $fn$
  select m.queue_name, m.is_partitioned, m.is_unlogged, m.created_at from pgmq.meta as m;
$fn$;
comment on function pgmq.list_queues() is 'Lists the queues recorded in pgmq.meta.';

------------------------------------------------------------------------------------------------
-- Sending
------------------------------------------------------------------------------------------------

-- The implementation every send overload ends in.
create or replace function pgmq.send(
  queue_name text,
  msg jsonb,
  headers jsonb,
  delay timestamp with time zone
)
returns setof bigint
language plpgsql
as $fn$
begin
  return query execute format(
    'insert into pgmq.%I (vt, message, headers) values ($1, $2, $3) returning msg_id',
    pgmq.format_table_name(queue_name, 'q'))
  using delay, msg, headers;
end
$fn$;
comment on function pgmq.send(text, jsonb, jsonb, timestamp with time zone) is
  'Sends one message with headers, invisible until the given time; returns its msg_id.';

create or replace function pgmq.send(queue_name text, msg jsonb)
returns setof bigint
language sql
as $fn$
  select pgmq.send(queue_name, msg, null::jsonb, clock_timestamp());
$fn$;
comment on function pgmq.send(text, jsonb) is 'Sends one message, visible at once; returns its msg_id.';

create or replace function pgmq.send(queue_name text, msg jsonb, headers jsonb)
returns setof bigint
language sql
as $fn$
  select pgmq.send(queue_name, msg, headers, clock_timestamp());
$fn$;
comment on function pgmq.send(text, jsonb, jsonb) is
  'Sends one message with headers, visible at once; returns its msg_id.';

create or replace function pgmq.send(queue_name text, msg jsonb, delay integer)
returns setof bigint
language sql
as $fn$
  select pgmq.send(queue_name, msg, null::jsonb, clock_timestamp() + make_interval(secs => delay));
$fn$;
comment on function pgmq.send(text, jsonb, integer) is
  'Sends one message, invisible for delay seconds; returns its msg_id.';

create or replace function pgmq.send(queue_name text, msg jsonb, delay timestamp with time zone)
returns setof bigint
language sql
as $fn$
  select pgmq.send(queue_name, msg, null::jsonb, delay);
$fn$;
comment on function pgmq.send(text, jsonb, timestamp with time zone) is
  'Sends one message, invisible until the given time; returns its msg_id.';

create or replace function pgmq.send(queue_name text, msg jsonb, headers jsonb, delay integer)
returns setof bigint
language sql
as $fn$
  select pgmq.send(queue_name, msg, headers, clock_timestamp() + make_interval(secs => delay));
$fn$;
comment on function pgmq.send(text, jsonb, jsonb, integer) is
  'Sends one message with headers, invisible for delay seconds; returns its msg_id.';

-- The implementation every send_batch overload ends in. Messages and headers pair up by position
-- (a missing header is null); ids come back in the order of the messages.
create or replace function pgmq.send_batch(
  queue_name text,
  msgs jsonb[],
  headers jsonb[],
  delay timestamp with time zone
)
returns setof bigint
language plpgsql
as $fn$
begin
  return query execute format(
    'insert into pgmq.%I (vt, message, headers)
     select $1, b.message, b.headers
       from unnest($2, $3) with ordinality as b(message, headers, position)
      order by b.position
     returning msg_id',
    pgmq.format_table_name(queue_name, 'q'))
  using delay, msgs, headers;
end
$fn$;
comment on function pgmq.send_batch(text, jsonb[], jsonb[], timestamp with time zone) is
  'Sends several messages with headers, invisible until the given time; returns their msg_ids in order.';

create or replace function pgmq.send_batch(queue_name text, msgs jsonb[])
returns setof bigint
language sql
as $fn$
  select pgmq.send_batch(queue_name, msgs, null::jsonb[], clock_timestamp());
$fn$;
comment on function pgmq.send_batch(text, jsonb[]) is
  'Sends several messages, visible at once; returns their msg_ids in order.';

create or replace function pgmq.send_batch(queue_name text, msgs jsonb[], headers jsonb[])
returns setof bigint
language sql
as $fn$
  select pgmq.send_batch(queue_name, msgs, headers, clock_timestamp());
$fn$;
comment on function pgmq.send_batch(text, jsonb[], jsonb[]) is
  'Sends several messages with headers, visible at once; returns their msg_ids in order.';

create or replace function pgmq.send_batch(queue_name text, msgs jsonb[], delay integer)
returns setof bigint
language sql
as $fn$
  select pgmq.send_batch(queue_name, msgs, null::jsonb[], clock_timestamp() + make_interval(secs => delay));
$fn$;
comment on function pgmq.send_batch(text, jsonb[], integer) is
  'Sends several messages, invisible for delay seconds; returns their msg_ids in order.';

create or replace function pgmq.send_batch(
  queue_name text,
  msgs jsonb[],
  delay timestamp with time zone
)
returns setof bigint
language sql
as $fn$
  select pgmq.send_batch(queue_name, msgs, null::jsonb[], delay);
$fn$;
comment on function pgmq.send_batch(text, jsonb[], timestamp with time zone) is
  'Sends several messages, invisible until the given time; returns their msg_ids in order.';

create or replace function pgmq.send_batch(
  queue_name text,
  msgs jsonb[],
  headers jsonb[],
  delay integer
)
returns setof bigint
language sql
as $fn$
  select pgmq.send_batch(queue_name, msgs, headers, clock_timestamp() + make_interval(secs => delay));
$fn$;
comment on function pgmq.send_batch(text, jsonb[], jsonb[], integer) is
  'Sends several messages with headers, invisible for delay seconds; returns their msg_ids in order.';

------------------------------------------------------------------------------------------------
-- Reading
------------------------------------------------------------------------------------------------

create or replace function pgmq.read(
  queue_name text,
  vt integer,
  qty integer,
  conditional jsonb default '{}'
)
returns setof pgmq.message_record
language plpgsql
as $fn$
begin
  -- Take up to qty visible messages, oldest first, skipping rows other readers hold; hide them
  -- for vt seconds and count the read. An empty (or null) conditional matches every message.
  return query execute format(
    'with taken as (
       select c.msg_id
         from pgmq.%1$I as c
        where c.vt <= clock_timestamp()
          and ($3 = ''{}''::jsonb or c.message @> $3)
        order by c.msg_id
        limit $1
        for update skip locked
     ), hidden as (
       update pgmq.%1$I as m
          set vt = clock_timestamp() + $2,
              read_ct = m.read_ct + 1
         from taken
        where m.msg_id = taken.msg_id
       returning m.msg_id, m.read_ct, m.enqueued_at, m.vt, m.message, m.headers
     )
     select * from hidden order by msg_id',
    pgmq.format_table_name(queue_name, 'q'))
  using qty, make_interval(secs => vt), coalesce(conditional, '{}'::jsonb);
end
$fn$;
comment on function pgmq.read(text, integer, integer, jsonb) is
  'Reads up to qty visible messages (oldest first, SKIP LOCKED), hiding them for vt seconds and '
  'incrementing read_ct; conditional keeps only messages whose body contains it (@>).';

create or replace function pgmq.read_with_poll(
  queue_name text,
  vt integer,
  qty integer,
  max_poll_seconds integer default 5,
  poll_interval_ms integer default 100,
  conditional jsonb default '{}'
)
returns setof pgmq.message_record
language plpgsql
as $fn$
declare
  give_up_at timestamp with time zone := clock_timestamp() + make_interval(secs => max_poll_seconds);
begin
  -- Polling needs a loop: each pass is one set-based read with a fresh snapshot.
  loop
    exit when clock_timestamp() >= give_up_at;
    return query select * from pgmq.read(queue_name, vt, qty, conditional);
    exit when found;
    perform pg_sleep(poll_interval_ms::numeric / 1000);
  end loop;
end
$fn$;
comment on function pgmq.read_with_poll(text, integer, integer, integer, integer, jsonb) is
  'Like read, but when nothing is visible retries every poll_interval_ms for up to '
  'max_poll_seconds; returns the first non-empty batch, or nothing.';

create or replace function pgmq.pop(queue_name text)
returns setof pgmq.message_record
language plpgsql
as $fn$
begin
  return query execute format(
    'delete from pgmq.%1$I as m
      where m.msg_id = (
        select c.msg_id
          from pgmq.%1$I as c
         where c.vt <= clock_timestamp()
         order by c.msg_id
         limit 1
         for update skip locked
      )
     returning m.msg_id, m.read_ct, m.enqueued_at, m.vt, m.message, m.headers',
    pgmq.format_table_name(queue_name, 'q'));
end
$fn$;
comment on function pgmq.pop(text) is
  'Removes and returns the oldest visible message (SKIP LOCKED), or nothing when none is visible.';

create or replace function pgmq.set_vt(queue_name text, msg_id bigint, vt integer)
returns setof pgmq.message_record
language plpgsql
as $fn$
begin
  return query execute format(
    'update pgmq.%I as m
        set vt = clock_timestamp() + $2
      where m.msg_id = $1
     returning m.msg_id, m.read_ct, m.enqueued_at, m.vt, m.message, m.headers',
    pgmq.format_table_name(queue_name, 'q'))
  using msg_id, make_interval(secs => vt);
end
$fn$;
comment on function pgmq.set_vt(text, bigint, integer) is
  'Makes a message invisible until vt seconds from now (0 makes it visible); returns it, or nothing.';

------------------------------------------------------------------------------------------------
-- Deleting and archiving
------------------------------------------------------------------------------------------------

create or replace function pgmq.delete(queue_name text, msg_id bigint)
returns boolean
language plpgsql
as $fn$
declare
  deleted boolean;
begin
  execute format(
    'with gone as (delete from pgmq.%I as m where m.msg_id = $1 returning 1)
     select exists (select from gone)',
    pgmq.format_table_name(queue_name, 'q'))
  into deleted
  using msg_id;
  return deleted;
end
$fn$;
comment on function pgmq.delete(text, bigint) is
  'Deletes one message for good; true if it existed.';

create or replace function pgmq.delete(queue_name text, msg_ids bigint[])
returns setof bigint
language plpgsql
as $fn$
begin
  return query execute format(
    'delete from pgmq.%I as m where m.msg_id = any($1) returning m.msg_id',
    pgmq.format_table_name(queue_name, 'q'))
  using msg_ids;
end
$fn$;
comment on function pgmq.delete(text, bigint[]) is
  'Deletes several messages for good; returns the ids that existed and were deleted.';

create or replace function pgmq.archive(queue_name text, msg_ids bigint[])
returns setof bigint
language plpgsql
as $fn$
begin
  return query execute format(
    'with moved as (
       delete from pgmq.%I as m
        where m.msg_id = any($1)
       returning m.msg_id, m.read_ct, m.enqueued_at, m.vt, m.message, m.headers
     )
     insert into pgmq.%I (msg_id, read_ct, enqueued_at, vt, message, headers)
     select moved.msg_id, moved.read_ct, moved.enqueued_at, moved.vt, moved.message, moved.headers
       from moved
     returning msg_id',
    pgmq.format_table_name(queue_name, 'q'),
    pgmq.format_table_name(queue_name, 'a'))
  using msg_ids;
end
$fn$;
comment on function pgmq.archive(text, bigint[]) is
  'Moves several messages to pgmq.a_<name> (archived_at = now()); returns the ids it moved.';

create or replace function pgmq.archive(queue_name text, msg_id bigint)
returns boolean
language sql
as $fn$
  select exists (select from pgmq.archive(queue_name, array[msg_id]));
$fn$;
comment on function pgmq.archive(text, bigint) is
  'Moves one message to pgmq.a_<name> (archived_at = now()); true if it existed.';

------------------------------------------------------------------------------------------------
-- Metrics
------------------------------------------------------------------------------------------------

create or replace function pgmq.metrics(queue_name text)
returns pgmq.metrics_result
language plpgsql
as $fn$
declare
  q text := pgmq.format_table_name(queue_name, 'q');
  result pgmq.metrics_result;
begin
  execute format(
    'select $1::text,
            count(*),
            extract(epoch from now() - max(m.enqueued_at))::integer,
            extract(epoch from now() - min(m.enqueued_at))::integer,
            coalesce(pg_catalog.pg_sequence_last_value($2::regclass), 0),
            now(),
            count(*) filter (where m.vt <= now())
       from pgmq.%I as m',
    q)
  into result
  using queue_name, pg_catalog.pg_get_serial_sequence(format('pgmq.%I', q), 'msg_id');
  return result;
end
$fn$;
comment on function pgmq.metrics(text) is
  'A queue''s figures: queue_length (all messages), queue_visible_length (vt passed), ages of the '
  'newest and oldest message in seconds, total_messages ever sent, scrape_time.';

create or replace function pgmq.metrics_all()
returns setof pgmq.metrics_result
language sql
as $fn$
  select r.*
    from pgmq.meta as m
    cross join lateral pgmq.metrics(m.queue_name) as r
   order by m.queue_name;
$fn$;
comment on function pgmq.metrics_all() is 'pgmq.metrics for every queue in pgmq.meta.';

------------------------------------------------------------------------------------------------
-- Privileges (as pgmq sets them up; see the header)
------------------------------------------------------------------------------------------------

grant usage on schema pgmq to pg_monitor;
grant select on all tables in schema pgmq to pg_monitor;
grant select on all sequences in schema pgmq to pg_monitor;
alter default privileges in schema pgmq grant select on tables to pg_monitor;
alter default privileges in schema pgmq grant select on sequences to pg_monitor;
