-- The four dictionaries the worker finds or creates. Each row keeps the first cleaned display
-- name seen and is matched on `name_key`, the case-insensitive cleaned form. These names are the
-- production API's contract.

create table public.manufacturers (
  id bigint generated always as identity primary key,
  name text not null,
  name_key text not null unique,
  created_at timestamptz not null default now()
);

create table public.categories (
  id bigint generated always as identity primary key,
  name text not null,
  name_key text not null unique,
  created_at timestamptz not null default now()
);

create table public.product_groups (
  id bigint generated always as identity primary key,
  name text not null,
  name_key text not null unique,
  created_at timestamptz not null default now()
);

create table public.product_kinds (
  id bigint generated always as identity primary key,
  name text not null,
  name_key text not null unique,
  created_at timestamptz not null default now()
);

comment on table public.manufacturers is 'Manufacturers, matched case-insensitively on the cleaned name (name_key).';
comment on table public.categories is 'Product categories, matched on name_key.';
comment on table public.product_groups is 'Product groups, matched on name_key.';
comment on table public.product_kinds is 'Product kinds, matched on name_key.';

alter table public.manufacturers enable row level security;
alter table public.categories enable row level security;
alter table public.product_groups enable row level security;
alter table public.product_kinds enable row level security;
revoke insert, update, delete, truncate on public.manufacturers, public.categories,
  public.product_groups, public.product_kinds from anon, authenticated;
create policy "readable by signed-in users" on public.manufacturers for select to authenticated using (true);
create policy "readable by signed-in users" on public.categories for select to authenticated using (true);
create policy "readable by signed-in users" on public.product_groups for select to authenticated using (true);
create policy "readable by signed-in users" on public.product_kinds for select to authenticated using (true);
