-- A location is (city, name).

create table public.locations (
  id bigint generated always as identity primary key,
  name text not null,
  city text not null,
  address text,
  city_key text not null,
  name_key text not null,
  created_at timestamptz not null default now(),
  unique (city_key, name_key)
);

comment on table public.locations is 'Locations, one per (city, name).';

alter table public.locations enable row level security;
revoke insert, update, delete, truncate on public.locations from anon, authenticated;
create policy "readable by signed-in users" on public.locations for select to authenticated using (true);
