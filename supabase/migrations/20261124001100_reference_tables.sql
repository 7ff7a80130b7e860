-- Reference tables (dictionaries) the worker finds or creates, and the products that use them.
-- Each dictionary row keeps the first cleaned display name seen and is matched on `name_key`,
-- the case-insensitive cleaned form. These names are the cloud API's contract.

create table if not exists public.manufacturers (
  id bigint generated always as identity primary key,
  name text not null,
  name_key text not null unique,
  created_at timestamptz not null default now()
);

create table if not exists public.categories (
  id bigint generated always as identity primary key,
  name text not null,
  name_key text not null unique,
  created_at timestamptz not null default now()
);

create table if not exists public.product_groups (
  id bigint generated always as identity primary key,
  name text not null,
  name_key text not null unique,
  created_at timestamptz not null default now()
);

create table if not exists public.product_kinds (
  id bigint generated always as identity primary key,
  name text not null,
  name_key text not null unique,
  created_at timestamptz not null default now()
);

-- A product is (manufacturer, SKU). Its name, category, group and kind follow the record with the
-- latest occurred_at (ties: the later staging row), tracked by attributes_from_*.
create table if not exists public.products (
  id bigint generated always as identity primary key,
  manufacturer_id bigint not null references public.manufacturers (id),
  sku text not null,
  name text not null,
  category_id bigint references public.categories (id),
  group_id bigint references public.product_groups (id),
  kind_id bigint references public.product_kinds (id),
  attributes_from_occurred_at timestamptz not null,
  attributes_from_input_id bigint not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (manufacturer_id, sku)
);

-- A supplier is its tax_id when present, else its name: identity_key is 'tax:<tax_id>' or
-- 'name:<name_key>'.
create table if not exists public.suppliers (
  id bigint generated always as identity primary key,
  name text not null,
  tax_id text,
  identity_key text not null unique,
  created_at timestamptz not null default now()
);

-- A location is (city, name).
create table if not exists public.locations (
  id bigint generated always as identity primary key,
  name text not null,
  city text not null,
  address text,
  city_key text not null,
  name_key text not null,
  created_at timestamptz not null default now(),
  unique (city_key, name_key)
);

create index if not exists products_category_id_idx on public.products (category_id);
create index if not exists products_group_id_idx on public.products (group_id);
create index if not exists products_kind_id_idx on public.products (kind_id);

comment on table public.manufacturers is 'Manufacturers, matched case-insensitively on the cleaned name (name_key).';
comment on table public.categories is 'Product categories, matched on name_key.';
comment on table public.product_groups is 'Product groups, matched on name_key.';
comment on table public.product_kinds is 'Product kinds, matched on name_key.';
comment on table public.products is 'Products, one per (manufacturer, SKU); attributes follow the latest record.';
comment on table public.suppliers is 'Suppliers, one per tax id, or per name when there is no tax id.';
comment on table public.locations is 'Locations, one per (city, name).';

do $$
declare
  t text;
begin
  foreach t in array array['manufacturers', 'categories', 'product_groups', 'product_kinds',
                           'products', 'suppliers', 'locations']
  loop
    execute format('alter table public.%I enable row level security', t);
    execute format('revoke insert, update, delete, truncate on public.%I from anon, authenticated', t);
    execute format('drop policy if exists "readable by signed-in users" on public.%I', t);
    execute format('create policy "readable by signed-in users" on public.%I for select to authenticated using (true)', t);
  end loop;
end
$$;
