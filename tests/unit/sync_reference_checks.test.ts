import assert from "node:assert/strict";
import type { TableShape } from "../../supabase/functions/_shared/sync/catalog.ts";
import { batchReferenceChecks, referenceCheckBlock } from "../../supabase/functions/_shared/sync/reference_checks.ts";

const productRef = { name: "operations_product_id_fkey", columns: ["product_id"], references: { schema: "public", table: "products", columns: ["id"] } };

function operations(overrides: Partial<TableShape> = {}): TableShape {
  return {
    schema: "public",
    table: "operations",
    columns: [],
    uniqueKeys: [["id"]],
    foreignKeys: [productRef],
    referencedKeys: [],
    hasTriggersOrRules: false,
    ...overrides,
  };
}

Deno.test("a plain destination's foreign keys are checked per batch", () => {
  assert.deepEqual(batchReferenceChecks(operations(), ["id", "product_id", "amount"], ["id"]), [productRef]);
});

Deno.test("a destination with triggers or rules of its own keeps the per-row checks", () => {
  assert.equal(batchReferenceChecks(operations({ hasTriggersOrRules: true }), ["id", "product_id"], ["id"]), null);
});

Deno.test("a foreign key on a column the definition does not write keeps the per-row checks", () => {
  assert.equal(batchReferenceChecks(operations(), ["id", "amount"], ["id"]), null);
});

Deno.test("a destination whose other columns another table references keeps the per-row checks; its conflict key may be referenced", () => {
  assert.deepEqual(batchReferenceChecks(operations({ foreignKeys: [], referencedKeys: [["id"]] }), ["id", "sku"], ["id"]), []);
  assert.equal(batchReferenceChecks(operations({ foreignKeys: [], referencedKeys: [["sku"]] }), ["id", "sku"], ["id"]), null);
});

Deno.test("the reference check locks the referenced rows and names the table, key and missing values", () => {
  const block = referenceCheckBlock("public.operations", "sync_stage_1", [productRef])!;
  assert.match(block, /for key share of p/);
  assert.match(block, /errcode = 'foreign_key_violation'/);
  assert.match(block, /public\.operations \(product_id\) references public\.products \(id\) rows that do not exist \(foreign key operations_product_id_fkey\)/);
  assert.equal(referenceCheckBlock("public.operations", "sync_stage_1", []), null);
});
