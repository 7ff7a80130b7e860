-- Schema of the sales pipeline: tables, columns, keys and the identities they enforce; row level
-- security and API role privileges on public tables; the conveyor schema closed to the API roles; every
-- SECURITY DEFINER function in conveyor pinned to an empty search_path and documented.
-- Runs in one transaction that is rolled back: nothing persists.

begin;
select plan(162);

-- Tables -----------------------------------------------------------------------------------------

select has_schema('conveyor', 'schema conveyor exists');

select has_table('public', t, format('table public.%s exists', t))
  from unnest(array['shops', 'manufacturers', 'categories', 'product_groups', 'product_kinds',
                    'products', 'suppliers', 'locations', 'operations']) as t;

select has_table('conveyor', t, format('table conveyor.%s exists', t))
  from unnest(array['sales_input', 'function_wakes']) as t;

select ok(exists (select from pgmq.list_queues() as q where q.queue_name = 'sales_input'),
          'pgmq queue sales_input exists');

-- Columns ----------------------------------------------------------------------------------------

select has_column(s, t, c, format('%s.%s has column %s', s, t, c))
  from (values
    ('public', 'shops', array['code', 'name', 'city', 'timezone', 'active', 'updated_at']),
    ('public', 'manufacturers', array['id', 'name', 'name_key', 'created_at']),
    ('public', 'categories', array['id', 'name', 'name_key', 'created_at']),
    ('public', 'product_groups', array['id', 'name', 'name_key', 'created_at']),
    ('public', 'product_kinds', array['id', 'name', 'name_key', 'created_at']),
    ('public', 'products', array['id', 'manufacturer_id', 'sku', 'name', 'category_id', 'group_id',
                                 'kind_id', 'attributes_from_occurred_at', 'attributes_from_input_id',
                                 'created_at', 'updated_at']),
    ('public', 'suppliers', array['id', 'name', 'tax_id', 'identity_key', 'created_at']),
    ('public', 'locations', array['id', 'name', 'city', 'address', 'city_key', 'name_key', 'created_at']),
    ('public', 'operations', array['id', 'source', 'external_id', 'occurred_at', 'type', 'quantity',
                                   'unit_price', 'amount', 'currency', 'product_id', 'supplier_id',
                                   'location_id', 'input_id', 'created_at', 'updated_at']),
    ('conveyor', 'sales_input', array['id', 'payload', 'received_at', 'batch_id', 'status', 'error',
                                 'attempts', 'processed_at']),
    ('conveyor', 'function_wakes', array['function_name', 'min_interval', 'paused', 'last_requested_at',
                                    'requests_sent'])
  ) as v(s, t, cols)
  cross join lateral unnest(v.cols) with ordinality as c(c, n)
 order by s, t, n;

-- Keys -------------------------------------------------------------------------------------------

select col_is_pk('public', 'shops', 'code', 'shops: primary key is code');
select col_is_pk('public', t, 'id', format('%s: primary key is id', t))
  from unnest(array['manufacturers', 'categories', 'product_groups', 'product_kinds',
                    'products', 'suppliers', 'locations', 'operations']) as t;
select col_is_pk('conveyor', 'sales_input', 'id', 'conveyor.sales_input: primary key is id (the input_id)');
select col_is_pk('conveyor', 'function_wakes', 'function_name', 'conveyor.function_wakes: primary key is function_name');

select col_is_unique('public', t, array['name_key'], format('%s: name_key is unique', t))
  from unnest(array['manufacturers', 'categories', 'product_groups', 'product_kinds']) as t;
select col_is_unique('public', 'products', array['manufacturer_id', 'sku'],
                     'products: (manufacturer_id, sku) is unique');
select col_is_unique('public', 'suppliers', array['identity_key'], 'suppliers: identity_key is unique');
select col_is_unique('public', 'locations', array['city_key', 'name_key'],
                     'locations: (city_key, name_key) is unique');
select col_is_unique('public', 'operations', array['source', 'external_id'],
                     'operations: (source, external_id) is unique');

-- Operations and products keep their references by construction here (the production project
-- has the keys): no foreign key to check per row, and triggers refusing to orphan a row instead.
select hasnt_fk('public', 'operations', 'operations: no per-row foreign key checks in the working database');
select hasnt_fk('public', 'products', 'products: no per-row foreign key checks in the working database');
select has_trigger('public', t, t || '_keeps_operations_' || event, format('%s: %s refused while operations refer to it', t, event))
  from unnest(array['shops', 'products', 'suppliers', 'locations']) as t,
       unnest(array['delete', 'truncate', 'key']) as event;
select has_trigger('public', t, t || '_keeps_products_' || event, format('%s: %s refused while products refer to it', t, event))
  from unnest(array['manufacturers', 'categories', 'product_groups', 'product_kinds']) as t,
       unnest(array['delete', 'truncate', 'key']) as event;
-- A product's attribute update touches no index, so it can stay on its page (HOT).
select is(
  array(select i.indexrelid::regclass::text from pg_catalog.pg_index as i
         where i.indrelid = 'public.products'::regclass order by 1),
  array['products_manufacturer_id_sku_key', 'products_pkey'],
  'products: indexed on its id and identity only, so attribute updates can be HOT');
select ok(array['fillfactor=70'] <@ (select c.reloptions from pg_catalog.pg_class as c where c.oid = 'public.products'::regclass),
          'products: pages keep room for updated rows (fillfactor 70)');

-- The identities hold in practice: a second row with the same identity is refused.

insert into public.shops (code, name, city, timezone, active)
values ('moba', 'Moba', 'Краснодар', 'Europe/Moscow', true)
on conflict (code) do nothing;

insert into public.manufacturers (name, name_key) values ('PgTap01 Maker', 'pgtap01 maker');
insert into public.categories (name, name_key) values ('PgTap01 Category', 'pgtap01 category'),
                                                   ('PgTap01 Spare Category', 'pgtap01 spare category');
insert into public.product_groups (name, name_key) values ('PgTap01 Group', 'pgtap01 group');
insert into public.product_kinds (name, name_key) values ('PgTap01 Kind', 'pgtap01 kind');
insert into public.products (manufacturer_id, sku, name, category_id, group_id, kind_id,
                             attributes_from_occurred_at, attributes_from_input_id)
select m.id, 'PGTAP01-SKU', 'PgTap01 Display', c.id, g.id, k.id, '2026-11-20 11:00+00', 1
  from public.manufacturers as m, public.categories as c, public.product_groups as g, public.product_kinds as k
 where m.name_key = 'pgtap01 maker' and c.name_key = 'pgtap01 category'
   and g.name_key = 'pgtap01 group' and k.name_key = 'pgtap01 kind';
insert into public.suppliers (name, tax_id, identity_key) values ('PgTap01 Supplier', '0100000001', 'tax:0100000001');
insert into public.locations (name, city, city_key, name_key) values ('PgTap01 Store', 'Krasnodar', 'pgtap01 city', 'pgtap01 store');
insert into public.operations (source, external_id, occurred_at, type, quantity, unit_price, amount, currency,
                               product_id, location_id, input_id)
select 'moba', 'pgtap01-op-1', '2026-11-20 11:00+00', 'sale', 1, 10, 10, 'RUB', p.id, l.id, 1
  from public.products as p, public.locations as l
 where p.sku = 'PGTAP01-SKU' and l.name_key = 'pgtap01 store';

select throws_ok(
  $$insert into public.manufacturers (name, name_key) values ('PGTAP01 MAKER', 'pgtap01 maker')$$,
  '23505', null, 'manufacturers: a second row with the same name_key is refused');
select throws_ok(
  $$insert into public.products (manufacturer_id, sku, name, attributes_from_occurred_at, attributes_from_input_id)
    select id, 'PGTAP01-SKU', 'Other name', '2026-11-21 11:00+00', 2
      from public.manufacturers where name_key = 'pgtap01 maker'$$,
  '23505', null, 'products: a second row with the same (manufacturer_id, sku) is refused');
select throws_ok(
  $$insert into public.suppliers (name, tax_id, identity_key) values ('Other name', '0100000001', 'tax:0100000001')$$,
  '23505', null, 'suppliers: a second row with the same identity_key is refused');
select throws_ok(
  $$insert into public.locations (name, city, city_key, name_key) values ('PGTAP01 STORE', 'Krasnodar', 'pgtap01 city', 'pgtap01 store')$$,
  '23505', null, 'locations: a second row with the same (city_key, name_key) is refused');
select throws_ok(
  $$insert into public.operations (source, external_id, occurred_at, type, quantity, unit_price, amount, currency,
                                   product_id, location_id, input_id)
    select 'moba', 'pgtap01-op-1', '2026-11-21 11:00+00', 'return', 2, 10, 20, 'RUB', p.id, l.id, 2
      from public.products as p, public.locations as l
     where p.sku = 'PGTAP01-SKU' and l.name_key = 'pgtap01 store'$$,
  '23505', null, 'operations: a second row with the same (source, external_id) is refused');

-- What the operations' foreign keys would refuse, the triggers refuse (SQLSTATE 23503).
select throws_ok(
  $$delete from public.products where sku = 'PGTAP01-SKU'$$,
  '23503', null, 'products: deleting a product an operation refers to is refused');
select throws_ok(
  $$delete from public.locations where name_key = 'pgtap01 store'$$,
  '23503', null, 'locations: deleting a location an operation refers to is refused');
select throws_ok(
  $$delete from public.shops where code = 'moba'$$,
  '23503', null, 'shops: deleting a shop an operation refers to is refused');
select throws_ok(
  $$update public.shops set code = 'moba-renamed' where code = 'moba'$$,
  '23503', null, 'shops: renaming the code of a shop an operation refers to is refused');
select throws_ok(
  $$update public.products set id = default where sku = 'PGTAP01-SKU'$$,
  '23503', null, 'products: giving a referenced product a new id is refused');
select throws_ok(
  $$truncate public.suppliers cascade$$,
  '23503', null, 'suppliers: truncating while operations exist is refused');
select throws_ok(
  $$delete from public.manufacturers where name_key = 'pgtap01 maker'$$,
  '23503', null, 'manufacturers: deleting a manufacturer a product refers to is refused');
select throws_ok(
  $$delete from public.categories where name_key = 'pgtap01 category'$$,
  '23503', null, 'categories: deleting a category a product refers to is refused');
select throws_ok(
  $$truncate public.product_kinds cascade$$,
  '23503', null, 'product_kinds: truncating while products refer to a kind is refused');
select throws_ok(
  $$update public.product_groups set id = default where name_key = 'pgtap01 group'$$,
  '23503', null, 'product_groups: giving a referenced group a new id is refused');
select lives_ok(
  $$delete from public.categories where name_key = 'pgtap01 spare category'$$,
  'categories: a category no product refers to can be deleted');
select lives_ok(
  $$delete from public.suppliers where identity_key = 'tax:0100000001'$$,
  'suppliers: a row no operation refers to can be deleted');
select lives_ok(
  $$update public.shops set name = 'Moba (renamed)' where code = 'moba'$$,
  'shops: updating other columns of a referenced shop is allowed');

-- Row level security and API privileges on public tables --------------------------------------

select is(
  array(select c.relname::text
          from pg_catalog.pg_class as c
         where c.relnamespace = 'public'::regnamespace
           and c.relkind in ('r', 'p')
           and not c.relrowsecurity
         order by 1),
  '{}'::text[],
  'row level security is enabled on every public table');

select is(
  array(select c.relname::text
          from pg_catalog.pg_class as c
         where c.relnamespace = 'public'::regnamespace
           and c.relkind in ('r', 'p')
           and not exists (select from pg_catalog.pg_policies as p
                            where p.schemaname = 'public' and p.tablename = c.relname
                              and p.cmd in ('SELECT', 'ALL') and p.permissive = 'PERMISSIVE'
                              and p.roles && array['authenticated', 'public']::name[])
         order by 1),
  '{}'::text[],
  'every public table has a policy letting signed-in users read it');

select is(
  array(select format('%s %s on %s', r.role, pr.privilege, c.relname)
          from pg_catalog.pg_class as c
          cross join unnest(array['anon', 'authenticated']) as r(role)
          cross join unnest(array['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) as pr(privilege)
         where c.relnamespace = 'public'::regnamespace
           and c.relkind in ('r', 'p')
           and (pg_catalog.has_table_privilege(r.role, c.oid, pr.privilege)
                or (pr.privilege in ('INSERT', 'UPDATE')
                    and pg_catalog.has_any_column_privilege(r.role, c.oid, pr.privilege)))
         order by 1),
  '{}'::text[],
  'anon and authenticated cannot INSERT, UPDATE, DELETE or TRUNCATE any public table (table or column grants)');

select is(
  array(select c.relname::text
          from pg_catalog.pg_class as c
         where c.relnamespace = 'public'::regnamespace
           and c.relkind in ('r', 'p')
           and not pg_catalog.has_table_privilege('authenticated', c.oid, 'SELECT')
         order by 1),
  '{}'::text[],
  'authenticated can SELECT every public table');

-- The conveyor schema is closed to the API roles -----------------------------------------------------

select schema_privs_are('conveyor', 'anon', array[]::text[], 'anon has no privileges on schema conveyor');
select schema_privs_are('conveyor', 'authenticated', array[]::text[], 'authenticated has no privileges on schema conveyor');
select ok(pg_catalog.has_schema_privilege('service_role', 'conveyor', 'USAGE'), 'service_role can use schema conveyor');

select is(
  array(select format('%s %s on %s', r.role, pr.privilege, c.relname)
          from pg_catalog.pg_class as c
          cross join unnest(array['anon', 'authenticated']) as r(role)
          cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) as pr(privilege)
         where c.relnamespace = 'conveyor'::regnamespace
           and c.relkind in ('r', 'p', 'v', 'm')
           and pg_catalog.has_table_privilege(r.role, c.oid, pr.privilege)
         order by 1),
  '{}'::text[],
  'anon and authenticated hold no privileges on conveyor tables and views');

select is(
  array(select format('%s may execute %s', r.role, p.oid::regprocedure)
          from pg_catalog.pg_proc as p
          cross join unnest(array['anon', 'authenticated']) as r(role)
         where p.pronamespace = 'conveyor'::regnamespace
           and pg_catalog.has_function_privilege(r.role, p.oid, 'EXECUTE')
         order by 1),
  '{}'::text[],
  'anon and authenticated cannot execute any conveyor function');

-- SECURITY DEFINER functions: empty search_path and a comment ----------------------------------

select isnt_empty(
  $$select from pg_catalog.pg_proc where pronamespace = 'conveyor'::regnamespace and prosecdef$$,
  'conveyor has SECURITY DEFINER functions to check');

select is(
  array(select format('%s:%s%s', p.oid::regprocedure,
                      case when p.proconfig is null or not ('search_path=""' = any (p.proconfig))
                           then ' search_path not pinned to empty' else '' end,
                      case when coalesce(btrim(obj_description(p.oid, 'pg_proc')), '') = ''
                           then ' no comment' else '' end)
          from pg_catalog.pg_proc as p
         where p.pronamespace = 'conveyor'::regnamespace
           and p.prosecdef
           and (p.proconfig is null
                or not ('search_path=""' = any (p.proconfig))
                or coalesce(btrim(obj_description(p.oid, 'pg_proc')), '') = '')
         order by 1),
  '{}'::text[],
  'every SECURITY DEFINER function in conveyor sets search_path = '''' and has a comment');

select * from finish();
rollback;
