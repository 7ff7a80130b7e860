/**
 * etl.apply_sales_batch under a race it must survive: two batches carrying the same sale (sent
 * twice, drained by two workers at once), the second started while the first is uncommitted.
 * The unique key on (source, external_id) decides; the later staging row wins, one operation.
 */
import assert from "node:assert/strict";
import {
  encodeSalesBatch,
  planSalesBatch,
  type QueuedSale,
  salesBatchDocument,
  type ShopRecord,
} from "../../supabase/functions/process-sales/plan.ts";
import {
  database,
  pauseAutomaticWakes,
  prepareShops,
  resumeAutomaticWakes,
  saleRecord,
  statuses,
  uniqueTag,
} from "../support/pipeline.ts";

Deno.test("a sale sent twice and applied by two workers at once ends as one operation from the later record", async () => {
  const sql = database({ max: 4 });
  const first = await sql.reserve();
  const second = await sql.reserve();
  try {
    await prepareShops(sql);
    await pauseAutomaticWakes(sql);
    const tag = uniqueTag("race");
    // The dictionaries and the product come from an earlier sale, so that neither batch waits on
    // the other's new dictionary rows and both reach the operations with the key still free.
    const record = saleRecord(tag, 1);
    const earlier = { ...saleRecord(tag, 0), product: record.product, supplier: record.supplier, location: record.location };
    // Another location too: an existing location row is locked by the batch that upserts it, which
    // would make the second batch wait there, before its operations, and miss the race.
    const corrected = { ...record, quantity: 3, location: { name: `Other store ${tag}`, city: `City ${tag}` } };
    const stored = await sql<{ id: string }[]>`
      insert into etl.sales_input (payload, batch_id)
      select r.value, gen_random_uuid()
        from jsonb_array_elements(${JSON.stringify([earlier, record, corrected])}::text::jsonb)
               with ordinality as r(value, n)
       order by r.n
      returning id`;
    // the enqueue trigger's messages, seen by the next statement
    const staged = await sql<{ id: string; msg_id: string; payload: unknown }[]>`
      select s.id, q.msg_id, s.payload
        from etl.sales_input as s join pgmq.q_sales_input as q on q.message ->> 'id' = s.id::text
       where s.id = any (${stored.map((r) => r.id)}::bigint[])
       order by s.id`;
    assert.equal(staged.length, 3);
    const shops = new Map(
      (await sql<ShopRecord[]>`select code, timezone, active from public.shops`).map((s) => [s.code, s]),
    );
    const documentFor = (row: (typeof staged)[number]) => {
      const sale: QueuedSale = {
        msgId: Number(row.msg_id),
        readCount: 1,
        inputId: Number(row.id),
        status: "received",
        payload: row.payload,
        lastError: null,
      };
      return JSON.stringify(salesBatchDocument(encodeSalesBatch(planSalesBatch([sale], shops, 5))));
    };

    await first`select etl.apply_sales_batch(${documentFor(staged[0])}::text::jsonb)`;

    await first`begin`;
    await second`begin`;
    await first`select etl.apply_sales_batch(${documentFor(staged[1])}::text::jsonb)`;
    // The second batch finds no operation yet (the first is uncommitted) and waits on its key.
    const racing = second<{ result: Record<string, number> }[]>`
      select etl.apply_sales_batch(${documentFor(staged[2])}::text::jsonb) as result`.execute(); // sent now, not when awaited
    await new Promise((resolve) => setTimeout(resolve, 300));
    await first`commit`;
    const [{ result }] = await racing;
    await second`commit`;

    assert.deepEqual(result, { processed: 1, rejected: 0, failed: 0, operations_written: 1 });
    const operations = await sql<{ quantity: string; input_id: string }[]>`
      select quantity::text, input_id::text from public.operations where external_id = ${`${tag}-1`}`;
    assert.deepEqual([...operations], [{ quantity: "3.000", input_id: staged[2].id }]);
    assert.deepEqual(await statuses(sql, tag), { processed: 3 });
  } finally {
    await first`rollback`.catch(() => {});
    await second`rollback`.catch(() => {});
    first.release();
    second.release();
    await resumeAutomaticWakes(sql);
    await sql.end();
  }
});
