-- Shops: the sources records come from. Mastered in the production project and pulled to the
-- working database by the sync; seeded locally for the demo and the tests. A record whose
-- `source` is not an active shop is rejected.

create table public.shops (
  code text primary key check (code ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  name text not null,
  city text not null,
  timezone text not null default 'Europe/Moscow'
    check (now() at time zone timezone is not null),
  active boolean not null default true,
  updated_at timestamptz not null default now()
);

comment on table public.shops is 'Shops (record sources): code, name, city, IANA time zone, active. Mastered in the cloud.';

alter table public.shops enable row level security;
revoke insert, update, delete, truncate on public.shops from anon, authenticated;
create policy "shops are readable by signed-in users" on public.shops
  for select to authenticated using (true);
