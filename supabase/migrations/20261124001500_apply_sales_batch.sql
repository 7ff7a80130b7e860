-- Persisting a normalised batch, set-based, in the caller's single transaction. The worker
-- validates and normalises records in TypeScript and hands the whole batch over as one jsonb
-- document (one round trip). Every upsert inserts in key order so concurrent workers take row
-- locks in the same order (no deadlocks), and dictionaries use ON CONFLICT (no duplicates).

do $$
begin
  if to_regtype('etl.normalised_sale') is null then
    create type etl.normalised_sale as (
      input_id bigint,
      msg_id bigint,
      attempts integer,
      source text,
      external_id text,
      occurred_at timestamptz,
      type text,
      quantity numeric,
      unit_price numeric,
      amount numeric,
      currency text,
      manufacturer text,
      manufacturer_key text,
      sku text,
      product_name text,
      category text,
      category_key text,
      product_group text,
      group_key text,
      kind text,
      kind_key text,
      supplier_name text,
      supplier_tax_id text,
      supplier_key text,
      location_name text,
      location_key text,
      city text,
      city_key text,
      address text
    );
  end if;
  if to_regtype('etl.unprocessable_sale') is null then
    create type etl.unprocessable_sale as (input_id bigint, msg_id bigint, attempts integer, error text);
  end if;
end
$$;

comment on type etl.normalised_sale is 'One validated, normalised sales record as the worker hands it to etl.apply_sales_batch.';
comment on type etl.unprocessable_sale is 'A record the worker could not process: rejected (rule broken) or failed (attempts exhausted).';

create or replace function etl.apply_sales_batch(batch jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  processed_count integer;
  rejected_count integer;
  failed_count integer;
  operations_written integer;
  done_ids bigint[];
  archive_ids bigint[];
begin
  -- For plpgsql_check (supabase db lint), which cannot see a temporary table; a no-op at run time.
  perform 'PRAGMA:TABLE: batch_sales (like etl.normalised_sale)';
  create temporary table if not exists pg_temp.batch_sales (like etl.normalised_sale) on commit drop;
  truncate pg_temp.batch_sales;
  insert into pg_temp.batch_sales
  select * from pg_catalog.jsonb_populate_recordset(null::etl.normalised_sale, coalesce(batch -> 'processed', '[]'));
  get diagnostics processed_count = row_count;

  -- Dictionaries: the first cleaned name seen wins; matching is on the key.
  insert into public.manufacturers (name, name_key)
  select distinct on (r.manufacturer_key) r.manufacturer, r.manufacturer_key
    from pg_temp.batch_sales as r
   order by r.manufacturer_key, r.input_id
  on conflict (name_key) do nothing;

  insert into public.categories (name, name_key)
  select distinct on (r.category_key) r.category, r.category_key
    from pg_temp.batch_sales as r
   where r.category_key is not null
   order by r.category_key, r.input_id
  on conflict (name_key) do nothing;

  insert into public.product_groups (name, name_key)
  select distinct on (r.group_key) r.product_group, r.group_key
    from pg_temp.batch_sales as r
   where r.group_key is not null
   order by r.group_key, r.input_id
  on conflict (name_key) do nothing;

  insert into public.product_kinds (name, name_key)
  select distinct on (r.kind_key) r.kind, r.kind_key
    from pg_temp.batch_sales as r
   where r.kind_key is not null
   order by r.kind_key, r.input_id
  on conflict (name_key) do nothing;

  -- Products: attributes follow the latest occurred_at (ties: the later staging row). The row
  -- always remembers which record its attributes came from; updated_at moves only when an
  -- attribute changes, so a replay leaves the product as it was.
  insert into public.products as p
    (manufacturer_id, sku, name, category_id, group_id, kind_id,
     attributes_from_occurred_at, attributes_from_input_id)
  select distinct on (m.id, r.sku)
         m.id, r.sku, r.product_name, c.id, g.id, k.id, r.occurred_at, r.input_id
    from pg_temp.batch_sales as r
    join public.manufacturers as m on m.name_key = r.manufacturer_key
    left join public.categories as c on c.name_key = r.category_key
    left join public.product_groups as g on g.name_key = r.group_key
    left join public.product_kinds as k on k.name_key = r.kind_key
   order by m.id, r.sku, r.occurred_at desc, r.input_id desc
  on conflict (manufacturer_id, sku) do update
     set name = excluded.name,
         category_id = excluded.category_id,
         group_id = excluded.group_id,
         kind_id = excluded.kind_id,
         attributes_from_occurred_at = excluded.attributes_from_occurred_at,
         attributes_from_input_id = excluded.attributes_from_input_id,
         updated_at = case
           when (p.name, p.category_id, p.group_id, p.kind_id)
                is distinct from (excluded.name, excluded.category_id, excluded.group_id, excluded.kind_id)
           then pg_catalog.now() else p.updated_at end
   where (excluded.attributes_from_occurred_at, excluded.attributes_from_input_id)
       > (p.attributes_from_occurred_at, p.attributes_from_input_id);

  insert into public.suppliers (name, tax_id, identity_key)
  select distinct on (r.supplier_key) r.supplier_name, r.supplier_tax_id, r.supplier_key
    from pg_temp.batch_sales as r
   where r.supplier_key is not null
   order by r.supplier_key, r.input_id
  on conflict (identity_key) do nothing;

  -- Locations: first name seen; an address fills in when the location had none (the first
  -- address the batch offers).
  insert into public.locations as l (name, city, address, city_key, name_key)
  select (pg_catalog.array_agg(r.location_name order by r.input_id))[1],
         (pg_catalog.array_agg(r.city order by r.input_id))[1],
         (pg_catalog.array_agg(r.address order by r.input_id) filter (where r.address is not null))[1],
         r.city_key,
         r.location_key
    from pg_temp.batch_sales as r
   group by r.city_key, r.location_key
   order by r.city_key, r.location_key
  on conflict (city_key, name_key) do update
     set address = excluded.address
   where l.address is null and excluded.address is not null;

  -- Operations: the latest staging row per (source, external_id) wins. The row always remembers
  -- the newest staging row seen (so an older record retried later cannot win); updated_at moves
  -- only when the content changes, so a replay leaves the operation as it was.
  insert into public.operations as o
    (source, external_id, occurred_at, type, quantity, unit_price, amount, currency,
     product_id, supplier_id, location_id, input_id)
  select distinct on (r.source, r.external_id)
         r.source, r.external_id, r.occurred_at, r.type, r.quantity, r.unit_price, r.amount, r.currency,
         p.id, s.id, l.id, r.input_id
    from pg_temp.batch_sales as r
    join public.manufacturers as m on m.name_key = r.manufacturer_key
    join public.products as p on p.manufacturer_id = m.id and p.sku = r.sku
    left join public.suppliers as s on s.identity_key = r.supplier_key
    join public.locations as l on l.city_key = r.city_key and l.name_key = r.location_key
   order by r.source, r.external_id, r.input_id desc
  on conflict (source, external_id) do update
     set occurred_at = excluded.occurred_at,
         type = excluded.type,
         quantity = excluded.quantity,
         unit_price = excluded.unit_price,
         amount = excluded.amount,
         currency = excluded.currency,
         product_id = excluded.product_id,
         supplier_id = excluded.supplier_id,
         location_id = excluded.location_id,
         input_id = excluded.input_id,
         updated_at = case
           when (o.occurred_at, o.type, o.quantity, o.unit_price, o.amount, o.currency,
                 o.product_id, o.supplier_id, o.location_id)
                is distinct from
                (excluded.occurred_at, excluded.type, excluded.quantity, excluded.unit_price, excluded.amount,
                 excluded.currency, excluded.product_id, excluded.supplier_id, excluded.location_id)
           then pg_catalog.now() else o.updated_at end
   where excluded.input_id > o.input_id;
  get diagnostics operations_written = row_count;

  -- Staging rows: processed, rejected (a rule broken) or failed (attempts exhausted).
  update etl.sales_input as s
     set status = 'processed', processed_at = pg_catalog.now(), error = null, attempts = r.attempts
    from pg_temp.batch_sales as r
   where s.id = r.input_id;
  get diagnostics processed_count = row_count;

  with unprocessable as (
    select u.*, 'rejected' as outcome
      from pg_catalog.jsonb_populate_recordset(null::etl.unprocessable_sale, coalesce(batch -> 'rejected', '[]')) as u
    union all
    select u.*, 'failed' as outcome
      from pg_catalog.jsonb_populate_recordset(null::etl.unprocessable_sale, coalesce(batch -> 'failed', '[]')) as u
  ), marked as (
    update etl.sales_input as s
       set status = u.outcome, error = u.error, attempts = u.attempts, processed_at = pg_catalog.now()
      from unprocessable as u
     where s.id = u.input_id
    returning u.outcome
  )
  select pg_catalog.count(*) filter (where outcome = 'rejected'),
         pg_catalog.count(*) filter (where outcome = 'failed')
    into rejected_count, failed_count
    from marked;

  -- Queue: processed messages are deleted, rejected and failed ones archived, in this transaction.
  select pg_catalog.array_agg(x.msg_id)
    into done_ids
    from (
      select r.msg_id from pg_temp.batch_sales as r
      union all
      select (v.value)::bigint from pg_catalog.jsonb_array_elements_text(coalesce(batch -> 'done_msg_ids', '[]')) as v
    ) as x
   where x.msg_id is not null;
  select pg_catalog.array_agg(u.msg_id)
    into archive_ids
    from (
      select e -> 'msg_id' as msg_json from pg_catalog.jsonb_array_elements(coalesce(batch -> 'rejected', '[]')) as e
      union all
      select e -> 'msg_id' from pg_catalog.jsonb_array_elements(coalesce(batch -> 'failed', '[]')) as e
    ) as j
    cross join lateral (select (j.msg_json)::text::bigint as msg_id) as u
   where j.msg_json is not null and j.msg_json <> 'null'::jsonb;

  if done_ids is not null then
    perform pgmq.delete('sales_input'::text, done_ids);
  end if;
  if archive_ids is not null then
    perform pgmq.archive('sales_input'::text, archive_ids);
  end if;

  return pg_catalog.jsonb_build_object(
    'processed', processed_count,
    'rejected', rejected_count,
    'failed', failed_count,
    'operations_written', operations_written
  );
end
$$;

comment on function etl.apply_sales_batch(jsonb) is
  'Persists one normalised batch set-based: dictionaries, products, suppliers, locations, operations; marks staging rows; deletes processed and archives rejected/failed pgmq messages. Call inside one transaction.';

revoke all on function etl.apply_sales_batch(jsonb) from public, anon, authenticated;
