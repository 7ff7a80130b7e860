/**
 * The sales pipeline end to end, as a user sees it: records POSTed to the ingest API are queued
 * by the trigger, the worker is woken through pg_net, and operations and dictionaries appear.
 */
import assert from "node:assert/strict";
import { endClient } from "../support/connections.ts";
import { database, postIngest, prepareShops, saleRecord, type Sql, taxIdFor, uniqueTag, waitForStatuses } from "../support/pipeline.ts";

async function ingestAndWait(sql: Sql, tag: string, records: Record<string, unknown>[]): Promise<Record<string, number>> {
  const reply = await postIngest(JSON.stringify(records));
  assert.equal(reply.status, 202, JSON.stringify(reply.body));
  return await waitForStatuses(sql, tag, (c) => !c.received && Object.values(c).reduce((a, b) => a + b, 0) >= records.length);
}

async function operation(sql: Sql, externalId: string) {
  const rows = await sql`
    select o.*, o.occurred_at::text as occurred_at_text, o.quantity::text as quantity_text,
           o.unit_price::text as unit_price_text, o.amount::text as amount_text,
           p.sku, p.name as product_name, m.name as manufacturer, c.name as category,
           g.name as product_group, k.name as kind, s.name as supplier, s.tax_id,
           l.name as location, l.city, l.address
      from public.operations o
      join public.products p on p.id = o.product_id
      join public.manufacturers m on m.id = p.manufacturer_id
      left join public.categories c on c.id = p.category_id
      left join public.product_groups g on g.id = p.group_id
      left join public.product_kinds k on k.id = p.kind_id
      left join public.suppliers s on s.id = o.supplier_id
      join public.locations l on l.id = o.location_id
     where o.external_id = ${externalId}`;
  return rows;
}

Deno.test("a sale sent to the ingest API becomes one normalised operation with its dictionaries", async () => {
  const sql = database();
  try {
    await prepareShops(sql);
    const tag = uniqueTag("happy");
    const counts = await ingestAndWait(sql, tag, [saleRecord(tag, 1)]);
    assert.deepEqual(counts, { processed: 1 });
    const [op] = await operation(sql, `${tag}-1`);
    assert.equal(op.source, "moba");
    assert.equal(op.type, "sale");
    assert.equal(op.quantity_text, "2.000");
    assert.equal(op.unit_price_text, "1499.50");
    assert.equal(op.amount_text, "2999.00");
    assert.equal(op.currency, "RUB");
    assert.equal(new Date(op.occurred_at).toISOString(), "2026-11-20T11:03:00.000Z");
    assert.equal(op.sku, `${tag}-SKU-1`.toUpperCase());
    assert.equal(op.manufacturer, `Maker ${tag}`);
    assert.equal(op.category, `Дисплеи ${tag}`);
    assert.equal(op.product_group, `Запчасти для телефонов ${tag}`);
    assert.equal(op.kind, `Оригинал ${tag}`);
    assert.equal(op.supplier, `ООО Мобайл ${tag}`);
    assert.equal(op.tax_id, taxIdFor(tag));
    assert.deepEqual([op.location, op.city, op.address], [`Склад ${tag}`, "Краснодар", "ул. Красная, 1"]);
    const [staged] = await sql`select status, processed_at, error from conveyor.sales_input where payload ->> 'external_id' = ${`${tag}-1`}`;
    assert.equal(staged.status, "processed");
    assert.ok(staged.processed_at);
    assert.equal(staged.error, null);
  } finally {
    await endClient(sql);
  }
});

Deno.test("messy names share one dictionary row: ' APPLE ' and 'Apple' are one manufacturer", async () => {
  const sql = database();
  try {
    const tag = uniqueTag("messy");
    const maker = `Maker ${tag}`;
    await ingestAndWait(sql, tag, [
      saleRecord(tag, 1, { product: { sku: " ab-1 ", name: "X", manufacturer: `  ${maker.toUpperCase()} ` } }),
      saleRecord(tag, 2, { product: { sku: "AB-1", name: "X", manufacturer: maker.replace(" ", "\u00a0 ") } }),
    ]);
    const [row] = await sql<{ makers: number; products: number; name: string }[]>`
      select count(distinct m.id)::int as makers, count(distinct p.id)::int as products, min(m.name) as name
        from public.operations o join public.products p on p.id = o.product_id
        join public.manufacturers m on m.id = p.manufacturer_id
       where o.external_id like ${tag + "%"}`;
    assert.equal(row.makers, 1);
    assert.equal(row.products, 1, "SKU ' ab-1 ' and 'AB-1' of one manufacturer are one product");
    assert.equal(row.name, maker.toUpperCase(), "the display name is the first cleaned form seen");
  } finally {
    await endClient(sql);
  }
});

Deno.test("bad records are rejected naming the field, kept, and the rest of the batch is processed", async () => {
  const sql = database();
  try {
    const tag = uniqueTag("rejects");
    const counts = await ingestAndWait(sql, tag, [
      saleRecord(tag, 1),
      saleRecord(tag, 2, { quantity: 0 }),
      saleRecord(tag, 3, { unit_price: "abc" }),
      saleRecord(tag, 4, { location: { name: "Склад 1" } }),
      saleRecord(tag, 5),
    ]);
    assert.deepEqual(counts, { processed: 2, rejected: 3 });
    const rejected = await sql<{ external_id: string; error: string }[]>`
      select payload ->> 'external_id' as external_id, error from conveyor.sales_input
       where payload ->> 'external_id' like ${tag + "%"} and status = 'rejected' order by id`;
    assert.match(rejected[0].error, /^quantity: must be greater than 0/);
    assert.match(rejected[1].error, /^unit_price: /);
    assert.match(rejected[2].error, /^location\.city: is required/);
    const [archived] = await sql<{ n: number }[]>`
      select count(*)::int as n from pgmq.a_sales_input a
        join conveyor.sales_input s on s.id = (a.message ->> 'id')::bigint
       where s.payload ->> 'external_id' like ${tag + "%"} and s.status = 'rejected'`;
    assert.equal(archived.n, 3, "rejected messages are archived, not retried");
  } finally {
    await endClient(sql);
  }
});

Deno.test("a replayed sale changes nothing", async () => {
  const sql = database();
  try {
    const tag = uniqueTag("replay");
    await ingestAndWait(sql, tag, [saleRecord(tag, 1)]);
    const [before] = await operation(sql, `${tag}-1`);
    await ingestAndWait(sql, tag, [saleRecord(tag, 1)]);
    const after = await operation(sql, `${tag}-1`);
    assert.equal(after.length, 1, "still one operation");
    assert.equal(after[0].id, before.id);
    assert.equal(String(after[0].updated_at), String(before.updated_at), "updated_at does not move");
    for (const column of ["occurred_at", "type", "quantity", "unit_price", "amount", "currency", "product_id", "supplier_id", "location_id"]) {
      assert.equal(String(after[0][column]), String(before[column]), column);
    }
    assert.ok(Number(after[0].input_id) > Number(before.input_id), "it remembers the newest staging row seen");
    const counts = await sql`select status from conveyor.sales_input where payload ->> 'external_id' = ${`${tag}-1`}`;
    assert.deepEqual(counts.map((r) => r.status), ["processed", "processed"]);
  } finally {
    await endClient(sql);
  }
});

Deno.test("a correction (same id, new content, sent later) updates the operation", async () => {
  const sql = database();
  try {
    const tag = uniqueTag("correction");
    await ingestAndWait(sql, tag, [saleRecord(tag, 1)]);
    await ingestAndWait(sql, tag, [saleRecord(tag, 1, { quantity: "3", type: "return" })]);
    const rows = await operation(sql, `${tag}-1`);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].quantity_text, "3.000");
    assert.equal(rows[0].amount_text, "4498.50");
    assert.equal(rows[0].type, "return", "a return keeps a positive quantity and amount");
  } finally {
    await endClient(sql);
  }
});

Deno.test("a record from an unknown or inactive shop is rejected naming source", async () => {
  const sql = database();
  try {
    await prepareShops(sql);
    const tag = uniqueTag("shop");
    await ingestAndWait(sql, tag, [
      saleRecord(tag, 1, { source: "no-such-shop" }),
      saleRecord(tag, 2, { source: "closedshop" }),
    ]);
    const rows = await sql<{ error: string }[]>`
      select error from conveyor.sales_input where payload ->> 'external_id' like ${tag + "%"} order by id`;
    assert.match(rows[0].error, /^source: unknown shop "no-such-shop"/);
    assert.match(rows[1].error, /^source: shop "closedshop" is inactive/);
  } finally {
    await endClient(sql);
  }
});

Deno.test("a timestamp without an offset is read in the shop's time zone", async () => {
  const sql = database();
  try {
    await prepareShops(sql);
    const tag = uniqueTag("tz");
    await ingestAndWait(sql, tag, [
      saleRecord(tag, 1, { source: "partsdirect", occurred_at: "2026-11-20T14:03:00" }), // Asia/Yekaterinburg, +05
      saleRecord(tag, 2, { source: "fixberlin", occurred_at: "2026-07-01 12:00" }), // Europe/Berlin, summer +02
    ]);
    const [yekaterinburg] = await operation(sql, `${tag}-1`);
    const [berlin] = await operation(sql, `${tag}-2`);
    assert.equal(new Date(yekaterinburg.occurred_at).toISOString(), "2026-11-20T09:03:00.000Z");
    assert.equal(new Date(berlin.occurred_at).toISOString(), "2026-07-01T10:00:00.000Z");
  } finally {
    await endClient(sql);
  }
});

Deno.test("a product's name and category follow the record with the latest occurred_at", async () => {
  const sql = database();
  try {
    const tag = uniqueTag("latest");
    const product = (name: string, category: string) => ({ sku: "L-1", name, manufacturer: `Maker ${tag}`, category });
    await ingestAndWait(sql, tag, [
      saleRecord(tag, 1, { occurred_at: "2026-11-20T10:00:00Z", product: product("Newest name", "Newest") }),
      saleRecord(tag, 2, { occurred_at: "2026-11-19T10:00:00Z", product: product("Older name", "Older") }),
    ]);
    await ingestAndWait(sql, tag, [
      saleRecord(tag, 3, { occurred_at: "2026-11-18T10:00:00Z", product: product("Oldest, sent last", "Oldest") }),
    ]);
    const [row] = await sql`
      select p.name, c.name as category from public.products p
        join public.manufacturers m on m.id = p.manufacturer_id
        left join public.categories c on c.id = p.category_id
       where m.name_key = lower(${`Maker ${tag}`}) and p.sku = 'L-1'`;
    assert.equal(row.name, "Newest name");
    assert.equal(row.category, "Newest");
  } finally {
    await endClient(sql);
  }
});
