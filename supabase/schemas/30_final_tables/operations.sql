-- Operations: one normalised sale or return per (source, external_id). A replay with the same
-- content changes nothing; a later record (a higher staging id) with different content updates it.
-- References to shops, products, suppliers and locations: foreign keys and read indexes in the
-- production project (production/supabase/schemas/), by construction in the working database,
-- which only writes operations (50_working_database/references_by_construction.sql).

create table public.operations (
  id bigint generated always as identity primary key,
  source text not null,
  external_id text not null,
  occurred_at timestamptz not null,
  type text not null check (type in ('sale', 'return')),
  quantity numeric(18, 3) not null check (quantity > 0),
  unit_price numeric(18, 2) not null check (unit_price >= 0),
  amount numeric(20, 2) not null check (amount >= 0),
  currency char(3) not null check (currency ~ '^[A-Z]{3}$'),
  product_id bigint not null,
  supplier_id bigint,
  location_id bigint not null,
  input_id bigint not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (source, external_id)
);

comment on table public.operations is
  'Normalised sales and returns, unique on (source, external_id); input_id is the staging row last applied.';

alter table public.operations enable row level security;
revoke insert, update, delete, truncate on public.operations from anon, authenticated;
create policy "readable by signed-in users" on public.operations for select to authenticated using (true);
