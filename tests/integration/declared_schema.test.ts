/**
 * The declared schemas (supabase/schemas, production/supabase/schemas) are the source of truth:
 * the migrations the Supabase CLI applied to the stack's clusters must give exactly them. Each
 * test builds a declared schema in the throwaway shadow cluster and diffs it with pg-delta
 * against the migrated cluster.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import {
  buildDeclaredDatabase,
  databaseTypesFile,
  generateDatabaseTypes,
  migrations,
  schemaDiff,
  schemaFiles,
  stopShadow,
} from "../../scripts/db/declared_schema.ts";
import { stackEnv } from "../support/stack_env.ts";
import { endClient } from "../support/connections.ts";

const quiet = () => {};

Deno.test("the working database's migrations give exactly its declared schema", async () => {
  try {
    const declared = await buildDeclaredDatabase("working", quiet);
    assert.equal(await schemaDiff(stackEnv().DB_URL, declared), "");
  } finally {
    await stopShadow();
  }
});

Deno.test("the production project's migrations give exactly its declared schema", async () => {
  try {
    const declared = await buildDeclaredDatabase("production", quiet);
    assert.equal(await schemaDiff(stackEnv().CLOUD_DB_URL, declared), "");
  } finally {
    await stopShadow();
  }
});

Deno.test("a function setting or a comment the migrations lack shows up in the diff", async () => {
  try {
    const declared = await buildDeclaredDatabase("working", quiet);
    const shadow = postgres(declared, { max: 1, onnotice: quiet });
    try {
      await shadow`alter function conveyor.read_messages(text, integer, integer) reset enable_nestloop`;
      await shadow`comment on table public.shops is 'changed in the declared schema'`;
    } finally {
      await endClient(shadow);
    }
    const sql = await schemaDiff(stackEnv().DB_URL, declared);
    assert.match(sql, /read_messages/);
    assert.match(sql, /changed in the declared schema/);
  } finally {
    await stopShadow();
  }
});

Deno.test("every function of the declared schemas is written in exactly one file", () => {
  const files = [...new Set([...schemaFiles("working"), ...schemaFiles("production")])];
  const seen = new Map<string, string[]>();
  for (const file of files) {
    const text = Deno.readTextFileSync(file);
    for (const match of text.matchAll(/create\s+(?:or\s+replace\s+)?function\s+([a-z_.]+)\s*\(/gi)) {
      const name = match[1].toLowerCase();
      seen.set(name, [...(seen.get(name) ?? []), file]);
    }
  }
  assert.deepEqual(seen.get("conveyor.apply_sales_batch")?.length, 1);
  const restated = [...seen].filter(([, where]) => where.length > 1);
  assert.deepEqual(restated, []);
});

Deno.test("every migration is generated from the declared schema or a hand-written step placed before or after it", () => {
  for (const database of ["working", "production"] as const) {
    const steps = migrations(database);
    assert.ok(steps.some((m) => m.kind === "generated"), `${database}: no generated migration`);
  }
  // The environment step first; then the baseline, its data step, and any migration generated
  // since (`deno task db diff` writes the next one; they are squashed into the baseline later).
  const kinds = migrations("working").map((m) => m.kind);
  assert.deepEqual(kinds.slice(0, 3), ["before", "generated", "after"]);
  assert.deepEqual(kinds.slice(3).filter((k) => k === "before"), [], "environment steps come first");
});

Deno.test("the functions' database types are those supabase gen types writes for the migrated database", async () => {
  const fresh = await generateDatabaseTypes(stackEnv().DB_URL);
  assert.ok(
    fresh === Deno.readTextFileSync(databaseTypesFile),
    `${databaseTypesFile} is stale: run \`deno task db types\``,
  );
});
