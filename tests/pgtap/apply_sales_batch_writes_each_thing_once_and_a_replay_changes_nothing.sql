-- conveyor.apply_sales_batch(jsonb), called directly with hand-written normalised batches: what it
-- creates, that a replay writes nothing, corrections, ordering rules for operations and product
-- attributes, staging statuses and the queue. The sales are written flat, one object with every
-- field, and pg_temp.apply encodes them without merging anything (one dictionary, product,
-- supplier and location entry per sale), so the rules tested here are the SQL's own.
-- Runs in one transaction that is rolled back: nothing persists. All names and keys carry
-- "pgtap03" so counts only see this file's rows.

begin;
select plan(49);

-- Setup ------------------------------------------------------------------------------------------

insert into public.shops (code, name, city, timezone, active)
values ('moba', 'Moba', 'Краснодар', 'Europe/Moscow', true),
       ('partsdirect', 'Parts Direct', 'Екатеринбург', 'Asia/Yekaterinburg', true)
on conflict (code) do nothing;

-- Staging inserts still queue messages, but wake nobody (no Vault or pg_net needed here).
insert into conveyor.function_wakes (function_name, paused) values ('process-sales', true)
on conflict (function_name) do update set paused = true;

-- Staged records by label: their staging id (input_id) and the id of the message the trigger sent.
create temporary table inputs (k text primary key, input_id bigint not null, msg_id bigint not null);

create function pg_temp.stage(variadic keys text[]) returns void language sql as $$
  insert into conveyor.sales_input (payload, batch_id)
  select jsonb_build_object('pgtap', '03', 'k', k), 'c0c0c0c0-0000-4000-8000-000000000003'
    from unnest(keys) with ordinality as u(k, n)
   order by n;
  insert into inputs (k, input_id, msg_id)
  select s.payload ->> 'k', s.id, q.msg_id
    from conveyor.sales_input as s
    join pgmq.q_sales_input as q on q.message ->> 'id' = s.id::text
   where s.batch_id = 'c0c0c0c0-0000-4000-8000-000000000003'
     and s.payload ->> 'k' = any (keys);
$$;

create function pg_temp.input_id(k text) returns bigint language sql stable as $$
  select i.input_id from inputs as i where i.k = input_id.k
$$;

create function pg_temp.msg_id(k text) returns bigint language sql stable as $$
  select i.msg_id from inputs as i where i.k = msg_id.k
$$;

-- One conveyor.normalised_sale as the worker hands it over; `fields` overrides the defaults.
create function pg_temp.sale(k text, fields jsonb default '{}') returns jsonb language sql stable as $$
  select jsonb_build_object(
           'input_id', i.input_id, 'msg_id', i.msg_id, 'attempts', 1,
           'source', 'moba', 'external_id', 'pgtap03-' || i.k,
           'occurred_at', '2026-11-20T11:00:00Z', 'type', 'sale',
           'quantity', 2, 'unit_price', 1499.50, 'amount', 2999.00, 'currency', 'RUB',
           'manufacturer', 'PgTap03 Maker', 'manufacturer_key', 'pgtap03 maker',
           'sku', 'PGTAP03-SKU-1', 'product_name', 'PgTap03 Display 1',
           'category', 'PgTap03 Displays', 'category_key', 'pgtap03 displays',
           'product_group', 'PgTap03 Phone parts', 'group_key', 'pgtap03 phone parts',
           'kind', 'PgTap03 Original', 'kind_key', 'pgtap03 original',
           'supplier_name', 'PgTap03 Mobile LLC', 'supplier_tax_id', '0300000001',
           'supplier_key', 'tax:0300000001',
           'location_name', 'PgTap03 Store 1', 'location_key', 'pgtap03 store 1',
           'city', 'Krasnodar', 'city_key', 'pgtap03 krasnodar', 'address', 'Krasnaya 1'
         ) || fields
    from inputs as i
   where i.k = sale.k
$$;

-- A list of objects as the document carries it: one object of columns, entry i at index i of each.
-- A field an entry lacks is null in its column; a field no entry has gets no column at all.
create function pg_temp.columns(entries jsonb) returns jsonb language sql immutable as $$
  select coalesce(jsonb_object_agg(f.field, (
           select jsonb_agg(e.value -> f.field order by e.position)
             from jsonb_array_elements(entries) with ordinality as e(value, position))), '{}')
    from (select distinct jsonb_object_keys(e) as field from jsonb_array_elements(entries) as e) as f
$$;

-- The document of a flat batch with its lists still as arrays of objects.
create function pg_temp.entries(flat jsonb) returns jsonb language sql stable as $$
  with sale as (
    select s.value as v, s.position::integer as position
      from jsonb_array_elements(coalesce(flat -> 'processed', '[]')) with ordinality as s(value, position)
  ), numbered as (
    -- each sale's entry position in the lists of optional values, null where it has none
    select v, position,
           case when v ->> 'category_key' is not null
                then count(v ->> 'category_key') over (order by position) end::integer as category,
           case when v ->> 'group_key' is not null
                then count(v ->> 'group_key') over (order by position) end::integer as "group",
           case when v ->> 'kind_key' is not null
                then count(v ->> 'kind_key') over (order by position) end::integer as kind,
           case when v ->> 'supplier_key' is not null
                then count(v ->> 'supplier_key') over (order by position) end::integer as supplier
      from sale
  )
  select jsonb_strip_nulls(jsonb_build_object(
    'manufacturers', (select jsonb_agg(jsonb_build_object('key', v -> 'manufacturer_key', 'name', v -> 'manufacturer', 'input_id', v -> 'input_id') order by position) from numbered),
    'categories', (select jsonb_agg(jsonb_build_object('key', v -> 'category_key', 'name', v -> 'category', 'input_id', v -> 'input_id') order by position) from numbered where category is not null),
    'product_groups', (select jsonb_agg(jsonb_build_object('key', v -> 'group_key', 'name', v -> 'product_group', 'input_id', v -> 'input_id') order by position) from numbered where "group" is not null),
    'product_kinds', (select jsonb_agg(jsonb_build_object('key', v -> 'kind_key', 'name', v -> 'kind', 'input_id', v -> 'input_id') order by position) from numbered where kind is not null),
    'products', (select jsonb_agg(jsonb_build_object('manufacturer', position, 'sku', v -> 'sku', 'name', v -> 'product_name',
                                                    'category', category, 'group', "group", 'kind', kind,
                                                    'occurred_at', v -> 'occurred_at', 'input_id', v -> 'input_id') order by position) from numbered),
    'suppliers', (select jsonb_agg(jsonb_build_object('key', v -> 'supplier_key', 'name', v -> 'supplier_name', 'tax_id', v -> 'supplier_tax_id',
                                                     'input_id', v -> 'input_id') order by position) from numbered where supplier is not null),
    'locations', (select jsonb_agg(jsonb_build_object('city_key', v -> 'city_key', 'name_key', v -> 'location_key', 'name', v -> 'location_name',
                                                     'city', v -> 'city', 'address', v -> 'address', 'input_id', v -> 'input_id') order by position) from numbered),
    'processed', (select jsonb_agg((v - array['manufacturer', 'manufacturer_key', 'sku', 'product_name', 'category', 'category_key',
                                              'product_group', 'group_key', 'kind', 'kind_key', 'supplier_name', 'supplier_tax_id',
                                              'supplier_key', 'location_name', 'location_key', 'city', 'city_key', 'address'])
                                   || jsonb_build_object('product', position, 'location', position, 'supplier', supplier)
                                   order by position) from numbered)
  )) || jsonb_strip_nulls(jsonb_build_object('rejected', flat -> 'rejected', 'failed', flat -> 'failed',
                                             'done_msg_ids', flat -> 'done_msg_ids'))
$$;

-- conveyor.apply_sales_batch on a flat batch {processed: [pg_temp.sale(...)], rejected, failed,
-- done_msg_ids}: each sale becomes one entry in every list it names, at its own position, and
-- every list is turned into columns.
create function pg_temp.apply(flat jsonb) returns jsonb language sql volatile as $$
  select conveyor.apply_sales_batch(coalesce((
    select jsonb_object_agg(l.key, case when l.key = 'done_msg_ids' then l.value else pg_temp.columns(l.value) end)
      from jsonb_each(pg_temp.entries(flat)) as l), '{}'))
$$;

-- A rejected or failed record: {input_id, msg_id, attempts, error}.
create function pg_temp.unprocessable(k text, attempts integer, error text) returns jsonb language sql stable as $$
  select jsonb_build_object('input_id', i.input_id, 'msg_id', i.msg_id, 'attempts', attempts, 'error', error)
    from inputs as i
   where i.k = unprocessable.k
$$;

create temporary table results (label text primary key, result jsonb);

-- The maker/SKU-1 product, the most watched row below.
create function pg_temp.product1() returns public.products language sql stable as $$
  select p.* from public.products as p
    join public.manufacturers as m on m.id = p.manufacturer_id
   where m.name_key = 'pgtap03 maker' and p.sku = 'PGTAP03-SKU-1'
$$;

create function pg_temp.operation(external_id text) returns public.operations language sql stable as $$
  select o.* from public.operations as o where o.source = 'moba' and o.external_id = operation.external_id
$$;

-- Row counts of everything the batch writes, for "nothing changed" checks.
create function pg_temp.counts() returns jsonb language sql stable as $$
  select jsonb_build_object(
    'manufacturers', (select count(*) from public.manufacturers where name_key like 'pgtap03 %'),
    'categories', (select count(*) from public.categories where name_key like 'pgtap03 %'),
    'product_groups', (select count(*) from public.product_groups where name_key like 'pgtap03 %'),
    'product_kinds', (select count(*) from public.product_kinds where name_key like 'pgtap03 %'),
    'products', (select count(*) from public.products where sku like 'PGTAP03-%'),
    'suppliers', (select count(*) from public.suppliers where name like 'PgTap03 %'),
    'locations', (select count(*) from public.locations where city_key = 'pgtap03 krasnodar'),
    'operations', (select count(*) from public.operations where external_id like 'pgtap03-%'))
$$;

-- Physical row versions of this file's rows: an UPDATE, even one that changes no value, moves them.
create function pg_temp.row_versions() returns table (tbl text, id bigint, version text) language sql stable as $$
  select 'manufacturers', id, ctid::text from public.manufacturers where name_key like 'pgtap03 %'
  union all select 'categories', id, ctid::text from public.categories where name_key like 'pgtap03 %'
  union all select 'product_groups', id, ctid::text from public.product_groups where name_key like 'pgtap03 %'
  union all select 'product_kinds', id, ctid::text from public.product_kinds where name_key like 'pgtap03 %'
  union all select 'products', id, ctid::text from public.products where sku like 'PGTAP03-%'
  union all select 'suppliers', id, ctid::text from public.suppliers where name like 'PgTap03 %'
  union all select 'locations', id, ctid::text from public.locations where city_key = 'pgtap03 krasnodar'
  union all select 'operations', id, ctid::text from public.operations where external_id like 'pgtap03-%'
$$;

-- Batch 1: four processed records, one rejected, one failed -------------------------------------
--   a1  maker/SKU-1, supplier by tax id, store 1
--   a2  same manufacturer key written in upper case, SKU-2, supplier by name only, store 2
--   a3  another manufacturer, same SKU-1, no supplier, no category/group/kind
--   a4  partsdirect return of maker/SKU-1 with an older occurred_at and another product name
--   a5  rejected; a6 failed (attempts exhausted)

select pg_temp.stage('a1', 'a2', 'a3', 'a4', 'a5', 'a6');

-- The same document is applied again below as the replay.
create temporary table batch1 as
select jsonb_build_object(
  'processed', jsonb_build_array(
    pg_temp.sale('a2', '{"manufacturer": "PGTAP03 MAKER", "sku": "PGTAP03-SKU-2", "product_name": "PgTap03 Display 2",
                        "supplier_name": "PgTap03 Parts Shop", "supplier_tax_id": null, "supplier_key": "name:pgtap03 parts shop",
                        "location_name": "PgTap03 Store 2", "location_key": "pgtap03 store 2", "address": null}'),
    pg_temp.sale('a1'),
    pg_temp.sale('a3', '{"manufacturer": "PgTap03 Other", "manufacturer_key": "pgtap03 other",
                        "product_name": "PgTap03 Other Display",
                        "category": null, "category_key": null, "product_group": null, "group_key": null,
                        "kind": null, "kind_key": null,
                        "supplier_name": null, "supplier_tax_id": null, "supplier_key": null}'),
    pg_temp.sale('a4', '{"source": "partsdirect", "type": "return", "quantity": 1, "amount": 1499.50,
                        "occurred_at": "2026-11-19T11:00:00Z", "product_name": "PgTap03 Display 1 (old name)"}')),
  'rejected', jsonb_build_array(pg_temp.unprocessable('a5', 1, 'quantity: must be a positive number')),
  'failed', jsonb_build_array(pg_temp.unprocessable('a6', 5, 'connection reset'))) as doc;

insert into results
select 'batch 1', pg_temp.apply((select doc from batch1));

select is((select result from results where label = 'batch 1'),
          '{"processed": 4, "rejected": 1, "failed": 1, "operations_written": 4}'::jsonb,
          'batch 1 returns its counts {processed, rejected, failed, operations_written}');

select is(pg_temp.counts(),
          '{"manufacturers": 2, "categories": 1, "product_groups": 1, "product_kinds": 1,
            "products": 3, "suppliers": 2, "locations": 2, "operations": 4}'::jsonb,
          'batch 1 creates 2 manufacturers, 1 category, 1 group, 1 kind, 3 products, 2 suppliers, 2 locations, 4 operations');

select set_eq(
  $$select name, name_key from public.manufacturers where name_key like 'pgtap03 %'$$,
  $$values ('PgTap03 Maker', 'pgtap03 maker'), ('PgTap03 Other', 'pgtap03 other')$$,
  'two spellings of one manufacturer key share one manufacturer, named after the earliest staging row');

select set_eq(
  $$select m.name_key as manufacturer_key, p.sku, p.name, c.name_key as category_key,
           g.name_key as group_key, k.name_key as kind_key
      from public.products as p
      join public.manufacturers as m on m.id = p.manufacturer_id
      left join public.categories as c on c.id = p.category_id
      left join public.product_groups as g on g.id = p.group_id
      left join public.product_kinds as k on k.id = p.kind_id
     where p.sku like 'PGTAP03-%'$$,
  $$values ('pgtap03 maker', 'PGTAP03-SKU-1', 'PgTap03 Display 1', 'pgtap03 displays', 'pgtap03 phone parts', 'pgtap03 original'),
           ('pgtap03 maker', 'PGTAP03-SKU-2', 'PgTap03 Display 2', 'pgtap03 displays', 'pgtap03 phone parts', 'pgtap03 original'),
           ('pgtap03 other', 'PGTAP03-SKU-1', 'PgTap03 Other Display', null, null, null)$$,
  'products are one per (manufacturer, SKU), with their category, group and kind');

select is((select (p.attributes_from_input_id, p.attributes_from_occurred_at) from pg_temp.product1() as p),
          (pg_temp.input_id('a1'), '2026-11-20T11:00:00Z'::timestamptz),
          'within a batch the product takes the record with the latest occurred_at (a1), not the later staging row (a4)');

select set_eq(
  $$select identity_key, name, tax_id from public.suppliers where name like 'PgTap03 %'$$,
  $$values ('tax:0300000001', 'PgTap03 Mobile LLC', '0300000001'),
           ('name:pgtap03 parts shop', 'PgTap03 Parts Shop', null)$$,
  'suppliers are identified by tax id, or by name when there is none');

select set_eq(
  $$select city_key, name_key, name, city, address from public.locations where city_key = 'pgtap03 krasnodar'$$,
  $$values ('pgtap03 krasnodar', 'pgtap03 store 1', 'PgTap03 Store 1', 'Krasnodar', 'Krasnaya 1'),
           ('pgtap03 krasnodar', 'pgtap03 store 2', 'PgTap03 Store 2', 'Krasnodar', null)$$,
  'locations are one per (city, name)');

select set_eq(
  $$select o.source, o.external_id, o.type, o.quantity, o.unit_price, o.amount, o.currency,
           m.name_key as manufacturer_key, p.sku, s.identity_key, l.name_key as location_key, o.input_id
      from public.operations as o
      join public.products as p on p.id = o.product_id
      join public.manufacturers as m on m.id = p.manufacturer_id
      left join public.suppliers as s on s.id = o.supplier_id
      join public.locations as l on l.id = o.location_id
     where o.external_id like 'pgtap03-%'$$,
  $$values ('moba', 'pgtap03-a1', 'sale', 2.000, 1499.50, 2999.00, 'RUB', 'pgtap03 maker', 'PGTAP03-SKU-1',
            'tax:0300000001', 'pgtap03 store 1', pg_temp.input_id('a1')),
           ('moba', 'pgtap03-a2', 'sale', 2.000, 1499.50, 2999.00, 'RUB', 'pgtap03 maker', 'PGTAP03-SKU-2',
            'name:pgtap03 parts shop', 'pgtap03 store 2', pg_temp.input_id('a2')),
           ('moba', 'pgtap03-a3', 'sale', 2.000, 1499.50, 2999.00, 'RUB', 'pgtap03 other', 'PGTAP03-SKU-1',
            null, 'pgtap03 store 1', pg_temp.input_id('a3')),
           ('partsdirect', 'pgtap03-a4', 'return', 1.000, 1499.50, 1499.50, 'RUB', 'pgtap03 maker', 'PGTAP03-SKU-1',
            'tax:0300000001', 'pgtap03 store 1', pg_temp.input_id('a4'))$$,
  'one operation per record, linked to its product, supplier and location, with its staging id');

-- Staging rows and the queue after batch 1.

select set_eq(
  $$select payload ->> 'k' as k, status, error, attempts, processed_at is not null as has_processed_at
      from conveyor.sales_input where batch_id = 'c0c0c0c0-0000-4000-8000-000000000003'$$,
  $$values ('a1', 'processed', null, 1, true), ('a2', 'processed', null, 1, true),
           ('a3', 'processed', null, 1, true), ('a4', 'processed', null, 1, true),
           ('a5', 'rejected', 'quantity: must be a positive number', 1, true),
           ('a6', 'failed', 'connection reset', 5, true)$$,
  'staging rows become processed (processed_at set), rejected or failed with the error text and attempts');

select is_empty(
  $$select q.msg_id from pgmq.q_sales_input as q join inputs as i on i.msg_id = q.msg_id$$,
  'no message of batch 1 is left in the queue');

select set_eq(
  $$select a.msg_id, a.message from pgmq.a_sales_input as a join inputs as i on i.msg_id = a.msg_id$$,
  $$select msg_id, jsonb_build_object('id', input_id) from inputs where k in ('a5', 'a6')$$,
  'the rejected and failed messages are archived, the processed ones are not');

-- Replay: the same batch again writes nothing -----------------------------------------------------

update public.products set updated_at = '2000-01-01T00:00:00Z' where sku like 'PGTAP03-%';
update public.operations set updated_at = '2000-01-01T00:00:00Z' where external_id like 'pgtap03-%';
create temporary table before_replay as select * from pg_temp.row_versions();
create temporary table counts_before_replay as select pg_temp.counts() as counts;

insert into results
select 'replay', pg_temp.apply((select doc from batch1));

select is((select result ->> 'operations_written' from results where label = 'replay'), '0',
          'a replay writes no operation');
select is(pg_temp.counts(), (select counts from counts_before_replay), 'a replay creates no row');
select set_eq($$select * from pg_temp.row_versions()$$, $$select * from before_replay$$,
              'a replay updates no row in manufacturers, dictionaries, products, suppliers, locations or operations');
select is((select array_agg(distinct updated_at) from public.operations where external_id like 'pgtap03-%'),
          array['2000-01-01T00:00:00Z'::timestamptz], 'a replay leaves operations.updated_at alone');
select is((select array_agg(distinct updated_at) from public.products where sku like 'PGTAP03-%'),
          array['2000-01-01T00:00:00Z'::timestamptz], 'a replay leaves products.updated_at alone');

-- Corrections: the later staging row wins, an older one never overwrites a newer ------------------

select pg_temp.stage('a7');
insert into results
select 'correction', pg_temp.apply(jsonb_build_object('processed', jsonb_build_array(
  pg_temp.sale('a7', '{"external_id": "pgtap03-a1", "quantity": 3, "amount": 4498.50}'))));

select is((select result from results where label = 'correction'),
          '{"processed": 1, "rejected": 0, "failed": 0, "operations_written": 1}'::jsonb,
          'a correction writes one operation');
select is((select (o.quantity, o.amount, o.input_id, o.updated_at) from pg_temp.operation('pgtap03-a1') as o),
          (3.000::numeric(18, 3), 4498.50::numeric(20, 2), pg_temp.input_id('a7'), now()),
          'a later staging row with another quantity updates the operation (quantity, amount, input_id, updated_at)');
select is((select count(*) from public.operations where external_id = 'pgtap03-a1'), 1::bigint,
          'the correction updates the operation in place');

insert into results
select 'stale', pg_temp.apply(jsonb_build_object('processed', jsonb_build_array(pg_temp.sale('a1'))));
select is((select (o.quantity, o.input_id) from pg_temp.operation('pgtap03-a1') as o),
          (3.000::numeric(18, 3), pg_temp.input_id('a7')),
          'applying the older staging row again does not overwrite the newer one');
select is((select result ->> 'operations_written' from results where label = 'stale'), '0',
          'the older staging row writes nothing');

-- Within one batch the later staging row of an operation wins, whatever the array order.
select pg_temp.stage('a8');
select pg_temp.stage('a9');
select lives_ok($$select pg_temp.apply(jsonb_build_object('processed', jsonb_build_array(
                    pg_temp.sale('a9', '{"external_id": "pgtap03-a2", "quantity": 4, "amount": 5998.00}'),
                    pg_temp.sale('a8', '{"external_id": "pgtap03-a2", "quantity": 5, "amount": 7497.50}'))))$$,
                'a batch holding two records of one operation applies');
select is((select (o.quantity, o.input_id) from pg_temp.operation('pgtap03-a2') as o),
          (4.000::numeric(18, 3), pg_temp.input_id('a9')),
          'within a batch the later staging row of an operation wins, whatever the array order');

-- A batch of new sales and a correction: both are written, and the count holds both.
select pg_temp.stage('m1', 'm2', 'm3');
insert into results
select 'mixed', pg_temp.apply(jsonb_build_object('processed', jsonb_build_array(
  pg_temp.sale('m1'),
  pg_temp.sale('m2', '{"external_id": "pgtap03-a3", "quantity": 7, "amount": 10496.50}'),
  pg_temp.sale('m3'))));
select is((select result ->> 'operations_written' from results where label = 'mixed'), '3',
          'a batch of two new sales and one correction writes three operations');
select is((select array_agg(o.quantity::text || ' from ' || o.input_id order by o.external_id)
             from public.operations as o where o.external_id in ('pgtap03-m1', 'pgtap03-m3')),
          array['2.000 from ' || pg_temp.input_id('m1'), '2.000 from ' || pg_temp.input_id('m3')],
          'its new sales are inserted');
select is((select (o.quantity, o.amount, o.input_id) from pg_temp.operation('pgtap03-a3') as o),
          (7.000::numeric(18, 3), 10496.50::numeric(20, 2), pg_temp.input_id('m2')),
          'its correction updates the existing operation');

-- b1 is older than b2. b2 repeats the operation's current content (so writes nothing), then b1
-- arrives late (a retry or a replay) with another quantity. b2 is the newest applied record.
select pg_temp.stage('b1');
select pg_temp.stage('b2');
select lives_ok($$select pg_temp.apply(jsonb_build_object('processed', jsonb_build_array(
                    pg_temp.sale('b2', '{"external_id": "pgtap03-a2", "quantity": 4, "amount": 5998.00}'))))$$,
                'b2 (same content as the operation) applies');
select lives_ok($$select pg_temp.apply(jsonb_build_object('processed', jsonb_build_array(
                    pg_temp.sale('b1', '{"external_id": "pgtap03-a2", "quantity": 6, "amount": 8997.00}'))))$$,
                'b1 (older, other quantity) applies');
-- (Regression: the newest staging row id is always recorded, even when its content changed nothing.)
select is((select o.quantity from pg_temp.operation('pgtap03-a2') as o), 4.000::numeric(18, 3),
          'an older staging row never overwrites a newer one, even when the newer one changed nothing');

-- Product attributes follow the latest occurred_at; ties go to the later staging row ------------

update public.products set updated_at = '2000-01-01T00:00:00Z' where sku like 'PGTAP03-%';

select pg_temp.stage('p1');
select lives_ok($$select pg_temp.apply(jsonb_build_object('processed', jsonb_build_array(
                    pg_temp.sale('p1', '{"occurred_at": "2026-11-19T08:00:00Z", "product_name": "PgTap03 Display 1 stale",
                                         "category": null, "category_key": null}'))))$$,
                'p1 (older occurred_at) applies');
select is((select (p.name, p.category_id is not null, p.attributes_from_input_id, p.updated_at) from pg_temp.product1() as p),
          -- b2 (same occurred_at as a1, later staging row, same attributes) is the newest source seen
          ('PgTap03 Display 1'::text, true, pg_temp.input_id('b2'), '2000-01-01T00:00:00Z'::timestamptz),
          'a record with an older occurred_at applied later changes neither the name nor the category');

select pg_temp.stage('p2');
select lives_ok($$select pg_temp.apply(jsonb_build_object('processed', jsonb_build_array(
                    pg_temp.sale('p2', '{"occurred_at": "2026-11-21T09:00:00Z", "product_name": "PgTap03 Display 1 v2"}'))))$$,
                'p2 (newer occurred_at) applies');
select is((select (p.name, p.attributes_from_input_id, p.attributes_from_occurred_at, p.updated_at) from pg_temp.product1() as p),
          ('PgTap03 Display 1 v2'::text, pg_temp.input_id('p2'), '2026-11-21T09:00:00Z'::timestamptz, now()),
          'a record with a newer occurred_at renames the product and bumps updated_at');

-- Ties across batches: p3 < p4, same occurred_at as p2; p4 arrives first.
select pg_temp.stage('p3');
select pg_temp.stage('p4');
select lives_ok($$select pg_temp.apply(jsonb_build_object('processed', jsonb_build_array(
                    pg_temp.sale('p4', '{"occurred_at": "2026-11-21T09:00:00Z", "product_name": "PgTap03 Display 1 v4"}'))))$$,
                'p4 (same occurred_at, later staging row) applies');
select is((select p.name from pg_temp.product1() as p), 'PgTap03 Display 1 v4',
          'on an occurred_at tie the later staging row wins');
select lives_ok($$select pg_temp.apply(jsonb_build_object('processed', jsonb_build_array(
                    pg_temp.sale('p3', '{"occurred_at": "2026-11-21T09:00:00Z", "product_name": "PgTap03 Display 1 v3"}'))))$$,
                'p3 (same occurred_at, earlier staging row) applies');
select is((select (p.name, p.attributes_from_input_id) from pg_temp.product1() as p),
          ('PgTap03 Display 1 v4'::text, pg_temp.input_id('p4')),
          'on an occurred_at tie an earlier staging row applied later does not win');

-- Ties within one batch.
select pg_temp.stage('p5', 'p6');
select lives_ok($$select pg_temp.apply(jsonb_build_object('processed', jsonb_build_array(
                    pg_temp.sale('p6', '{"occurred_at": "2026-11-22T09:00:00Z", "product_name": "PgTap03 Display 1 v6"}'),
                    pg_temp.sale('p5', '{"occurred_at": "2026-11-22T09:00:00Z", "product_name": "PgTap03 Display 1 v5"}'))))$$,
                'a batch with two records of one product at the same occurred_at applies');
select is((select (p.name, p.attributes_from_input_id) from pg_temp.product1() as p),
          ('PgTap03 Display 1 v6'::text, pg_temp.input_id('p6')),
          'within a batch an occurred_at tie goes to the later staging row, whatever the array order');

-- q1 < q2, same occurred_at as p6. q2 repeats p6's attributes (writes nothing), then q1 arrives
-- late with another name. By the rule the tie goes to q2, the later staging row.
select pg_temp.stage('q1');
select pg_temp.stage('q2');
select lives_ok($$select pg_temp.apply(jsonb_build_object('processed', jsonb_build_array(
                    pg_temp.sale('q2', '{"occurred_at": "2026-11-22T09:00:00Z", "product_name": "PgTap03 Display 1 v6"}'))))$$,
                'q2 (tie, same attributes) applies');
select lives_ok($$select pg_temp.apply(jsonb_build_object('processed', jsonb_build_array(
                    pg_temp.sale('q1', '{"occurred_at": "2026-11-22T09:00:00Z", "product_name": "PgTap03 Display 1 q1"}'))))$$,
                'q1 (tie, earlier staging row, other name) applies');
-- (Regression: on a tie the newest staging row id is recorded even when the attributes are equal.)
select is((select p.name from pg_temp.product1() as p), 'PgTap03 Display 1 v6',
          'on an occurred_at tie an earlier staging row never overrides a later one, even one that changed nothing');

-- Location addresses -----------------------------------------------------------------------------
-- Store 2 has had no address since batch 1 (a2). l1 < l2 < l3 in staging order; l2 and l1 offer
-- store 2 two addresses, l3 offers store 1 another one.

select pg_temp.stage('l1', 'l2', 'l3');
select lives_ok($$select pg_temp.apply(jsonb_build_object('processed', jsonb_build_array(
                    pg_temp.sale('l2', '{"location_name": "PgTap03 Store 2", "location_key": "pgtap03 store 2", "address": "Krasnaya 2b"}'),
                    pg_temp.sale('l3', '{"address": "Elsewhere 9"}'),
                    pg_temp.sale('l1', '{"location_name": "PgTap03 Store 2", "location_key": "pgtap03 store 2", "address": "Krasnaya 2"}'))))$$,
                'a batch offering addresses for both stores applies');
select is((select address from public.locations where city_key = 'pgtap03 krasnodar' and name_key = 'pgtap03 store 2'),
          'Krasnaya 2',
          'a location without an address takes the first one a later batch offers (earliest staging row)');
select is((select address from public.locations where city_key = 'pgtap03 krasnodar' and name_key = 'pgtap03 store 1'),
          'Krasnaya 1',
          'a location that has an address keeps it');

-- done_msg_ids and an empty batch ----------------------------------------------------------------

select pg_temp.stage('d1');
insert into results
select 'done only', pg_temp.apply(jsonb_build_object('done_msg_ids', jsonb_build_array(pg_temp.msg_id('d1'))));
select is((select result from results where label = 'done only'),
          '{"processed": 0, "rejected": 0, "failed": 0, "operations_written": 0}'::jsonb,
          'a batch with only done_msg_ids counts nothing');
select ok(not exists (select from pgmq.q_sales_input where msg_id = pg_temp.msg_id('d1'))
          and not exists (select from pgmq.a_sales_input where msg_id = pg_temp.msg_id('d1')),
          'done_msg_ids are deleted from the queue, not archived');
select is((select status from conveyor.sales_input where id = pg_temp.input_id('d1')), 'received',
          'done_msg_ids leave their staging rows alone');

select is(conveyor.apply_sales_batch('{}'),
          '{"processed": 0, "rejected": 0, "failed": 0, "operations_written": 0}'::jsonb,
          'an empty batch does nothing and says so');

select * from finish();
rollback;
