/**
 * The cloud cluster stands in for the production project: it gets its own migration set (the
 * final tables the API reads, with read indexes), applied and recorded by the Supabase CLI, and
 * none of the working database's pipeline internals.
 */
import assert from "node:assert/strict";
import { endClient } from "../support/connections.ts";
import postgres from "postgres";
import { stackEnv } from "../support/stack_env.ts";

const cloudMigrations = new URL("../../production/supabase/migrations/", import.meta.url);

Deno.test("the cloud project has exactly its own migrations, recorded by supabase db push", async () => {
  const sql = postgres(stackEnv().CLOUD_DB_URL, { max: 1, onnotice: () => {} });
  try {
    const files = [...Deno.readDirSync(cloudMigrations)]
      .filter((e) => e.name.endsWith(".sql"))
      .map((e) => e.name.split("_")[0])
      .sort();
    const rows = await sql<{ version: string }[]>`
      select version from supabase_migrations.schema_migrations order by version`;
    assert.deepEqual(rows.map((r) => r.version), files);
  } finally {
    await endClient(sql);
  }
});

Deno.test("the cloud project has the final tables, their read indexes and foreign keys, and no pipeline internals", async () => {
  const sql = postgres(stackEnv().CLOUD_DB_URL, { max: 1, onnotice: () => {} });
  try {
    const [tables] = await sql<{ names: string[] }[]>`
      select array_agg(tablename::text order by tablename) as names from pg_tables where schemaname = 'public'`;
    assert.deepEqual(tables.names, [
      "categories", "locations", "manufacturers", "operations", "product_groups", "product_kinds",
      "products", "shops", "suppliers",
    ]);
    const [indexes] = await sql<{ names: string[] }[]>`
      select array_agg(indexname::text order by indexname) as names from pg_indexes
       where schemaname = 'public' and tablename = 'operations'`;
    for (const name of ["operations_occurred_at_idx", "operations_product_id_idx", "operations_supplier_id_idx", "operations_location_id_idx"]) {
      assert.ok(indexes.names.includes(name), `${name} missing`);
    }
    // The API embeds related rows through these; the working database checks them by construction.
    const [keys] = await sql<{ names: string[] }[]>`
      select array_agg(conname::text order by conname) as names from pg_constraint
       where conrelid = 'public.operations'::regclass and contype = 'f'`;
    assert.deepEqual(keys.names, [
      "operations_location_id_fkey", "operations_product_id_fkey", "operations_source_fkey", "operations_supplier_id_fkey",
    ]);
    // Products too: keys to the dictionaries, and the indexes that read products by them.
    const [productKeys] = await sql<{ names: string[] }[]>`
      select array_agg(conname::text order by conname) as names from pg_constraint
       where conrelid = 'public.products'::regclass and contype = 'f'`;
    assert.deepEqual(productKeys.names, [
      "products_category_id_fkey", "products_group_id_fkey", "products_kind_id_fkey", "products_manufacturer_id_fkey",
    ]);
    const [productIndexes] = await sql<{ names: string[] }[]>`
      select array_agg(indexname::text order by indexname) as names from pg_indexes
       where schemaname = 'public' and tablename = 'products'`;
    for (const name of ["products_category_id_idx", "products_group_id_idx", "products_kind_id_idx"]) {
      assert.ok(productIndexes.names.includes(name), `${name} missing`);
    }
    const [internals] = await sql<{ conveyor: boolean; trigger: boolean }[]>`
      select to_regnamespace('conveyor') is not null as conveyor,
             exists (select from pg_trigger where tgname = 'sales_input_enqueue') as trigger`;
    assert.deepEqual(internals, { conveyor: false, trigger: false });
  } finally {
    await endClient(sql);
  }
});
