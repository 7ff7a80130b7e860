-- A product is (manufacturer, SKU). Its name, category, group and kind follow the record with the
-- latest occurred_at (ties: the later staging row), tracked by attributes_from_*.
-- References to the dictionaries: foreign keys in the production project
-- (production/supabase/schemas/foreign_keys.sql), by construction in the working database
-- (50_working_database/references_by_construction.sql).

create table public.products (
  id bigint generated always as identity primary key,
  manufacturer_id bigint not null,
  sku text not null,
  name text not null,
  category_id bigint,
  group_id bigint,
  kind_id bigint,
  attributes_from_occurred_at timestamptz not null,
  attributes_from_input_id bigint not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (manufacturer_id, sku)
);

comment on table public.products is 'Products, one per (manufacturer, SKU); attributes follow the latest record.';

alter table public.products enable row level security;
revoke insert, update, delete, truncate on public.products from anon, authenticated;
create policy "readable by signed-in users" on public.products for select to authenticated using (true);
