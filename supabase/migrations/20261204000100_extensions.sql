-- Hand-written environment step, applied before the declared schema: the extensions Conveyor stands on.
-- pg_cron schedules the safety nets; pgmq holds the queues; pg_net wakes edge functions after
-- commit; Vault keeps the settings. On Supabase each is created here. The local stack installs
-- the real extension when the machine has it, otherwise a compatible stand-in before migrations
-- run, which is why pgmq and pg_net are only created when their schema is not there yet. (A
-- schema diff does not decide which extensions a platform has, so this step is written by hand.)

create extension if not exists pg_cron with schema pg_catalog;
grant usage on schema cron to postgres;

do $$
begin
  if exists (select from pg_catalog.pg_available_extensions where name = 'pgmq') then
    create extension if not exists pgmq;
  elsif to_regnamespace('pgmq') is null then
    raise exception 'pgmq is not installed: enable it (Database > Extensions) or, locally, run deno task stack up';
  end if;

  if exists (select from pg_catalog.pg_available_extensions where name = 'pg_net') then
    create extension if not exists pg_net with schema extensions;
  elsif to_regnamespace('net') is null then
    raise exception 'pg_net is not installed: enable it (Database > Extensions) or, locally, run deno task stack up';
  end if;

  if to_regnamespace('vault') is null then
    raise exception 'Supabase Vault (supabase_vault) is not installed';
  end if;
end
$$;
