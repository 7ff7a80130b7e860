-- One row per edge function woken from SQL: when it was last woken, how often it may be
-- (coalescing), and whether an operator paused its automatic wakes (triggers and pg_cron).

create table conveyor.function_wakes (
  function_name text primary key,
  min_interval interval not null default interval '250 milliseconds',
  paused boolean not null default false,
  last_requested_at timestamptz not null default '-infinity',
  requests_sent bigint not null default 0,
  last_wake_error text,
  last_wake_error_at timestamptz
);

comment on table conveyor.function_wakes is
  'One row per edge function woken from SQL: when it was last woken and how often it may be.';

comment on column conveyor.function_wakes.last_wake_error is
  'Why the last wake of this function failed (for example a Vault secret missing); null once a wake succeeds again.';
comment on column conveyor.function_wakes.last_wake_error_at is
  'When a wake of this function last failed (kept after the error clears).';

revoke all on table conveyor.function_wakes from public, anon, authenticated;
