-- The working database keeps the references of public.operations and public.products by
-- construction, not by foreign keys: their only writer, conveyor.apply_sales_batch, takes every
-- id from the same transaction. Per-row key checks cost about 15% (operations) and 7 µs a sale
-- (products) of the pipeline's throughput (docs/decisions/references-by-construction.md). The
-- production project keeps the foreign keys (production/supabase/schemas/foreign_keys.sql).
--
-- What the keys did besides stays: these triggers refuse, set-based, a delete, a truncate or a
-- key change that would leave a referencing row pointing at nothing. They take no row locks, so
-- unlike a key they do not see a batch adding the first reference to that very row at the same
-- moment; the pipeline itself never deletes these rows.

create or replace function conveyor.refuse_orphaning_references()
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

comment on function conveyor.refuse_orphaning_references() is
  'Trigger on a table others refer to without a foreign key (args: referencing table, its referencing column, the key column here): refuses a DELETE, TRUNCATE or key change that would leave a referencing row pointing at nothing, as the foreign keys the production project has.';

revoke all on function conveyor.refuse_orphaning_references() from public, anon, authenticated;

-- Per referenced table, three triggers named <table>_keeps_<referencing table>_<event>: deletes
-- (statement level, over the deleted rows at once), truncation, and a change of the key (row
-- level, fired only when an UPDATE sets the key column).
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
    execute format(
      'create trigger %1$s_keeps_%2$s_delete after delete on public.%1$I
         referencing old table as removed_rows for each statement
         execute function conveyor.refuse_orphaning_references(%3$L, %4$L, %5$L)',
      target.table_name, target.referencing_table, 'public.' || target.referencing_table,
      target.referencing_column, target.key_column);
    execute format(
      'create trigger %1$s_keeps_%2$s_truncate before truncate on public.%1$I
         for each statement execute function conveyor.refuse_orphaning_references(%3$L, %4$L, %5$L)',
      target.table_name, target.referencing_table, 'public.' || target.referencing_table,
      target.referencing_column, target.key_column);
    execute format(
      'create trigger %1$s_keeps_%2$s_key after update of %5$I on public.%1$I
         for each row execute function conveyor.refuse_orphaning_references(%3$L, %4$L, %5$L)',
      target.table_name, target.referencing_table, 'public.' || target.referencing_table,
      target.referencing_column, target.key_column);
  end loop;
end
$$;
