import assert from "node:assert/strict";
import { backoffSeconds } from "../../supabase/functions/_shared/worker/backoff.ts";
import { DEFAULT_OCCURRED_AT_WINDOW } from "../../supabase/functions/_shared/normalise/time.ts";
import {
  encodeSalesBatch,
  planSalesBatch,
  type QueuedSale,
  salesBatchDocument,
  splitBatch,
  toColumns,
} from "../../supabase/functions/process-sales/plan.ts";
import { supplierIdentity } from "../../supabase/functions/_shared/normalise/sale.ts";

const window = DEFAULT_OCCURRED_AT_WINDOW;
const shops = new Map([
  ["moba", { code: "moba", timezone: "Europe/Moscow", active: true }],
]);

function queued(overrides: Partial<QueuedSale> = {}): QueuedSale {
  return {
    msgId: 10,
    readCount: 1,
    inputId: 100,
    status: "received",
    lastError: null,
    payload: {
      source: "moba",
      external_id: "A-1",
      occurred_at: "2026-11-20T14:03:00+03:00",
      quantity: 2,
      unit_price: "1 499,50",
      product: { sku: "ip13-lcd", name: "Дисплей", manufacturer: " APPLE " },
      supplier: { name: "ООО Мобайл" },
      location: { name: "Склад 1", city: "Краснодар" },
    },
    ...overrides,
  };
}

Deno.test("a valid record is planned as a normalised row carrying its message, staging id and attempt", () => {
  const batch = planSalesBatch([queued()], shops, 5, window);
  assert.equal(batch.processed.length, 1);
  const row = batch.processed[0];
  assert.deepEqual([row.msg_id, row.input_id, row.attempts], [10, 100, 1]);
  assert.equal(row.manufacturer, "APPLE");
  assert.equal(row.manufacturer_key, "apple");
  assert.equal(row.sku, "IP13-LCD");
  assert.equal(row.amount, "2999.00");
  assert.equal(row.supplier_key, "name:ооо мобайл");
  assert.equal(row.category, null);
});

Deno.test("a record that breaks a rule is planned as a rejection naming the field", () => {
  const batch = planSalesBatch([queued({ payload: { ...queued().payload as object, quantity: -1 } })], shops, 5, window);
  assert.equal(batch.processed.length, 0);
  assert.equal(batch.rejected.length, 1);
  assert.match(batch.rejected[0].error, /^quantity: /);
});

Deno.test("a message read more often than the maximum attempts goes to the dead letter with its last error", () => {
  const batch = planSalesBatch([queued({ readCount: 6, lastError: "deadlock detected" })], shops, 5, window);
  assert.deepEqual(batch.failed, [{ input_id: 100, msg_id: 10, attempts: 5, error: "gave up after 5 attempts: deadlock detected" }]);
});

Deno.test("a duplicate delivery of a finished record is only deleted", () => {
  const batch = planSalesBatch([queued({ msgId: 11, status: "processed" }), queued({ msgId: 12, status: "rejected" })], shops, 5, window);
  assert.deepEqual(batch.done_msg_ids, [11, 12]);
  assert.equal(batch.processed.length + batch.rejected.length + batch.failed.length, 0);
});

Deno.test("a message whose staging row is not visible is left for a later read, and dropped after the last attempt", () => {
  const early = planSalesBatch([queued({ inputId: null, status: null, payload: null })], shops, 5, window);
  assert.deepEqual(early, { processed: [], rejected: [], failed: [], done_msg_ids: [] });
  const late = planSalesBatch([queued({ inputId: null, status: null, payload: null, readCount: 6 })], shops, 5, window);
  assert.deepEqual(late.done_msg_ids, [10]);
});

Deno.test("a supplier is its tax id when it has one, else its name", () => {
  assert.equal(supplierIdentity({ name_key: "ооо мобайл", tax_id: "7701234567" }), "tax:7701234567");
  assert.equal(supplierIdentity({ name_key: "ооо мобайл" }), "name:ооо мобайл");
});

Deno.test("splitting a batch keeps every message exactly once", () => {
  const many = planSalesBatch(
    Array.from({ length: 5 }, (_, i) => queued({ msgId: i, inputId: 100 + i })).concat(queued({ msgId: 99, status: "processed" })),
    shops,
    5,
    window,
  );
  const [a, b] = splitBatch(many);
  assert.deepEqual([...a.processed, ...b.processed].map((r) => r.msg_id), [0, 1, 2, 3, 4]);
  assert.deepEqual([...a.done_msg_ids, ...b.done_msg_ids], [99]);
});

Deno.test("backoff grows exponentially with the attempt, is capped, and is jittered within half its ceiling", () => {
  assert.equal(backoffSeconds(1, 2, 300, () => 1), 2);
  assert.equal(backoffSeconds(3, 2, 300, () => 1), 8);
  assert.equal(backoffSeconds(3, 2, 300, () => 0), 4);
  assert.equal(backoffSeconds(20, 2, 300, () => 1), 300);
  for (let i = 0; i < 100; i++) {
    const delay = backoffSeconds(4, 2, 300);
    assert.ok(delay >= 8 && delay <= 16, String(delay));
  }
});

Deno.test("a malformed queue message is dropped without touching any record", () => {
  const batch = planSalesBatch([queued({ malformed: true, inputId: null, status: null, payload: null })], shops, 5, window);
  assert.deepEqual(batch, { processed: [], rejected: [], failed: [], done_msg_ids: [10] });
});

// Encoding: each dictionary value, product, supplier and location once; sales refer by position.

/** A plan of records given as [inputId, payload overrides], message ids following input ids. */
function planOf(...records: [number, Record<string, unknown>][]) {
  const base = queued().payload as Record<string, unknown>;
  return planSalesBatch(
    records.map(([inputId, fields]) => queued({ msgId: inputId + 1000, inputId, payload: { ...base, ...fields } })),
    shops,
    5,
    window,
  );
}

Deno.test("an encoded batch names each manufacturer, product, supplier and location once", () => {
  const encoded = encodeSalesBatch(planOf(
    [1, { external_id: "A-1" }],
    [2, { external_id: "A-2", product: { sku: "IP13-LCD", name: "Дисплей", manufacturer: "apple" } }],
    [3, { external_id: "A-3", supplier: undefined, location: { name: "Склад 2", city: "Краснодар" } }],
  ));
  assert.equal(encoded.manufacturers.length, 1);
  assert.equal(encoded.products.length, 1);
  assert.equal(encoded.suppliers.length, 1);
  assert.equal(encoded.locations.length, 2);
  assert.deepEqual(
    encoded.processed.map((s) => [s.input_id, s.product, s.supplier, s.location]),
    [[1, 1, 1, 1], [2, 1, 1, 1], [3, 1, null, 2]],
  );
});

Deno.test("an encoded dictionary value keeps the name of the lowest staging id, whatever the message order", () => {
  const encoded = encodeSalesBatch(planOf(
    [7, { product: { sku: "X", name: "Later", manufacturer: "APPLE" } }],
    [5, { product: { sku: "X", name: "Earlier", manufacturer: "Apple" } }],
  ));
  assert.deepEqual(encoded.manufacturers, [{ key: "apple", name: "Apple", input_id: 5 }]);
});

Deno.test("an encoded product carries the attributes of its latest record: occurred_at, then staging id", () => {
  const product = (name: string) => ({ sku: "X", name, manufacturer: "Apple" });
  const encoded = encodeSalesBatch(planOf(
    [1, { occurred_at: "2026-11-21T10:00:00Z", product: product("newest") }],
    [2, { occurred_at: "2026-11-20T10:00:00Z", product: product("older") }],
    [3, { occurred_at: "2026-11-21T10:00:00Z", product: { ...product("tie, later staging row"), category: "Дисплеи" } }],
  ));
  assert.equal(encoded.products.length, 1);
  assert.deepEqual(
    [encoded.products[0].name, encoded.products[0].input_id, encoded.products[0].category],
    ["tie, later staging row", 3, 1],
  );
  assert.deepEqual(encoded.categories, [{ key: "дисплеи", name: "Дисплеи", input_id: 3 }]);
});

Deno.test("an encoded product names its dictionary values by position, and null for those it lacks", () => {
  const encoded = encodeSalesBatch(planOf(
    [1, { product: { sku: "A", name: "A", manufacturer: "Apple", category: "Дисплеи", kind: "Оригинал" } }],
    [2, { product: { sku: "B", name: "B", manufacturer: "Samsung", kind: "Копия" } }],
    [3, { product: { sku: "C", name: "C", manufacturer: "apple", category: "Дисплеи", kind: "копия" } }],
  ));
  assert.deepEqual(encoded.manufacturers.map((m) => m.key), ["apple", "samsung"]);
  assert.deepEqual(encoded.product_kinds.map((k) => k.key), ["оригинал", "копия"]);
  assert.deepEqual(
    encoded.products.map((p) => [p.sku, p.manufacturer, p.category, p.group, p.kind]),
    [["A", 1, 1, null, 1], ["B", 2, null, null, 2], ["C", 1, 1, null, 2]],
  );
});

Deno.test("an encoded location takes its name from the lowest staging id and its address from the lowest that has one", () => {
  const encoded = encodeSalesBatch(planOf(
    [4, { location: { name: "СКЛАД 1", city: "Краснодар", address: "ул. Красная, 4" } }],
    [2, { location: { name: "Склад 1", city: "Краснодар" } }],
    [3, { location: { name: "склад 1", city: "Краснодар", address: "ул. Красная, 3" } }],
  ));
  assert.equal(encoded.locations.length, 1);
  const [location] = encoded.locations;
  assert.deepEqual([location.name, location.input_id, location.address], ["Склад 1", 2, "ул. Красная, 3"]);
});

Deno.test("an encoded batch passes rejections, failures and finished messages through unchanged", () => {
  const plan = planSalesBatch([
    queued({ msgId: 1, inputId: 1, payload: { ...queued().payload as object, quantity: -1 } }),
    queued({ msgId: 2, inputId: 2, readCount: 6 }),
    queued({ msgId: 3, inputId: 3, status: "processed" }),
  ], shops, 5, window);
  const encoded = encodeSalesBatch(plan);
  assert.deepEqual([encoded.rejected, encoded.failed, encoded.done_msg_ids], [plan.rejected, plan.failed, [3]]);
  assert.deepEqual([encoded.processed, encoded.products], [[], []]);
});

Deno.test("columns hold entry i at index i of every field, and an empty list still has every column", () => {
  const entries = [{ key: "a", name: "A", input_id: 1 }, { key: "b", name: "B", input_id: 2 }];
  assert.deepEqual(toColumns(entries, ["key", "name", "input_id"]), {
    key: ["a", "b"],
    name: ["A", "B"],
    input_id: [1, 2],
  });
  assert.deepEqual(toColumns([] as typeof entries, ["key", "name"]), { key: [], name: [] });
});

Deno.test("the batch document carries every list as columns, nulls included, and done messages as they are", () => {
  const plan = planSalesBatch([
    queued({ msgId: 1, inputId: 1 }),
    queued({ msgId: 2, inputId: 2, payload: { ...queued().payload as object, external_id: "A-2", supplier: null } }),
    queued({ msgId: 3, inputId: 3, payload: { ...queued().payload as object, quantity: -1 } }),
    queued({ msgId: 4, inputId: 4, status: "processed" }),
  ], shops, 5, window);
  const encoded = encodeSalesBatch(plan);
  const document = salesBatchDocument(encoded);
  assert.deepEqual(document.manufacturers, { key: ["apple"], name: ["APPLE"], input_id: [1] });
  assert.deepEqual(document.processed.external_id, ["A-1", "A-2"]);
  assert.deepEqual(document.processed.supplier, [1, null]);
  assert.deepEqual(document.processed.product, [1, 1]);
  assert.deepEqual(document.products.category, [null]);
  assert.deepEqual(document.locations.address, [null]);
  assert.deepEqual(document.rejected.msg_id, [3]);
  assert.deepEqual(document.failed, { input_id: [], msg_id: [], attempts: [], error: [] });
  assert.deepEqual(document.done_msg_ids, [4]);
  // every column of a list has one element per entry
  for (const [list, rows] of [["processed", encoded.processed], ["products", encoded.products]] as const) {
    for (const [field, column] of Object.entries(document[list])) {
      assert.equal((column as unknown[]).length, rows.length, `${list}.${field}`);
    }
  }
});

Deno.test("a record dated beyond the worker's horizon or before its floor is rejected naming occurred_at", () => {
  const ahead = new Date(Date.now() + 3 * 3_600_000).toISOString();
  const records = [
    queued({ msgId: 1, inputId: 1, payload: { ...queued().payload as object, occurred_at: "9999-12-31T00:00:00Z" } }),
    queued({ msgId: 2, inputId: 2, payload: { ...queued().payload as object, occurred_at: ahead } }),
    queued({ msgId: 3, inputId: 3, payload: { ...queued().payload as object, occurred_at: "1999-12-31T23:59:59Z" } }),
  ];
  const batch = planSalesBatch(records, shops, 5, { floorMs: Date.parse("2000-01-01T00:00:00Z"), maxAheadMs: 3_600_000 });
  assert.equal(batch.processed.length, 0);
  assert.deepEqual(batch.rejected.map((r) => r.error.split(":")[0]), ["occurred_at", "occurred_at", "occurred_at"]);
  assert.match(batch.rejected[0].error, /^occurred_at: 9999-12-31T00:00:00\.000Z is more than 1 hours? ahead of now/);
  assert.match(batch.rejected[2].error, /^occurred_at: 1999-12-31T23:59:59\.000Z is before 2000-01-01T00:00:00\.000Z/);
  const wider = planSalesBatch([records[1]], shops, 5, { floorMs: 0, maxAheadMs: 4 * 3_600_000 });
  assert.equal(wider.processed.length, 1, "within a wider horizon");
});
