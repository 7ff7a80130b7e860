-- LOCAL-ONLY STAND-IN for the pg_net extension (0.20). Never applied on Supabase, where the real
-- extension is installed; `deno task stack up` applies it only when pg_net is not installed in
-- the local PostgreSQL (Debian does not package it).
--
-- Written for this project from pg_net's documented API: same schema, tables, function
-- signatures, defaults and grants as pg_net 0.20, for the parts the project uses. The difference
-- is who sends the requests: pg_net has a background worker inside PostgreSQL; here
-- scripts/local-stack/net-dispatcher.ts runs next to the database, is woken by
-- NOTIFY conveyor_net_request, and polls as a fallback.
--
-- Semantics kept from pg_net:
--   * net.http_get/http_post/http_delete only queue a row in net.http_request_queue and return
--     its id. NOTIFY is transactional, and the queue row is invisible until commit, so a request
--     leaves only after the calling transaction commits; a rolled-back request is never sent.
--   * One row per request lands in net._http_response with the same id: status_code,
--     content_type, headers, content (text, NULL when empty), timed_out, error_msg. A timeout
--     gives timed_out = true and error_msg 'Timeout of <n> ms reached. ...'; other failures give
--     status_code NULL and the libcurl-style error text (e.g. 'Couldn''t connect to server').
--   * Responses older than 6 hours (pg_net.ttl's default) are deleted by the dispatcher.
--   * Requests are delivered at most once: the dispatcher removes a row before sending it.
--
-- Safe to apply more than once.

set client_min_messages = warning;

create schema if not exists net;

do $$
begin
  if to_regtype('net.http_method') is null then
    create domain net.http_method as text
      check (value ilike 'get' or value ilike 'post' or value ilike 'delete');
  end if;
  if to_regtype('net.request_status') is null then
    create type net.request_status as enum ('PENDING', 'SUCCESS', 'ERROR');
  end if;
  if to_regtype('net.http_response') is null then
    create type net.http_response as (status_code integer, headers jsonb, body text);
  end if;
  if to_regtype('net.http_response_result') is null then
    create type net.http_response_result as (
      status net.request_status,
      message text,
      response net.http_response
    );
  end if;
end
$$;

-- Requests waiting to be sent. The dispatcher deletes a row when it takes the request.
create unlogged table if not exists net.http_request_queue (
  id bigserial,
  method net.http_method not null,
  url text not null,
  headers jsonb,
  body bytea,
  timeout_milliseconds integer not null
);
comment on table net.http_request_queue is
  'Local stand-in for pg_net: requests waiting for the net dispatcher (visible only once committed).';

-- One row per sent (or failed) request, keyed by the request id.
create unlogged table if not exists net._http_response (
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out boolean,
  error_msg text,
  created timestamptz not null default now()
);
create index if not exists _http_response_created_idx on net._http_response (created);
comment on table net._http_response is
  'Local stand-in for pg_net: the outcome of each request, same id as the request; kept 6 hours.';

-- Percent-encodes every byte outside the URL-unreserved set (A-Z a-z 0-9 - . _ ~).
create or replace function net._urlencode_string(string varchar)
returns text
language sql
immutable
strict
as $$
  select coalesce(
    string_agg(
      case
        when piece.ch ~ '^[A-Za-z0-9._~-]$' then piece.ch
        else regexp_replace(upper(encode(convert_to(piece.ch, 'UTF8'), 'hex')), '(..)', '%\1', 'g')
      end,
      '' order by piece.n
    ),
    ''
  )
  from regexp_split_to_table(string::text, '') with ordinality as piece(ch, n)
$$;
comment on function net._urlencode_string(varchar) is
  'Local stand-in for pg_net: percent-encodes a string for use in a query string.';

-- Appends already-encoded key=value pairs to a URL's query string (before any #fragment).
create or replace function net._encode_url_with_params_array(url text, params_array text[])
returns text
language plpgsql
immutable
strict
as $$
declare
  query text := array_to_string(params_array, '&');
  hash_at integer := position('#' in url);
  base text := case when hash_at > 0 then left(url, hash_at - 1) else url end;
  fragment text := case when hash_at > 0 then substr(url, hash_at) else '' end;
begin
  if url !~ '^[A-Za-z][A-Za-z0-9+.-]*:' then
    raise exception 'invalid URL "%"', url;
  end if;
  if url !~ '^[A-Za-z][A-Za-z0-9+.-]*://' then
    raise exception 'Unsupported URL scheme';
  end if;
  if query = '' then
    return url;
  end if;
  if position('?' in base) = 0 then
    return base || '?' || query || fragment;
  end if;
  if right(base, 1) in ('?', '&') then
    return base || query || fragment;
  end if;
  return base || '&' || query || fragment;
end
$$;
comment on function net._encode_url_with_params_array(text, text[]) is
  'Local stand-in for pg_net: appends encoded key=value pairs to the query string of a URL.';

-- Wakes the dispatcher. NOTIFY is delivered only when the calling transaction commits.
create or replace function net.wake()
returns void
language sql
as $$
  select pg_catalog.pg_notify('conveyor_net_request', '')
$$;
comment on function net.wake() is
  'Local stand-in for pg_net: wakes the net dispatcher once the calling transaction commits.';

-- The dispatcher connects with application_name 'pg_net worker (conveyor net-dispatcher)'.
create or replace function net.check_worker_is_up()
returns void
language plpgsql
as $$
begin
  if not exists (
    select from pg_catalog.pg_stat_activity a
     where a.application_name ilike 'pg_net worker%'
  ) then
    raise exception using
      message = 'the pg_net background worker is not up',
      detail = 'no net dispatcher (scripts/local-stack/net-dispatcher.ts) is connected to this database',
      hint = 'start the local stack with `deno task stack up`';
  end if;
end
$$;
comment on function net.check_worker_is_up() is
  'raises an exception if the pg_net background worker is not up, otherwise it doesn''t return anything '
  '(local stand-in: checks that a net dispatcher is connected)';

create or replace function net.wait_until_running()
returns void
language plpgsql
as $$
begin
  while not exists (
    select from pg_catalog.pg_stat_activity a
     where a.application_name ilike 'pg_net worker%'
  ) loop
    perform pg_catalog.pg_sleep(0.05);
  end loop;
end
$$;
comment on function net.wait_until_running() is
  'waits until the worker is running (local stand-in: until a net dispatcher is connected; '
  'bound it with statement_timeout)';

create or replace function net.http_get(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds integer default 5000
)
returns bigint
language plpgsql
as $$
declare
  encoded_params text[];
  request_id bigint;
begin
  select coalesce(array_agg(net._urlencode_string(p.key) || '=' || net._urlencode_string(p.value)), '{}')
    into encoded_params
    from jsonb_each_text(params) as p;

  insert into net.http_request_queue (method, url, headers, timeout_milliseconds)
  values ('GET', net._encode_url_with_params_array(url, encoded_params), headers, timeout_milliseconds)
  returning id into request_id;

  perform net.wake();
  return request_id;
end
$$;
comment on function net.http_get(text, jsonb, jsonb, integer) is
  'Queues an HTTP GET (params url-encoded into the query string) and returns the request id; '
  'sent after the calling transaction commits (local stand-in for pg_net).';

create or replace function net.http_post(
  url text,
  body jsonb default '{}'::jsonb,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds integer default 5000
)
returns bigint
language plpgsql
as $$
declare
  given_content_type text;
  encoded_params text[];
  request_id bigint;
begin
  select h.value
    into given_content_type
    from jsonb_each_text(coalesce(headers, '{}'::jsonb)) as h
   where lower(h.key) = 'content-type'
   limit 1;

  if given_content_type is null then
    headers := headers || '{"Content-Type": "application/json"}'::jsonb;
  elsif given_content_type <> 'application/json' then
    raise exception 'Content-Type header must be "application/json"';
  end if;

  select coalesce(array_agg(net._urlencode_string(p.key) || '=' || net._urlencode_string(p.value)), '{}')
    into encoded_params
    from jsonb_each_text(params) as p;

  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values (
    'POST',
    net._encode_url_with_params_array(url, encoded_params),
    headers,
    convert_to(body::text, 'UTF8'),
    timeout_milliseconds
  )
  returning id into request_id;

  perform net.wake();
  return request_id;
end
$$;
comment on function net.http_post(text, jsonb, jsonb, jsonb, integer) is
  'Queues an HTTP POST with a JSON body and returns the request id; Content-Type must be '
  'application/json (added when missing); sent after the calling transaction commits (local stand-in for pg_net).';

create or replace function net.http_delete(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds integer default 5000,
  body jsonb default null
)
returns bigint
language plpgsql
as $$
declare
  encoded_params text[];
  request_id bigint;
begin
  select coalesce(array_agg(net._urlencode_string(p.key) || '=' || net._urlencode_string(p.value)), '{}')
    into encoded_params
    from jsonb_each_text(params) as p;

  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values (
    'DELETE',
    net._encode_url_with_params_array(url, encoded_params),
    headers,
    convert_to(body::text, 'UTF8'),
    timeout_milliseconds
  )
  returning id into request_id;

  perform net.wake();
  return request_id;
end
$$;
comment on function net.http_delete(text, jsonb, jsonb, integer, jsonb) is
  'Queues an HTTP DELETE (optional JSON body) and returns the request id; sent after the calling '
  'transaction commits (local stand-in for pg_net).';

-- Blocks until the response of a request is stored. Only useful from a later transaction.
create or replace function net._await_response(request_id bigint)
returns boolean
language plpgsql
as $$
begin
  while not exists (select from net._http_response r where r.id = request_id) loop
    perform pg_catalog.pg_sleep(0.05);
  end loop;
  return true;
end
$$;
comment on function net._await_response(bigint) is
  'Waits until the response of a request is stored (local stand-in for pg_net; bound it with statement_timeout).';

create or replace function net._http_collect_response(request_id bigint, async boolean default true)
returns net.http_response_result
language plpgsql
as $$
declare
  found_response net._http_response;
begin
  if not async then
    perform net._await_response(request_id);
  end if;

  select r.* into found_response from net._http_response r where r.id = request_id;

  if found_response.id is null or found_response.error_msg is not null then
    return row(
      'ERROR',
      coalesce(found_response.error_msg, 'request matching request_id not found'),
      null
    )::net.http_response_result;
  end if;

  return row(
    'SUCCESS',
    'ok',
    row(found_response.status_code, found_response.headers, found_response.content)::net.http_response
  )::net.http_response_result;
end
$$;
comment on function net._http_collect_response(bigint, boolean) is
  'The stored response of a request as net.http_response_result: ERROR with the error message '
  '(or not found yet), else SUCCESS; async := false waits for it (local stand-in for pg_net).';

create or replace function net.http_collect_response(request_id bigint, async boolean default true)
returns net.http_response_result
language plpgsql
as $$
begin
  raise notice 'The net.http_collect_response function is deprecated.';
  return net._http_collect_response(request_id, async);
end
$$;
comment on function net.http_collect_response(bigint, boolean) is
  'Deprecated: use net._http_collect_response (local stand-in for pg_net).';

-- pg_net's own grants: every role may queue requests and read responses.
grant usage on schema net to public;
grant all on all tables in schema net to public;
grant all on all sequences in schema net to public;
