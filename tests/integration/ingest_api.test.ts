/**
 * The ingest API over real HTTP, through the local functions server, into the real database:
 * what it accepts, what it refuses (and that a refused request stores nothing).
 */
import assert from "node:assert/strict";
import { endClient } from "../support/connections.ts";
import { database, env, postIngest, prepareShops, saleRecord, uniqueTag } from "../support/pipeline.ts";

async function storedCount(tag: string): Promise<number> {
  const sql = database({ max: 1 });
  try {
    const [row] = await sql<{ n: number }[]>`
      select count(*)::int as n from conveyor.sales_input where payload ->> 'external_id' like ${tag + "%"}`;
    return row.n;
  } finally {
    await endClient(sql);
  }
}

Deno.test("a JSON array of records is stored as received and answered 202 with the count and batch id", async () => {
  const sql = database({ max: 1 });
  try {
    await prepareShops(sql);
    const tag = uniqueTag("ingest-ok");
    const records = [saleRecord(tag, 1), saleRecord(tag, 2, { channel: "pos" })];
    const reply = await postIngest(JSON.stringify(records));
    assert.equal(reply.status, 202, JSON.stringify(reply.body));
    assert.equal(reply.body.received, 2);
    assert.match(String(reply.body.batch_id), /^[0-9a-f-]{36}$/);
    const rows = await sql<{ payload: Record<string, unknown>; batch_id: string }[]>`
      select payload, batch_id::text from conveyor.sales_input
       where payload ->> 'external_id' like ${tag + "%"} order by id`;
    assert.equal(rows.length, 2);
    assert.deepEqual(rows[1].payload, records[1], "the payload is kept exactly, unknown fields included");
    assert.equal(rows[0].batch_id, reply.body.batch_id);
  } finally {
    await endClient(sql);
  }
});

Deno.test("NDJSON bodies are accepted with application/x-ndjson", async () => {
  const tag = uniqueTag("ingest-ndjson");
  const body = [saleRecord(tag, 1), saleRecord(tag, 2), saleRecord(tag, 3)].map((r) => JSON.stringify(r)).join("\n") + "\n";
  const reply = await postIngest(body, { contentType: "application/x-ndjson" });
  assert.equal(reply.status, 202, JSON.stringify(reply.body));
  assert.equal(reply.body.received, 3);
  assert.equal(await storedCount(tag), 3);
});

Deno.test("a bad envelope is refused with 400 naming the first bad index and field, and nothing is stored", async () => {
  const tag = uniqueTag("ingest-bad");
  const cases: [string, RegExp][] = [
    [JSON.stringify([saleRecord(tag, 1), { ...saleRecord(tag, 2), external_id: "" }]), /records\[1\]\.external_id/],
    [JSON.stringify([saleRecord(tag, 3), { external_id: `${tag}-4` }]), /records\[1\]\.source/],
    [JSON.stringify([saleRecord(tag, 5), 42]), /records\[1\]: must be an object/],
    [JSON.stringify(saleRecord(tag, 6)), /body: must be a JSON array/],
    ["[{]", /body: not valid JSON/],
    ["[]", /at least one record/],
  ];
  for (const [body, expected] of cases) {
    const reply = await postIngest(body);
    assert.equal(reply.status, 400, body);
    assert.match(String(reply.body.error), expected);
  }
  const ndjson = await postIngest(`${JSON.stringify(saleRecord(tag, 7))}\n{oops}\n`, { contentType: "application/x-ndjson" });
  assert.equal(ndjson.status, 400);
  assert.match(String(ndjson.body.error), /records\[1\]: line 2 is not valid JSON/);
  assert.equal(await storedCount(tag), 0, "a refused request stores nothing");
});

Deno.test("ingest answers 401 without the service key, 405 for other methods and 415 for other media types", async () => {
  const tag = uniqueTag("ingest-refused");
  const body = JSON.stringify([saleRecord(tag, 1)]);
  assert.equal((await postIngest(body, { key: null })).status, 401);
  assert.equal((await postIngest(body, { key: env.ANON_KEY })).status, 401, "the anon key is not enough");
  assert.equal((await postIngest(body, { key: "not-the-key" })).status, 401);
  assert.equal((await postIngest(body, { method: "GET" })).status, 405);
  assert.equal((await postIngest(body, { method: "PUT" })).status, 405);
  assert.equal((await postIngest(body, { contentType: "text/plain" })).status, 415);
  assert.equal(await storedCount(tag), 0);
});

Deno.test("ingest answers 413 for more than 10,000 records or more than 10 MB", async () => {
  const tag = uniqueTag("ingest-big");
  const tooMany = Array.from({ length: 10_001 }, (_, i) => ({ source: "moba", external_id: `${tag}-${i}` }));
  const many = await postIngest(JSON.stringify(tooMany));
  assert.equal(many.status, 413);
  assert.match(String(many.body.error), /10001 records/);
  const padding = "x".repeat(11 * 1024 * 1024);
  const huge = await postIngest(JSON.stringify([{ source: "moba", external_id: `${tag}-huge`, padding }]));
  assert.equal(huge.status, 413);
  assert.equal(await storedCount(tag), 0);
});
