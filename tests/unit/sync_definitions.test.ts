/** Sync definitions, the drift check and the SQL text the engine builds: pure rules, no database. */
import assert from "node:assert/strict";
import { parseDefinitions, selectDefinitions, syncDefinitions } from "../../supabase/functions/_shared/sync/definitions.ts";
import { driftDifferences, type TableShape } from "../../supabase/functions/_shared/sync/catalog.ts";
import { positionPredicate, quoteLiteral, upsertStatement } from "../../supabase/functions/_shared/sync/sql_text.ts";

Deno.test("the shipped definitions push the final tables parents first and pull shops", () => {
  assert.deepEqual(selectDefinitions(syncDefinitions, "push").map((d) => d.name), [
    "manufacturers", "categories", "product_groups", "product_kinds", "products", "suppliers", "locations", "operations",
  ]);
  assert.deepEqual(selectDefinitions(syncDefinitions, "pull").map((d) => d.name), ["shops"]);
  assert.deepEqual(selectDefinitions(syncDefinitions, "push", ["operations", "products"]).map((d) => d.name), ["products", "operations"]);
  assert.throws(() => selectDefinitions(syncDefinitions, "push", ["prices"]), /--table: no sync definition named prices/);
});

Deno.test("a bad definition is refused with its name and the field", () => {
  const base = {
    name: "prices",
    direction: "push",
    source: { schema: "public", table: "prices", columns: "*" },
    cursor: { kind: "change_tracking", tieBreaker: ["id"] },
    destination: { schema: "public", table: "prices", conflictColumns: ["id"] },
  };
  assert.equal(parseDefinitions([base])[0].name, "prices");
  assert.throws(() => parseDefinitions([{ ...base, direction: "sideways" }]), /sync definition prices: direction:/);
  assert.throws(() => parseDefinitions([{ ...base, destination: { ...base.destination, conflictColumns: [] } }]), /destination\.conflictColumns/);
  assert.throws(() => parseDefinitions([{ ...base, transform: (r: unknown) => r }]), /destination\.columns: a definition with a transform must list the columns it writes/);
  assert.throws(() => parseDefinitions([{ ...base, cursor: { kind: "full_comparison" } }]), /cursor: a push reads changes/);
  assert.throws(() => parseDefinitions([base, base]), /sync definition prices: name: used twice/);
  assert.throws(() => parseDefinitions([{ ...base, source: { ...base.source, table: "Prices; drop" } }]), /source\.table: must be a lower-case SQL identifier/);
});

Deno.test("drift names each difference: a missing column, a type, an extra column, a missing unique key", () => {
  const [definition] = parseDefinitions([{
    name: "t",
    direction: "push",
    source: { schema: "public", table: "t", columns: "*" },
    cursor: { kind: "change_tracking", tieBreaker: ["id"] },
    destination: { schema: "public", table: "t", conflictColumns: ["id"] },
  }]);
  const destination: TableShape = {
    schema: "public",
    table: "t",
    columns: [
      { name: "id", type: "bigint", notNull: true, hasDefault: false },
      { name: "amount", type: "numeric(20,2)", notNull: true, hasDefault: false },
      { name: "extra", type: "text", notNull: false, hasDefault: false },
    ],
    uniqueKeys: [],
    foreignKeys: [],
    referencedKeys: [],
    hasTriggersOrRules: false,
  };
  const written = [{ name: "id", type: "bigint" }, { name: "amount", type: "numeric(18,3)" }, { name: "note", type: "text" }];
  assert.deepEqual(driftDifferences({ definition, written, typed: true, destination, exact: true }), [
    "public.t.amount is numeric(20,2), the source's is numeric(18,3)",
    "public.t has no column note",
    "public.t has a column extra (text) the source does not have",
    "public.t has no unique key on (id)",
  ]);
  assert.deepEqual(
    driftDifferences({ definition, written: written.slice(0, 2), typed: true, destination: { ...destination, columns: destination.columns.slice(0, 2), uniqueKeys: [["id"]] }, exact: true }),
    ["public.t.amount is numeric(20,2), the source's is numeric(18,3)"],
  );
  assert.deepEqual(driftDifferences({ definition, written, typed: true, destination: null, exact: true }), ["destination public.t does not exist"]);
});

Deno.test("positions are inlined as escaped literals, with bare sync_xid bounds for a range scan", () => {
  assert.equal(quoteLiteral("it's"), "'it''s'");
  assert.equal(
    positionPredicate("sync_xid", [{ name: "shop", type: "text" }, { name: "sku", type: "text" }], { syncXid: "42", key: { shop: "a'b", sku: "x" } }, ">"),
    `s."sync_xid" >= '42'::pg_catalog.xid8 and (s."sync_xid"::text)::bigint >= '42'::bigint and ` +
      `(s."sync_xid", s."shop", s."sku") > ('42'::pg_catalog.xid8, 'a''b'::text, 'x'::text)`,
  );
  assert.equal(positionPredicate("sync_xid", [{ name: "id", type: "bigint" }], null, ">"), "true");
  assert.throws(() => positionPredicate("sync_xid", [{ name: "id", type: "bigint" }], { syncXid: "1", key: {} }, ">"), /no value for key column id/);
});

Deno.test("the upsert writes only rows whose content changed, and does nothing for a key-only table", () => {
  const text = upsertStatement({ destination: `"public"."t"`, stage: "s", columns: ["id", "a", "b"], conflictColumns: ["id"], dedupe: false });
  assert.match(text, /on conflict \("id"\) do update set "a" = excluded\."a", "b" = excluded\."b"/);
  assert.match(text, /where \(d\."a", d\."b"\) is distinct from \(excluded\."a", excluded\."b"\)/);
  assert.match(text, /overriding system value/);
  const keyOnly = upsertStatement({ destination: `"public"."t"`, stage: "s", columns: ["a", "b"], conflictColumns: ["a", "b"], dedupe: true });
  assert.match(keyOnly, /on conflict \("a", "b"\) do nothing/);
  assert.match(keyOnly, /distinct on \("a", "b"\)/);
});
