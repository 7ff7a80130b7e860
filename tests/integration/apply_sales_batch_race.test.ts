/**
 * conveyor.apply_sales_batch with two workers' batches at once, the second started while the first is
 * uncommitted: the same sale in both (sent twice) ends as one operation, decided by the unique key
 * on (source, external_id); and batches naming the same locations do not wait for each other.
 */
import assert from "node:assert/strict";
import { DEFAULT_OCCURRED_AT_WINDOW } from "../../supabase/functions/_shared/normalise/time.ts";
import { withClient, withReserved } from "../support/connections.ts";
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

type Reserved = Awaited<ReturnType<ReturnType<typeof database>["reserve"]>>;

/** Stages records (the trigger queues them) and returns each one's document for apply_sales_batch. */
async function stageDocuments(
  sql: ReturnType<typeof database>,
  records: unknown[],
): Promise<{ id: string; document: string }[]> {
  const stored = await sql<{ id: string }[]>`
    insert into conveyor.sales_input (payload, batch_id)
    select r.value, gen_random_uuid()
      from jsonb_array_elements(${
    JSON.stringify(records)
  }::text::jsonb) with ordinality as r(value, n)
     order by r.n
    returning id`;
  // the enqueue trigger's messages, seen by the next statement
  const staged = await sql<{ id: string; msg_id: string; payload: unknown }[]>`
    select s.id, q.msg_id, s.payload
      from conveyor.sales_input as s join pgmq.q_sales_input as q on q.message ->> 'id' = s.id::text
     where s.id = any (${stored.map((r) => r.id)}::bigint[])
     order by s.id`;
  assert.equal(staged.length, records.length);
  const shops = new Map(
    (await sql<ShopRecord[]>`select code, timezone, active from public.shops`).map((
      s,
    ) => [s.code, s]),
  );
  return staged.map((row) => {
    const sale: QueuedSale = {
      msgId: Number(row.msg_id),
      readCount: 1,
      inputId: Number(row.id),
      status: "received",
      payload: row.payload,
      lastError: null,
    };
    return {
      id: row.id,
      document: JSON.stringify(
        salesBatchDocument(encodeSalesBatch(planSalesBatch([sale], shops, 5, DEFAULT_OCCURRED_AT_WINDOW))),
      ),
    };
  });
}

/**
 * Runs `body` with two reserved connections (two workers' sessions) and wakes paused; whatever
 * either left open is rolled back afterwards.
 */
async function withTwoWorkers(
  body: (sql: ReturnType<typeof database>, first: Reserved, second: Reserved) => Promise<void>,
): Promise<void> {
  await withClient(() => database({ max: 4 }), async (sql) => {
    try {
      await withReserved(sql, (first) =>
        withReserved(sql, async (second) => {
          await prepareShops(sql);
          await pauseAutomaticWakes(sql);
          await body(sql, first, second);
        }));
    } finally {
      await resumeAutomaticWakes(sql);
    }
  });
}

Deno.test("a sale sent twice and applied by two workers at once ends as one operation from the later record", () =>
  withTwoWorkers(async (sql, first, second) => {
    const tag = uniqueTag("race");
    // The dictionaries and the product come from an earlier sale, so that neither batch waits on
    // the other's new dictionary rows and both reach the operations with the key still free.
    const record = saleRecord(tag, 1);
    const earlier = {
      ...saleRecord(tag, 0),
      product: record.product,
      supplier: record.supplier,
      location: record.location,
    };
    const corrected = { ...record, quantity: 3 };
    const staged = await stageDocuments(sql, [earlier, record, corrected]);

    await first`select conveyor.apply_sales_batch(${staged[0].document}::text::jsonb)`;

    await first`begin`;
    await second`begin`;
    await first`select conveyor.apply_sales_batch(${staged[1].document}::text::jsonb)`;
    // The second batch finds no operation yet (the first is uncommitted) and waits on its key.
    const racing = second<{ result: Record<string, number> }[]>`
      select conveyor.apply_sales_batch(${staged[2].document}::text::jsonb) as result`.execute(); // sent now, not when awaited
    await new Promise((resolve) => setTimeout(resolve, 300));
    await first`commit`;
    const [{ result }] = await racing;
    await second`commit`;

    assert.deepEqual(result, { processed: 1, rejected: 0, failed: 0, operations_written: 1 });
    const operations = await sql<{ quantity: string; input_id: string }[]>`
      select quantity::text, input_id::text from public.operations where external_id = ${`${tag}-1`}`;
    assert.deepEqual([...operations], [{ quantity: "3.000", input_id: staged[2].id }]);
    assert.deepEqual(await statuses(sql, tag), { processed: 3 });
  }));

Deno.test("a batch naming the locations of another worker's uncommitted batch does not wait for it", () =>
  withTwoWorkers(async (sql, first, second) => {
    const tag = uniqueTag("locwait");
    // The location exists, with its address, before either batch.
    const [earlier, a, b] = await stageDocuments(sql, [0, 1, 2].map((n) => saleRecord(tag, n)));
    await first`select conveyor.apply_sales_batch(${earlier.document}::text::jsonb)`;

    await first`begin`;
    await first`select conveyor.apply_sales_batch(${a.document}::text::jsonb)`;
    await second`begin`;
    await second`set local lock_timeout = '1s'`;
    // Fails on the lock timeout if the first batch still holds the location's row.
    const [{ result }] = await second<{ result: Record<string, number> }[]>`
      select conveyor.apply_sales_batch(${b.document}::text::jsonb) as result`;
    await second`commit`;
    await first`commit`;

    assert.deepEqual(result, { processed: 1, rejected: 0, failed: 0, operations_written: 1 });
    const [location] = await sql<{ locations: number; operations: number }[]>`
      select count(distinct o.location_id)::int as locations, count(*)::int as operations
        from public.operations as o where o.external_id like ${`${tag}-%`}`;
    assert.deepEqual({ ...location }, { locations: 1, operations: 3 });
  }));
