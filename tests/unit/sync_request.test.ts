/** The sync function's request rules: what it runs, and what its next slice is asked to do. */
import assert from "node:assert/strict";
import { handOverBody, parseSyncRequest, plannedRuns } from "../../supabase/functions/sync/handler.ts";
import { seedDesignStatement } from "../../scripts/bench/sync_bench.ts";

Deno.test("a request without a direction pulls shops first, then pushes the final tables in dependency order", () => {
  const runs = plannedRuns({});
  assert.deepEqual(runs.map((r) => r.direction), ["pull", "push"]);
  assert.deepEqual(runs[0].definitions.map((d) => d.name), ["shops"]);
  const pushed = runs[1].definitions.map((d) => d.name);
  assert.ok(pushed.indexOf("products") > pushed.indexOf("manufacturers"));
  assert.equal(pushed.at(-1), "operations");
});

Deno.test("tables of the other direction leave that direction out", () => {
  assert.deepEqual(plannedRuns({ tables: ["operations"] }).map((r) => r.direction), ["push"]);
});

Deno.test("a bad field is named in the error", () => {
  const result = parseSyncRequest({ direction: "push", full: 1 });
  assert.equal(result.ok, false);
  assert.match((result as { error: string }).error, /^full: /);
});

Deno.test("the next slice carries on from the cursors: same work, no full re-read, one more hand-over", () => {
  const next = handOverBody({ tables: ["operations"], full: true, verify: true, continued: 2 }, "push");
  assert.deepEqual(next, { tables: ["operations"], verify: true, direction: "push", continued: 3, reason: "continue" });
  assert.equal(parseSyncRequest(next).ok, true);
});

Deno.test("the seed's design writes 200 rows as one statement with its values inline", () => {
  const row = Object.fromEntries(
    ["id", "source", "external_id", "occurred_at", "type", "quantity", "unit_price", "amount", "currency", "product_id",
      "supplier_id", "location_id", "input_id", "created_at", "updated_at"].map((c) => [c, c === "supplier_id" ? null : "it's"]),
  );
  const text = seedDesignStatement(Array(200).fill(row));
  assert.equal(text.match(/\(values /g)?.length, 1);
  assert.equal(text.split("'it''s'").length - 1, 200 * 14);
  assert.match(text, /on conflict \(id\) do update set source = excluded\.source/);
});
