-- A supplier is its tax_id when present, else its name: identity_key is 'tax:<tax_id>' or
-- 'name:<name_key>'.

create table public.suppliers (
  id bigint generated always as identity primary key,
  name text not null,
  tax_id text,
  identity_key text not null unique,
  created_at timestamptz not null default now()
);

comment on table public.suppliers is 'Suppliers, one per tax id, or per name when there is no tax id.';

alter table public.suppliers enable row level security;
revoke insert, update, delete, truncate on public.suppliers from anon, authenticated;
create policy "readable by signed-in users" on public.suppliers for select to authenticated using (true);
