-- Waking an edge function from SQL. pg_net sends the request after the calling transaction
-- commits (a rollback sends nothing); the body is a small "wake up" note, never the data, which
-- waits in pgmq. pg_net does not retry: the queue's visibility timeout and the pg_cron safety
-- net cover a lost wake.

create or replace function conveyor.wake_function(
  function_name text,
  payload jsonb default '{}'::jsonb,
  timeout_milliseconds integer default 5000
)
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  base_url text;
begin
  if function_name is null or function_name !~ '^[A-Za-z0-9][A-Za-z0-9_-]*$' then
    raise exception 'wake_function: function_name "%" is not a valid edge function name', function_name;
  end if;
  if pg_catalog.octet_length(payload::text) > 4096 then
    raise exception 'wake_function: payload for "%" is % bytes; keep wake calls under 4 KB and leave data in the queue',
      function_name, pg_catalog.octet_length(payload::text);
  end if;
  base_url := pg_catalog.rtrim(conveyor.secret('conveyor_project_url'), '/');
  return net.http_post(
    url := base_url || '/functions/v1/' || function_name,
    body := payload,
    params := '{}'::jsonb,
    headers := pg_catalog.jsonb_build_object(
      'Content-Type', 'application/json',
      'Authorization', 'Bearer ' || conveyor.secret('conveyor_worker_key')
    ),
    timeout_milliseconds := timeout_milliseconds
  );
end
$$;

comment on function conveyor.wake_function(text, jsonb, integer) is
  'Wakes an edge function through pg_net (after commit) with a small JSON body and the worker key from Vault; returns the pg_net request id.';

revoke all on function conveyor.wake_function(text, jsonb, integer) from public, anon, authenticated;
