-- The sync engine's state in the working database: where each definition's push has got to (its
-- cursors, advanced only after the batch is committed in production) and a log of every run.

create table conveyor.sync_cursors (
  definition text not null,
  stream text not null check (stream in ('rows', 'tombstones')),
  sync_xid xid8 not null,
  -- The tie-breaker at that sync_xid: the key columns' values as text (rows), or the tombstone id.
  position jsonb not null,
  updated_at timestamptz not null default pg_catalog.now(),
  primary key (definition, stream)
);

comment on table conveyor.sync_cursors is
  'Per push definition and stream (rows, tombstones): the last (sync_xid, key) applied in production. Everything at or before it has arrived there.';

create table conveyor.sync_runs (
  id bigint generated always as identity primary key,
  run_id uuid not null,
  definition text not null,
  direction text not null check (direction in ('push', 'pull')),
  dry_run boolean not null default false,
  started_at timestamptz not null default pg_catalog.clock_timestamp(),
  finished_at timestamptz,
  rows_inserted bigint not null default 0,
  rows_updated bigint not null default 0,
  rows_deleted bigint not null default 0,
  bytes bigint not null default 0,
  -- busy: refused at the start, another run held one of its definitions (the error names it).
  status text not null default 'running' check (status in ('running', 'succeeded', 'failed', 'busy')),
  error text
);

create index sync_runs_definition_started_at_idx on conveyor.sync_runs (definition, started_at);

comment on table conveyor.sync_runs is
  'One row per definition per sync run: direction, dry run or not, when, rows inserted/updated/deleted in the destination, bytes sent, status (running, succeeded, failed, busy: refused because another run held a definition) and the error that stopped or refused it.';

revoke all on table conveyor.sync_cursors, conveyor.sync_runs from public, anon, authenticated;
grant select on table conveyor.sync_cursors, conveyor.sync_runs to service_role;
