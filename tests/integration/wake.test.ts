/**
 * Waking edge functions from SQL: conveyor.wake_function goes through pg_net (real or stand-in) to the
 * functions server with the worker key from Vault; the function answers, and the answer lands in
 * net._http_response. pg_cron holds the safety net.
 */
import assert from "node:assert/strict";
import { endClient, withReserved } from "../support/connections.ts";
import { database } from "../support/pipeline.ts";

async function responseFor(sql: ReturnType<typeof database>, id: string, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await sql`select status_code, content, timed_out, error_msg from net._http_response where id = ${id}::bigint`;
    if (rows.length > 0) return rows[0];
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("conveyor.wake_function reaches the function after commit, and its answer lands in net._http_response", async () => {
  const sql = database({ max: 2 });
  try {
    const id = await withReserved(sql, async (conn) => {
      await conn`begin`;
      const [{ id }] = await conn<{ id: string }[]>`select conveyor.wake_function('process-sales', '{"reason": "smoke test"}'::jsonb)::text as id`;
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await responseFor(sql, id, 0), undefined, "nothing is sent before commit");
      await conn`commit`;
      return id;
    });
    const response = await responseFor(sql, id);
    assert.ok(response, "a response was recorded");
    assert.equal(response.status_code, 202, JSON.stringify(response));
    assert.equal(response.timed_out, false);
    const body = JSON.parse(response.content);
    assert.equal(body.accepted, true, "the worker accepted the call with the key from Vault");
    assert.match(body.run_id, /^[0-9a-f-]{36}$/);
  } finally {
    await endClient(sql);
  }
});

Deno.test("a wake inside a rolled-back transaction is never sent", async () => {
  const sql = database({ max: 2 });
  try {
    const id = await withReserved(sql, async (conn) => {
      await conn`begin`;
      const [{ id }] = await conn<{ id: string }[]>`select conveyor.wake_function('process-sales')::text as id`;
      await conn`rollback`;
      return id;
    });
    assert.equal(await responseFor(sql, id, 1500), undefined);
  } finally {
    await endClient(sql);
  }
});

Deno.test("a wake for a missing secret names the secret and how to set it", async () => {
  const sql = database({ max: 1 });
  try {
    await assert.rejects(
      sql`select conveyor.secret('conveyor_no_such_setting')`,
      (error: Error & { hint?: string }) => {
        assert.match(error.message, /"conveyor_no_such_setting" is missing from Vault/);
        assert.match(String(error.hint), /vault\.create_secret/);
        return true;
      },
    );
  } finally {
    await endClient(sql);
  }
});

Deno.test("pg_cron runs the safety net of every pipeline at the finest schedule it supports", async () => {
  const sql = database({ max: 1 });
  try {
    const [job] = await sql`select schedule, command, active from cron.job where jobname = 'conveyor-wake-pending-pipelines'`;
    assert.ok(job, "the job is scheduled");
    assert.equal(job.active, true);
    const [{ version }] = await sql`select extversion as version from pg_extension where extname = 'pg_cron'`;
    const [major, minor] = String(version).split(/[.-]/).map(Number);
    assert.equal(job.schedule, major > 1 || minor >= 5 ? "10 seconds" : "* * * * *");
    assert.equal(job.command, "select conveyor.wake_pending_pipelines()");
  } finally {
    await endClient(sql);
  }
});

Deno.test("the safety net wakes the worker only when its queue holds visible messages", async () => {
  const sql = database({ max: 1 });
  try {
    await sql`select pgmq.create('conveyor_wake_probe')`;
    const [empty] = await sql`select conveyor.wake_if_pending('process-sales', 'conveyor_wake_probe') as id`;
    assert.equal(empty.id, null);
    await sql`select pgmq.send('conveyor_wake_probe'::text, '{"probe": true}'::jsonb)`;
    const [pending] = await sql`select conveyor.wake_if_pending('process-sales', 'conveyor_wake_probe')::text as id`;
    assert.notEqual(pending.id, null);
    const response = await responseFor(sql as ReturnType<typeof database>, pending.id);
    assert.equal(response?.status_code, 202);
  } finally {
    try {
      await sql`select pgmq.drop_queue('conveyor_wake_probe')`;
    } finally {
      await endClient(sql);
    }
  }
});
