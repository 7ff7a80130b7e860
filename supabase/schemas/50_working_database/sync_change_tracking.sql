-- Change tracking for the sync engine's push (docs/decisions/sync-change-tracking.md), in the
-- working database only. Every pushed table carries `sync_xid`, the id of the transaction that
-- last wrote the row (xid8: 64 bits, never wraps): the column's default sets it on insert, a
-- BEFORE UPDATE row trigger on update, whoever the writer is. Deletes leave a tombstone (the old
-- row) in conveyor.sync_tombstones from an AFTER DELETE statement trigger. A run reads, in one
-- snapshot, the rows and tombstones past its cursor ordered by (sync_xid, key), and persists the
-- cursor only below pg_snapshot_xmin of that snapshot: a transaction still open then, and
-- committing later, is read by the next run. TRUNCATE would leave no tombstones, so it is refused.

create table conveyor.sync_tombstones (
  id bigint generated always as identity primary key,
  table_name text not null,
  old_row jsonb not null,
  sync_xid xid8 not null default pg_catalog.pg_current_xact_id(),
  deleted_at timestamptz not null default pg_catalog.now()
);

create index sync_tombstones_table_name_sync_xid_id_idx on conveyor.sync_tombstones (table_name, sync_xid, id);

comment on table conveyor.sync_tombstones is
  'Rows deleted from pushed tables (schema.table, the old row), read by the sync push in (sync_xid, id) order and purged once every cursor has passed them.';

revoke all on table conveyor.sync_tombstones from public, anon, authenticated;
grant select on table conveyor.sync_tombstones to service_role;

create or replace function conveyor.set_sync_xid()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  new.sync_xid := pg_catalog.pg_current_xact_id();
  return new;
end
$$;

comment on function conveyor.set_sync_xid() is
  'BEFORE UPDATE row trigger of a pushed table: stamps the row with the writing transaction (sync_xid), so the sync push sees the change.';

create or replace function conveyor.record_sync_tombstones()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  execute 'insert into conveyor.sync_tombstones (table_name, old_row)
           select $1, pg_catalog.to_jsonb(d) - ''sync_xid'' from removed_rows as d'
    using tg_table_schema || '.' || tg_table_name;
  return null;
end
$$;

comment on function conveyor.record_sync_tombstones() is
  'AFTER DELETE statement trigger of a pushed table (transition table removed_rows): keeps each deleted row as a tombstone, set-based, so the sync push deletes it in production.';

create or replace function conveyor.refuse_untracked_truncate()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  raise exception '%.%: TRUNCATE is not carried to the production project by the sync', tg_table_schema, tg_table_name
    using errcode = 'feature_not_supported',
          hint = 'Delete the rows instead: deletes leave tombstones the sync push carries.';
end
$$;

comment on function conveyor.refuse_untracked_truncate() is
  'BEFORE TRUNCATE trigger of a pushed table: refuses, since a truncate leaves no tombstones and the production copy would silently keep the rows.';

revoke all on function conveyor.set_sync_xid() from public, anon, authenticated;
revoke all on function conveyor.record_sync_tombstones() from public, anon, authenticated;
revoke all on function conveyor.refuse_untracked_truncate() from public, anon, authenticated;

-- The pushed tables (supabase/functions/_shared/sync/definitions.ts): the column and three
-- triggers each, named <table>_sync_xid, <table>_sync_tombstones, <table>_sync_refuses_truncate.
do $$
declare
  pushed text;
begin
  foreach pushed in array array['manufacturers', 'categories', 'product_groups', 'product_kinds',
                                'products', 'suppliers', 'locations', 'operations'] loop
    execute format(
      'alter table public.%1$I add column sync_xid xid8 not null default pg_catalog.pg_current_xact_id()',
      pushed);
    execute format(
      'create trigger %1$s_sync_xid before update on public.%1$I
         for each row execute function conveyor.set_sync_xid()',
      pushed);
    execute format(
      'create trigger %1$s_sync_tombstones after delete on public.%1$I
         referencing old table as removed_rows for each statement
         execute function conveyor.record_sync_tombstones()',
      pushed);
    execute format(
      'create trigger %1$s_sync_refuses_truncate before truncate on public.%1$I
         for each statement execute function conveyor.refuse_untracked_truncate()',
      pushed);
  end loop;
end
$$;

-- Operations is the one large, append-mostly table: a block range index finds the rows past a
-- cursor without a per-insert B-tree cost (sync_xid grows with the insertion order). PostgreSQL 15
-- has no BRIN operator class for xid8, so the index is on its value as bigint (an xid8 is below
-- 2^63); the push's queries bound that expression too (sql_text.ts, positionPredicate).
create index operations_sync_xid_brin on public.operations using brin (((sync_xid::text)::bigint));
