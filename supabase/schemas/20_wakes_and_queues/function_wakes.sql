-- One row per edge function woken from SQL: when it was last woken, how often it may be
-- (coalescing), and whether an operator paused its automatic wakes (triggers and pg_cron).

create table if not exists conveyor.function_wakes (
  function_name text primary key,
  min_interval interval not null default interval '250 milliseconds',
  paused boolean not null default false,
  last_requested_at timestamptz not null default '-infinity',
  requests_sent bigint not null default 0
);

comment on table conveyor.function_wakes is
  'One row per edge function woken from SQL: when it was last woken and how often it may be.';

revoke all on table conveyor.function_wakes from public, anon, authenticated;
