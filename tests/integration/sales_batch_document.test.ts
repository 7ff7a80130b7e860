/**
 * The batch document is declared once on each side: the encoder's column lists
 * (process-sales/batch_document.ts) and the composite types conveyor.apply_sales_batch parses
 * each list into. These tests fail when the two disagree on a name, the order or a type, which
 * would otherwise show up as NULLs in the database.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { type ColumnType, salesBatchLists } from "../../supabase/functions/process-sales/batch_document.ts";
import { encodeSalesBatch, planSalesBatch, salesBatchDocument } from "../../supabase/functions/process-sales/plan.ts";
import { DEFAULT_OCCURRED_AT_WINDOW } from "../../supabase/functions/_shared/normalise/time.ts";
import { stackEnv } from "../support/stack_env.ts";
import { endClient } from "../support/connections.ts";

const sqlTypeOf: Record<ColumnType, string> = {
  text: "text[]",
  integer: "integer[]",
  bigint: "bigint[]",
  numeric: "numeric[]",
  timestamptz: "timestamp with time zone[]",
};

Deno.test("each list of the batch document has the fields, order and types of its SQL type", async () => {
  const sql = postgres(stackEnv().DB_URL, { max: 1, onnotice: () => {} });
  try {
    for (const [list, { type, columns }] of Object.entries(salesBatchLists)) {
      const attributes = await sql<{ name: string; type: string }[]>`
        select a.attname as name, pg_catalog.format_type(a.atttypid, a.atttypmod) as type
          from pg_catalog.pg_attribute as a
         where a.attrelid = (select t.typrelid from pg_catalog.pg_type as t where t.oid = ${type}::regtype)
           and a.attnum > 0 and not a.attisdropped
         order by a.attnum`;
      assert.deepEqual(
        [...attributes],
        Object.entries(columns).map(([name, columnType]) => ({ name, type: sqlTypeOf[columnType as ColumnType] })),
        `list ${list} against ${type}`,
      );
    }
  } finally {
    await endClient(sql);
  }
});

Deno.test("the encoder writes every list of the document with exactly the declared fields", () => {
  const document = salesBatchDocument(encodeSalesBatch(planSalesBatch([], new Map(), 5, DEFAULT_OCCURRED_AT_WINDOW)));
  for (const [list, { columns }] of Object.entries(salesBatchLists)) {
    assert.deepEqual(Object.keys(document[list as keyof typeof document]), Object.keys(columns), list);
  }
});
