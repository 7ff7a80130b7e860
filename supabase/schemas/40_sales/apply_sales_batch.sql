-- Persists one normalised batch in one transaction, set-based: dictionaries, products (each
-- resolved once), suppliers, locations, then operations referring to them by position; marks the
-- staging rows; deletes processed and archives rejected/failed queue messages. Every upsert is
-- sorted, so concurrent batches cannot deadlock. The document's shape: sales_batch_document.sql.
-- The reasoning and measurements behind each step: docs/decisions/ (products-resolved-once,
-- columnar-batch-document, locations-unlocked, product-updates-last, queue-read-plan-settings).

create or replace function conveyor.apply_sales_batch(batch jsonb)
returns jsonb
language plpgsql
volatile
security definer
set search_path = ''
set random_page_cost = 1.1
as $$
declare
  dictionary text;
  dictionary_doc conveyor.sales_batch_dictionary;
  products_doc conveyor.sales_batch_products := pg_catalog.jsonb_populate_record(
    null::conveyor.sales_batch_products, coalesce(batch -> 'products', '{}'));
  suppliers_doc conveyor.sales_batch_suppliers := pg_catalog.jsonb_populate_record(
    null::conveyor.sales_batch_suppliers, coalesce(batch -> 'suppliers', '{}'));
  locations_doc conveyor.sales_batch_locations := pg_catalog.jsonb_populate_record(
    null::conveyor.sales_batch_locations, coalesce(batch -> 'locations', '{}'));
  sales_doc conveyor.sales_batch_sales := pg_catalog.jsonb_populate_record(
    null::conveyor.sales_batch_sales, coalesce(batch -> 'processed', '{}'));
  rejected_doc conveyor.sales_batch_unprocessable := pg_catalog.jsonb_populate_record(
    null::conveyor.sales_batch_unprocessable, coalesce(batch -> 'rejected', '{}'));
  failed_doc conveyor.sales_batch_unprocessable := pg_catalog.jsonb_populate_record(
    null::conveyor.sales_batch_unprocessable, coalesce(batch -> 'failed', '{}'));
  ids bigint[];
  manufacturer_ids bigint[];
  category_ids bigint[];
  group_ids bigint[];
  kind_ids bigint[];
  products conveyor.batch_product[];
  product_ids bigint[];
  supplier_ids bigint[];
  location_ids bigint[];
  processed_count integer;
  rejected_count integer;
  failed_count integer;
  operations_written integer;
  done_ids bigint[];
  archive_ids bigint[];
begin
  -- Dictionaries: the first cleaned name seen wins; matching is on the key. Then their ids by
  -- position, one unique-index probe per entry.
  foreach dictionary in array array['manufacturers', 'categories', 'product_groups', 'product_kinds'] loop
    dictionary_doc := pg_catalog.jsonb_populate_record(
      null::conveyor.sales_batch_dictionary, coalesce(batch -> dictionary, '{}'));
    execute format(
      'insert into public.%I (name, name_key)
       select distinct on (d.key) d.name, d.key
         from rows from (pg_catalog.unnest(($1).key), pg_catalog.unnest(($1).name),
                         pg_catalog.unnest(($1).input_id)) as d(key, name, input_id)
        order by d.key, d.input_id
       on conflict (name_key) do nothing',
      dictionary)
      using dictionary_doc;
    execute format(
      'select pg_catalog.array_agg((select t.id from public.%I as t where t.name_key = d.key) order by d.position)
         from pg_catalog.unnest(($1).key) with ordinality as d(key, position)',
      dictionary)
      into ids
      using dictionary_doc;
    case dictionary
      when 'manufacturers' then manufacturer_ids := ids;
      when 'categories' then category_ids := ids;
      when 'product_groups' then group_ids := ids;
      else kind_ids := ids;
    end case;
  end loop;

  -- Products, resolved once. The lateral probe is parameterised by the entry, so it stays one
  -- unique-index probe per product whatever the tables' statistics say.
  select pg_catalog.array_agg(
           row(d.position, d.manufacturer_id, d.sku, d.name, d.category_id, d.group_id, d.kind_id,
               d.occurred_at, d.input_id, p.id,
               p.id is null
               or (d.occurred_at, d.input_id) > (p.attributes_from_occurred_at, p.attributes_from_input_id)
           )::conveyor.batch_product
           order by d.position)
    into products
    from (
      select e.position::integer as position, manufacturer_ids[e.manufacturer] as manufacturer_id, e.sku, e.name,
             category_ids[e.category] as category_id, group_ids[e."group"] as group_id, kind_ids[e.kind] as kind_id,
             e.occurred_at, e.input_id
        from rows from (pg_catalog.unnest(products_doc.manufacturer), pg_catalog.unnest(products_doc.sku),
                        pg_catalog.unnest(products_doc.name), pg_catalog.unnest(products_doc.category),
                        pg_catalog.unnest(products_doc."group"), pg_catalog.unnest(products_doc.kind),
                        pg_catalog.unnest(products_doc.occurred_at), pg_catalog.unnest(products_doc.input_id))
               with ordinality as e(manufacturer, sku, name, category, "group", kind, occurred_at, input_id, position)
    ) as d
    left join lateral (
      select s.id, s.attributes_from_occurred_at, s.attributes_from_input_id
        from public.products as s
       where s.manufacturer_id = d.manufacturer_id and s.sku = d.sku
    ) as p on true;

  -- Products new to the database are created now, as operations need their ids; each from its
  -- latest record in the batch.
  insert into public.products
    (manufacturer_id, sku, name, category_id, group_id, kind_id,
     attributes_from_occurred_at, attributes_from_input_id)
  select distinct on (r.manufacturer_id, r.sku)
         r.manufacturer_id, r.sku, r.name, r.category_id, r.group_id, r.kind_id, r.occurred_at, r.input_id
    from pg_catalog.unnest(products) as r
   where r.product_id is null
   order by r.manufacturer_id, r.sku, r.occurred_at desc, r.input_id desc
  on conflict (manufacturer_id, sku) do nothing;

  -- Ids by position: known ones from the lookup, a probe for the ones just created (by this
  -- batch or, a moment earlier, by a concurrent one).
  select pg_catalog.array_agg(
           coalesce(r.product_id,
                    (select p.id from public.products as p where p.manufacturer_id = r.manufacturer_id and p.sku = r.sku))
           order by r.position)
    into product_ids
    from pg_catalog.unnest(products) as r;

  -- Suppliers: the first name seen for an identity.
  insert into public.suppliers (name, tax_id, identity_key)
  select distinct on (d.key) d.name, d.tax_id, d.key
    from rows from (pg_catalog.unnest(suppliers_doc.key), pg_catalog.unnest(suppliers_doc.name),
                    pg_catalog.unnest(suppliers_doc.tax_id), pg_catalog.unnest(suppliers_doc.input_id))
           as d(key, name, tax_id, input_id)
   order by d.key, d.input_id
  on conflict (identity_key) do nothing;

  select pg_catalog.array_agg(
           (select s.id from public.suppliers as s where s.identity_key = d.key)
           order by d.position)
    into supplier_ids
    from pg_catalog.unnest(suppliers_doc.key) with ordinality as d(key, position);

  -- Locations: a new one takes the first name and the first address the batch offers. An
  -- existing one is left alone (do nothing locks no row), unless it has no address and the batch
  -- offers one: only those rows are locked (in key order) and filled.
  insert into public.locations (name, city, address, city_key, name_key)
  select (pg_catalog.array_agg(d.name order by d.input_id))[1],
         (pg_catalog.array_agg(d.city order by d.input_id))[1],
         (pg_catalog.array_agg(d.address order by d.input_id) filter (where d.address is not null))[1],
         d.city_key,
         d.name_key
    from rows from (pg_catalog.unnest(locations_doc.city_key), pg_catalog.unnest(locations_doc.name_key),
                    pg_catalog.unnest(locations_doc.name), pg_catalog.unnest(locations_doc.city),
                    pg_catalog.unnest(locations_doc.address), pg_catalog.unnest(locations_doc.input_id))
           as d(city_key, name_key, name, city, address, input_id)
   group by d.city_key, d.name_key
   order by d.city_key, d.name_key
  on conflict (city_key, name_key) do nothing;

  with offered as (
    select distinct on (d.city_key, d.name_key) d.city_key, d.name_key, d.address
      from rows from (pg_catalog.unnest(locations_doc.city_key), pg_catalog.unnest(locations_doc.name_key),
                      pg_catalog.unnest(locations_doc.address), pg_catalog.unnest(locations_doc.input_id))
             as d(city_key, name_key, address, input_id)
     where d.address is not null
     order by d.city_key, d.name_key, d.input_id
  ), missing as (
    select l.id, o.address
      from offered as o
      join public.locations as l on l.city_key = o.city_key and l.name_key = o.name_key
     where l.address is null
     order by l.city_key, l.name_key
       for update of l
  )
  update public.locations as l
     set address = m.address
    from missing as m
   where l.id = m.id and l.address is null;

  select pg_catalog.array_agg(
           (select l.id from public.locations as l where l.city_key = d.city_key and l.name_key = d.name_key)
           order by d.position)
    into location_ids
    from rows from (pg_catalog.unnest(locations_doc.city_key), pg_catalog.unnest(locations_doc.name_key))
           with ordinality as d(city_key, name_key, position);

  -- Operations: the latest staging row per (source, external_id) wins. The row always remembers
  -- the newest staging row seen (so an older record retried later cannot win); updated_at moves
  -- only when the content changes, so a replay leaves the operation as it was.
  insert into public.operations as o
    (source, external_id, occurred_at, type, quantity, unit_price, amount, currency,
     product_id, supplier_id, location_id, input_id)
  select distinct on (r.source, r.external_id)
         r.source, r.external_id, r.occurred_at, r.type, r.quantity, r.unit_price, r.amount, r.currency,
         product_ids[r.product], supplier_ids[r.supplier], location_ids[r.location], r.input_id
    from rows from (pg_catalog.unnest(sales_doc.input_id), pg_catalog.unnest(sales_doc.source),
                    pg_catalog.unnest(sales_doc.external_id), pg_catalog.unnest(sales_doc.occurred_at),
                    pg_catalog.unnest(sales_doc.type), pg_catalog.unnest(sales_doc.quantity),
                    pg_catalog.unnest(sales_doc.unit_price), pg_catalog.unnest(sales_doc.amount),
                    pg_catalog.unnest(sales_doc.currency), pg_catalog.unnest(sales_doc.product),
                    pg_catalog.unnest(sales_doc.supplier), pg_catalog.unnest(sales_doc.location))
           as r(input_id, source, external_id, occurred_at, type, quantity, unit_price, amount, currency,
                product, supplier, location)
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
  update conveyor.sales_input as s
     set status = 'processed', processed_at = pg_catalog.now(), error = null, attempts = r.attempts
    from rows from (pg_catalog.unnest(sales_doc.input_id), pg_catalog.unnest(sales_doc.attempts))
           as r(input_id, attempts)
   where s.id = r.input_id;
  get diagnostics processed_count = row_count;

  with unprocessable as (
    select u.input_id, u.attempts, u.error, 'rejected' as outcome
      from rows from (pg_catalog.unnest(rejected_doc.input_id), pg_catalog.unnest(rejected_doc.attempts),
                      pg_catalog.unnest(rejected_doc.error)) as u(input_id, attempts, error)
    union all
    select u.input_id, u.attempts, u.error, 'failed' as outcome
      from rows from (pg_catalog.unnest(failed_doc.input_id), pg_catalog.unnest(failed_doc.attempts),
                      pg_catalog.unnest(failed_doc.error)) as u(input_id, attempts, error)
  ), marked as (
    update conveyor.sales_input as s
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
      select pg_catalog.unnest(sales_doc.msg_id)
      union all
      select pg_catalog.jsonb_array_elements_text(coalesce(batch -> 'done_msg_ids', '[]'))::bigint
    ) as x(msg_id)
   where x.msg_id is not null;
  select pg_catalog.array_agg(x.msg_id)
    into archive_ids
    from (
      select pg_catalog.unnest(rejected_doc.msg_id)
      union all
      select pg_catalog.unnest(failed_doc.msg_id)
    ) as x(msg_id)
   where x.msg_id is not null;

  if done_ids is not null then
    perform pgmq.delete('sales_input'::text, done_ids);
  end if;
  if archive_ids is not null then
    perform pgmq.archive('sales_input'::text, archive_ids);
  end if;

  -- Product attributes follow the latest occurred_at (ties: the later staging row), for the
  -- products that were new or older than this batch when looked up. The row always remembers
  -- which record its attributes came from; updated_at moves only when an attribute changes, so a
  -- replay leaves the product as it was. Last, because these updates lock product rows that
  -- concurrent batches may share: held from here to commit, not for the whole batch.
  insert into public.products as p
    (manufacturer_id, sku, name, category_id, group_id, kind_id,
     attributes_from_occurred_at, attributes_from_input_id)
  select distinct on (r.manufacturer_id, r.sku)
         r.manufacturer_id, r.sku, r.name, r.category_id, r.group_id, r.kind_id, r.occurred_at, r.input_id
    from pg_catalog.unnest(products) as r
   where r.newer
   order by r.manufacturer_id, r.sku, r.occurred_at desc, r.input_id desc
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

  return pg_catalog.jsonb_build_object(
    'processed', processed_count,
    'rejected', rejected_count,
    'failed', failed_count,
    'operations_written', operations_written
  );
end
$$;

comment on function conveyor.apply_sales_batch(jsonb) is
  'Persists one normalised batch, given as a columnar document (types conveyor.sales_batch_*), set-based: dictionaries, products (each resolved once), suppliers, locations, then operations referring to them by position; marks staging rows; deletes processed and archives rejected/failed pgmq messages. Call inside one transaction.';

revoke all on function conveyor.apply_sales_batch(jsonb) from public, anon, authenticated;
