/**
 * The staging table as a bulk SQL writer sees it: `insert into conveyor.sales_input (payload) select ...`
 * needs no batch id (the rows of one transaction share one), and a payload that PostgreSQL could
 * not read back (\u0000, a lone surrogate) is refused, so `payload ->> ...` over the whole table
 * keeps working.
 */
import assert from "node:assert/strict";
import { database, saleRecord, uniqueTag } from "../support/pipeline.ts";
import { endClient } from "../support/connections.ts";

Deno.test("a bulk insert without batch_id is stored, the rows of one transaction sharing one batch", async () => {
  const sql = database({ max: 1 });
  const tag = uniqueTag("bulk");
  try {
    const records = JSON.stringify([saleRecord(tag, 1), saleRecord(tag, 2), saleRecord(tag, 3)]);
    await sql`insert into conveyor.sales_input (payload) select r from json_array_elements(${records}::text::json) as r`;
    await sql`insert into conveyor.sales_input (payload) select ${JSON.stringify(saleRecord(tag, 4))}::text::json`;
    const rows = await sql<{ batch_id: string; n: number }[]>`
      select batch_id::text, count(*)::int as n from conveyor.sales_input
       where payload ->> 'external_id' like ${tag + "-%"} group by batch_id order by n desc`;
    assert.deepEqual(rows.map((r) => r.n), [3, 1], "two transactions, two batches");
    assert.match(rows[0].batch_id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  } finally {
    await endClient(sql);
  }
});

Deno.test("a bulk insert of a payload holding \\u0000 or a lone surrogate is refused naming the payload", async () => {
  const sql = database({ max: 1 });
  const tag = uniqueTag("bulk-nul");
  try {
    const bad = [
      `{"source": "moba", "external_id": "${tag}-1", "product": {"name": "a\\u0000b"}}`,
      `{"source": "moba", "external_id": "${tag}-2", "product": {"name": "a\\ud800b"}}`,
      `{"source": "moba", "external_id": "${tag}-3", "a\\u0000key": 1}`,
    ];
    for (const payload of bad) {
      await assert.rejects(
        sql`insert into conveyor.sales_input (payload) select ${payload}::text::json`,
        (error: Error & { code?: string }) => {
          assert.equal(error.code, "23514", error.message); // check_violation
          assert.match(error.message, /conveyor\.sales_input\.payload: .*NUL character/);
          return true;
        },
        payload,
      );
    }
    // An escaped backslash before "u0000" is ordinary text and is stored.
    await sql`insert into conveyor.sales_input (payload) select ${`{"source": "moba", "external_id": "${tag}-4", "note": "C:\\\\u0000"}`}::text::json`;
    const [row] = await sql<{ n: number }[]>`
      select count(*)::int as n from conveyor.sales_input where payload ->> 'external_id' like ${tag + "-%"}`;
    assert.equal(row.n, 1);
    const [all] = await sql<{ ok: boolean }[]>`select count(payload::jsonb) >= 0 as ok from conveyor.sales_input`;
    assert.equal(all.ok, true, "every stored payload converts to jsonb");
  } finally {
    await endClient(sql);
  }
});
