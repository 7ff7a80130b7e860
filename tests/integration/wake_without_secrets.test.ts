/**
 * Storing records never depends on waking the worker. With `conveyor_project_url` missing from
 * Vault (as between `functions deploy` and setting the secrets), ingest still stores the records
 * and answers 202; the failed wake is a WARNING in the database, a "database warning" line in the
 * function log, and `last_wake_error` / `last_wake_error_at` on conveyor.function_wakes, which the next
 * successful wake clears. The pg_cron safety net tolerates the missing secret the same way.
 * Resuming paused wakes with conveyor.resume_wakes wakes the worker when its queue holds messages.
 */
import assert from "node:assert/strict";
import {
  database,
  postIngest,
  prepareShops,
  saleRecord,
  type Sql,
  statuses,
  uniqueTag,
  waitForIdleWorkers,
  waitForStatuses,
} from "../support/pipeline.ts";
import { pause, waitFor } from "../support/waiting.ts";
import { endClient } from "../support/connections.ts";
import { describeStack } from "../../scripts/local-stack/stack.ts";

type WakeState = { last_wake_error: string | null; last_wake_error_at: Date | null; paused: boolean };

async function wakeState(sql: Sql): Promise<WakeState> {
  const [row] = await sql<WakeState[]>`
    select last_wake_error, last_wake_error_at, paused from conveyor.function_wakes where function_name = 'process-sales'`;
  return row;
}

/** Lines the functions server logged (every function's stdout and stderr) since `since`. */
function functionLogSince(since: Date): string[] {
  const stateDir = Deno.env.get("CONVEYOR_STATE_DIR") ?? new URL("../../.local", import.meta.url).pathname;
  return Deno.readTextFileSync(`${stateDir}/logs/functions-server.log`).split("\n").filter((line) => {
    const ts = /"ts":"([^"]+)"/.exec(line)?.[1];
    return ts !== undefined && new Date(ts) >= since;
  });
}

/** Hides the project URL secret from Vault (renamed, so it is restored exactly) while `body` runs. */
async function withoutProjectUrl(sql: Sql, tag: string, body: () => Promise<void>): Promise<void> {
  const hidden = `hidden-${tag}`;
  const [moved] = await sql`update vault.secrets set name = ${hidden} where name = 'conveyor_project_url' returning id`;
  assert.ok(moved, "the stack has a conveyor_project_url secret to hide");
  try {
    await body();
  } finally {
    await sql`update vault.secrets set name = 'conveyor_project_url' where name = ${hidden}`;
  }
}

Deno.test("with the project URL missing from Vault, ingest stores the records (202) and status shows the failed wake", async () => {
  const sql = database({ max: 2 });
  const tag = uniqueTag("no-url");
  try {
    await prepareShops(sql);
    await withoutProjectUrl(sql, tag, async () => {
      // Outside the coalescing window, so this request's trigger really tries to wake the worker.
      await sql`
        insert into conveyor.function_wakes (function_name) values ('process-sales')
        on conflict (function_name) do update set last_requested_at = '-infinity', paused = false`;
      const sent = new Date(Date.now() - 1000);
      const reply = await postIngest(JSON.stringify([saleRecord(tag, 1), saleRecord(tag, 2)]));
      assert.equal(reply.status, 202, JSON.stringify(reply.body));
      const warned = await waitFor("the failed wake in the function log", () =>
        functionLogSince(sent).find((line) =>
          line.includes("[ingest]") && line.includes('"database warning"') && line.includes("waking process-sales failed")
        ));
      assert.match(warned, /conveyor_project_url/);
      assert.equal(reply.body.received, 2);
      const [{ n }] = await sql<{ n: number }[]>`
        select count(*)::int as n from conveyor.sales_input where batch_id = ${String(reply.body.batch_id)}::uuid`;
      assert.equal(n, 2, "the records are stored");
      const state = await wakeState(sql);
      assert.match(String(state.last_wake_error), /conveyor_project_url/);
      assert.ok(state.last_wake_error_at, "when it failed is recorded");
      const status = await describeStack();
      assert.match(status.text, /wakes \(process-sales\): FAILING since .*conveyor_project_url/);
    });
    // The secret is back: the next wake (the safety net's) reaches the worker and clears the error.
    await sql`select conveyor.wake_if_pending('process-sales', 'sales_input')`;
    const counts = await waitForStatuses(sql, tag, (c) => c.processed === 2, 30_000);
    assert.deepEqual(counts, { processed: 2 });
    await sql`update conveyor.function_wakes set last_requested_at = '-infinity' where function_name = 'process-sales'`;
    await sql`select conveyor.request_wake('process-sales', 'test')`;
    assert.equal((await wakeState(sql)).last_wake_error, null, "a successful wake clears the error");
  } finally {
    await endClient(sql);
  }
});

Deno.test("the safety net tolerates a missing secret: a warning and the error in conveyor.function_wakes, no exception", async () => {
  const sql = database({ max: 1 });
  const tag = uniqueTag("no-url-cron");
  const queue = `conveyor_wake_probe_${Math.floor(Math.random() * 1e9)}`;
  const notices: { severity: string; message: string }[] = [];
  const listening = database({ max: 1, onnotice: (n) => notices.push({ severity: String(n.severity), message: String(n.message) }) });
  try {
    await sql`select pgmq.create(${queue})`;
    await sql`select pgmq.send(${queue}::text, '{"probe": true}'::jsonb)`;
    await withoutProjectUrl(sql, tag, async () => {
      const [row] = await listening`select conveyor.wake_if_pending('process-sales', ${queue}) as id`;
      assert.equal(row.id, null, "no request was made");
    });
    assert.ok(
      notices.some((n) => n.severity === "WARNING" && /waking process-sales failed.*conveyor_project_url/.test(n.message)),
      JSON.stringify(notices),
    );
    const state = await wakeState(sql);
    assert.match(String(state.last_wake_error), /conveyor_project_url/);
  } finally {
    await sql`select pgmq.drop_queue(${queue})`;
    await sql`update conveyor.function_wakes set last_wake_error = null where function_name = 'process-sales'`;
    await endClient(listening);
    await endClient(sql);
  }
});

Deno.test("conveyor.resume_wakes unpauses the worker's wakes and wakes it when records wait", async () => {
  const sql = database({ max: 1 });
  const tag = uniqueTag("resume");
  try {
    await prepareShops(sql);
    await sql`select conveyor.pause_wakes('process-sales')`;
    assert.equal((await wakeState(sql)).paused, true);
    await waitForIdleWorkers(sql);
    await sql`insert into conveyor.sales_input (payload, batch_id) values (${JSON.stringify(saleRecord(tag, 1))}::text::json, gen_random_uuid())`;
    await pause(300);
    assert.deepEqual(await statuses(sql, tag), { received: 1 }, `paused: nobody woke the worker`);
    const [{ id }] = await sql<{ id: string | null }[]>`select conveyor.resume_wakes('process-sales', 'sales_input')::text as id`;
    assert.equal((await wakeState(sql)).paused, false);
    assert.notEqual(id, null, "resuming sent a wake, as records wait");
    const counts = await waitForStatuses(sql, tag, (c) => c.processed === 1, 15_000);
    assert.deepEqual(counts, { processed: 1 });
  } finally {
    await sql`update conveyor.function_wakes set paused = false where function_name = 'process-sales'`;
    await endClient(sql);
  }
});
