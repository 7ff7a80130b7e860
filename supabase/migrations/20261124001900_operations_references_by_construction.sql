-- The working database checks the references of public.operations by construction, not by
-- foreign keys. Its only writer, etl.apply_sales_batch, takes every product, supplier and location
-- id from a join in the same statement, and the shop code from a row it checked. A foreign key
-- there costs a lookup and a row lock per reference per row, done one by one: four per operation,
-- about 15% of the pipeline's throughput (measured with deno task bench). The production project
-- keeps the foreign keys (its migrations link 20261124001200_operations.sql, not this file): the
-- API reads there, and PostgREST embeds related rows through them.
--
-- What the keys did besides, refusing to delete or re-key a row that operations still reference,
-- stays: the triggers below check it, set-based, on the rare statement that deletes or re-keys.
-- They take no row locks, so unlike a key they do not see a batch that is adding the first
-- reference to that very row at the same moment; the pipeline itself never deletes these rows.

alter table public.operations
  drop constraint if exists operations_source_fkey,
  drop constraint if exists operations_product_id_fkey,
  drop constraint if exists operations_supplier_id_fkey,
  drop constraint if exists operations_location_id_fkey;

create or replace function etl.refuse_orphaning_operations()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  -- tg_argv: the operations column that refers to this table, and the key it refers to.
  referencing_column text := tg_argv[0];
  key_column text := tg_argv[1];
  example text;
begin
  if tg_op = 'TRUNCATE' then
    select 'any' into example where exists (select from public.operations);
  elsif tg_op = 'DELETE' then
    execute format(
      'select d.%2$I::text from removed_rows as d
        where exists (select from public.operations as o where o.%1$I = d.%2$I)
        limit 1',
      referencing_column, key_column)
      into example;
  elsif (pg_catalog.to_jsonb(old) -> key_column) is distinct from (pg_catalog.to_jsonb(new) -> key_column) then
    execute format(
      'select $1 where exists (select from public.operations as o where o.%1$I::text = $1)',
      referencing_column)
      into example
      using pg_catalog.to_jsonb(old) ->> key_column;
  end if;
  if example is not null then
    raise exception '%.%: % % is still referenced from public.operations.%',
      tg_table_schema, tg_table_name, key_column, example, referencing_column
      using errcode = 'foreign_key_violation',
            hint = 'Operations refer to this row; the working database keeps its references by construction.';
  end if;
  return null;
end
$$;

comment on function etl.refuse_orphaning_operations() is
  'Trigger on the tables public.operations refers to (args: operations column, key column): refuses a DELETE, TRUNCATE or key change that would leave an operation pointing at nothing, as the foreign keys the production project has.';

revoke all on function etl.refuse_orphaning_operations() from public, anon, authenticated;

-- Per referenced table: deletes (statement level, over the deleted rows at once), truncation, and
-- a change of the key (row level, fired only when an UPDATE sets the key column).
do $$
declare
  target record;
begin
  for target in
    select *
      from (values ('shops', 'source', 'code'),
                   ('products', 'product_id', 'id'),
                   ('suppliers', 'supplier_id', 'id'),
                   ('locations', 'location_id', 'id')) as t(table_name, referencing_column, key_column)
  loop
    execute format('drop trigger if exists %1$s_keeps_operations_delete on public.%1$I', target.table_name);
    execute format(
      'create trigger %1$s_keeps_operations_delete after delete on public.%1$I
         referencing old table as removed_rows for each statement
         execute function etl.refuse_orphaning_operations(%2$L, %3$L)',
      target.table_name, target.referencing_column, target.key_column);
    execute format('drop trigger if exists %1$s_keeps_operations_truncate on public.%1$I', target.table_name);
    execute format(
      'create trigger %1$s_keeps_operations_truncate before truncate on public.%1$I
         for each statement execute function etl.refuse_orphaning_operations(%2$L, %3$L)',
      target.table_name, target.referencing_column, target.key_column);
    execute format('drop trigger if exists %1$s_keeps_operations_key on public.%1$I', target.table_name);
    execute format(
      'create trigger %1$s_keeps_operations_key after update of %3$I on public.%1$I
         for each row execute function etl.refuse_orphaning_operations(%2$L, %3$L)',
      target.table_name, target.referencing_column, target.key_column);
  end loop;
end
$$;
