-- The working database checks the references of public.products by construction, as it already
-- does for public.operations (20261124001900). Its only writer, etl.apply_sales_batch, takes the
-- manufacturer, category, group and kind ids from the dictionaries in the same transaction.
--
-- With sales arriving in time order, most records are the latest for their product, so a batch
-- of 1000 sales updates about 750 products, and each update that changes a category, group or
-- kind runs the key's check one row at a time (a lookup and a KEY SHARE lock on the dictionary
-- row). On 10 batches of 1000 time-ordered sample sales, the products statement took 103 ms with
-- the keys and 34 ms without: about 7 µs a sale, measured with pg_stat_statements. The
-- production project keeps the keys (its migrations link 20261124001100_reference_tables.sql,
-- not this file): the API reads there, and PostgREST embeds related rows through them.
--
-- What the keys did besides stays: refusing to delete, truncate or re-key a dictionary row that
-- a product still refers to. One trigger function now serves both referencing tables; its first
-- argument names the table that refers.

alter table public.products
  drop constraint if exists products_manufacturer_id_fkey,
  drop constraint if exists products_category_id_fkey,
  drop constraint if exists products_group_id_fkey,
  drop constraint if exists products_kind_id_fkey;

create or replace function etl.refuse_orphaning_references()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  -- tg_argv: the referencing table, its column that refers to this table, and the key it refers to.
  referencing_table regclass := tg_argv[0]::regclass;
  referencing_column text := tg_argv[1];
  key_column text := tg_argv[2];
  example text;
begin
  if tg_op = 'TRUNCATE' then
    execute format('select ''any'' where exists (select from %s)', referencing_table)
      into example;
  elsif tg_op = 'DELETE' then
    execute format(
      'select d.%3$I::text from removed_rows as d
        where exists (select from %1$s as r where r.%2$I = d.%3$I)
        limit 1',
      referencing_table, referencing_column, key_column)
      into example;
  elsif (pg_catalog.to_jsonb(old) -> key_column) is distinct from (pg_catalog.to_jsonb(new) -> key_column) then
    execute format(
      'select $1 where exists (select from %1$s as r where r.%2$I::text = $1)',
      referencing_table, referencing_column)
      into example
      using pg_catalog.to_jsonb(old) ->> key_column;
  end if;
  if example is not null then
    raise exception '%.%: % % is still referenced from %.%',
      tg_table_schema, tg_table_name, key_column, example, referencing_table, referencing_column
      using errcode = 'foreign_key_violation',
            hint = 'Rows refer to this one; the working database keeps these references by construction.';
  end if;
  return null;
end
$$;

comment on function etl.refuse_orphaning_references() is
  'Trigger on a table others refer to without a foreign key (args: referencing table, its referencing column, the key column here): refuses a DELETE, TRUNCATE or key change that would leave a referencing row pointing at nothing, as the foreign keys the production project has.';

revoke all on function etl.refuse_orphaning_references() from public, anon, authenticated;

-- Per referenced table: deletes (statement level, over the deleted rows at once), truncation, and
-- a change of the key (row level, fired only when an UPDATE sets the key column). The triggers of
-- 20261124001900 keep their names and move to the shared function.
do $$
declare
  target record;
begin
  for target in
    select *
      from (values ('shops', 'operations', 'source', 'code'),
                   ('products', 'operations', 'product_id', 'id'),
                   ('suppliers', 'operations', 'supplier_id', 'id'),
                   ('locations', 'operations', 'location_id', 'id'),
                   ('manufacturers', 'products', 'manufacturer_id', 'id'),
                   ('categories', 'products', 'category_id', 'id'),
                   ('product_groups', 'products', 'group_id', 'id'),
                   ('product_kinds', 'products', 'kind_id', 'id'))
             as t(table_name, referencing_table, referencing_column, key_column)
  loop
    execute format('drop trigger if exists %1$s_keeps_%2$s_delete on public.%1$I',
                   target.table_name, target.referencing_table);
    execute format(
      'create trigger %1$s_keeps_%2$s_delete after delete on public.%1$I
         referencing old table as removed_rows for each statement
         execute function etl.refuse_orphaning_references(%3$L, %4$L, %5$L)',
      target.table_name, target.referencing_table, 'public.' || target.referencing_table,
      target.referencing_column, target.key_column);
    execute format('drop trigger if exists %1$s_keeps_%2$s_truncate on public.%1$I',
                   target.table_name, target.referencing_table);
    execute format(
      'create trigger %1$s_keeps_%2$s_truncate before truncate on public.%1$I
         for each statement execute function etl.refuse_orphaning_references(%3$L, %4$L, %5$L)',
      target.table_name, target.referencing_table, 'public.' || target.referencing_table,
      target.referencing_column, target.key_column);
    execute format('drop trigger if exists %1$s_keeps_%2$s_key on public.%1$I',
                   target.table_name, target.referencing_table);
    execute format(
      'create trigger %1$s_keeps_%2$s_key after update of %5$I on public.%1$I
         for each row execute function etl.refuse_orphaning_references(%3$L, %4$L, %5$L)',
      target.table_name, target.referencing_table, 'public.' || target.referencing_table,
      target.referencing_column, target.key_column);
  end loop;
end
$$;

drop function if exists etl.refuse_orphaning_operations();
