-- Worker slots as leases, correct through a transaction-mode pooler (Supavisor on 6543,
-- pgbouncer pool_mode=transaction): a slot is a row with an expiry, taken, renewed and released
-- by single statements (each its own transaction, no session state), and taken over once
-- expired. A worker that dies frees its slot when the lease it last renewed runs out. (Session
-- advisory locks, the earlier form, belong to whichever server connection a pooler lends.)

create table conveyor.worker_leases (
  worker text not null,
  slot integer not null check (slot between 1 and 1000),
  holder uuid not null,
  taken_at timestamptz not null default pg_catalog.clock_timestamp(),
  expires_at timestamptz not null,
  primary key (worker, slot)
);

comment on table conveyor.worker_leases is
  'Worker slots: one row per slot held (or left behind by a worker that died), free once expires_at has passed.';
comment on column conveyor.worker_leases.holder is 'The run holding the slot (a random id per run).';
comment on column conveyor.worker_leases.expires_at is 'The slot is free after this; the holder renews it while it works.';

revoke all on table conveyor.worker_leases from public, anon, authenticated;
grant select on table conveyor.worker_leases to service_role;

create or replace function conveyor.take_worker_slot(worker text, max_slots integer, holder uuid, lease_seconds double precision)
returns integer
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  taken integer;
begin
  if max_slots is null or max_slots < 1 or max_slots > 1000 then
    raise exception 'take_worker_slot: max_slots must be between 1 and 1000 (got %)', max_slots;
  end if;
  if lease_seconds is null or lease_seconds <= 0 then
    raise exception 'take_worker_slot: lease_seconds must be greater than 0 (got %)', lease_seconds;
  end if;
  -- Takers of one worker's slots queue here until commit (a transaction lock: no session state),
  -- so the statement below sees every slot taken before it and takes the lowest free one.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('conveyor:worker_leases:' || worker));
  insert into conveyor.worker_leases as l (worker, slot, holder, taken_at, expires_at)
  select take_worker_slot.worker, s.slot, take_worker_slot.holder, pg_catalog.clock_timestamp(),
         pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => lease_seconds)
    from pg_catalog.generate_series(1, max_slots) as s(slot)
   where not exists (
           select from conveyor.worker_leases as h
            where h.worker = take_worker_slot.worker and h.slot = s.slot
              and h.expires_at > pg_catalog.clock_timestamp())
   order by s.slot
   limit 1
  on conflict on constraint worker_leases_pkey do update
     set holder = excluded.holder, taken_at = excluded.taken_at, expires_at = excluded.expires_at
   where l.expires_at <= pg_catalog.clock_timestamp()
  returning l.slot into taken;
  return taken;
end
$$;

comment on function conveyor.take_worker_slot(text, integer, uuid, double precision) is
  'Takes the lowest free (or expired) slot 1..max_slots of a worker for holder, for lease_seconds; returns the slot, or null when all are held.';

create or replace function conveyor.renew_worker_slot(worker text, slot integer, holder uuid, lease_seconds double precision)
returns boolean
language sql
volatile
security definer
set search_path = ''
as $$
  with renewed as (
    update conveyor.worker_leases as l
       set expires_at = pg_catalog.clock_timestamp() + pg_catalog.make_interval(secs => lease_seconds)
     where l.worker = renew_worker_slot.worker and l.slot = renew_worker_slot.slot
       and l.holder = renew_worker_slot.holder
    returning 1
  )
  select exists (select from renewed);
$$;

comment on function conveyor.renew_worker_slot(text, integer, uuid, double precision) is
  'Extends holder''s lease on a slot by lease_seconds from now; false when the slot is no longer holder''s (taken over after expiry).';

create or replace function conveyor.release_worker_slot(worker text, slot integer, holder uuid)
returns boolean
language sql
volatile
security definer
set search_path = ''
as $$
  with released as (
    delete from conveyor.worker_leases as l
     where l.worker = release_worker_slot.worker and l.slot = release_worker_slot.slot
       and l.holder = release_worker_slot.holder
    returning 1
  )
  select exists (select from released);
$$;

comment on function conveyor.release_worker_slot(text, integer, uuid) is
  'Frees holder''s slot at once; false when it was no longer holder''s.';

revoke all on function conveyor.take_worker_slot(text, integer, uuid, double precision) from public, anon, authenticated;
revoke all on function conveyor.renew_worker_slot(text, integer, uuid, double precision) from public, anon, authenticated;
revoke all on function conveyor.release_worker_slot(text, integer, uuid) from public, anon, authenticated;
