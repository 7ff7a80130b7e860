/**
 * The tests' own database clients (tests/support/connections.ts): a test whose query fails inside
 * a reserved connection fails at once, it never hangs in `sql.end()`.
 */
import assert from "node:assert/strict";
import { endClient, withReserved } from "../support/connections.ts";
import { database } from "../support/pipeline.ts";
import { waitFor } from "../support/waiting.ts";

/** Settles like `work`, or rejects once `ms` have passed: how these tests notice a hang. */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("a query that fails inside a reserved connection fails fast: the error comes out and the client ends", async () => {
  const sql = database({ max: 2 });
  const admin = database({ max: 1 });
  try {
    const started = performance.now();
    const outcome = withReserved(sql, async (conn) => {
      const [{ pid }] = await conn<{ pid: number }[]>`select pg_backend_pid() as pid`;
      await conn`begin`;
      const slow = conn`select pg_sleep(60)`.execute();
      slow.catch(() => {}); // handled here, awaited below
      await waitFor("the reserved connection's query to run", async () => {
        const [row] = await admin<{ running: boolean }[]>`
          select exists (select from pg_stat_activity where pid = ${pid} and query like '%pg_sleep(60)%') as running`;
        return row.running || undefined;
      });
      await admin`select pg_terminate_backend(${pid})`;
      await slow;
    });
    await within(10_000, "the failing test body", assert.rejects(outcome, /terminat/));
    // The client stays usable (the dead connection was not handed back to the pool) ...
    const [{ one }] = await within(10_000, "a query after the failure", sql<{ one: number }[]>`select 1 as one`);
    assert.equal(one, 1);
    // ... and ends.
    await within(10_000, "ending the client", endClient(sql));
    assert.ok(performance.now() - started < 10_000);
  } finally {
    await endClient(sql);
    await endClient(admin);
  }
});

/** A client whose reserved connection's query failed because its backend was terminated. */
async function clientWithKilledQuery(admin: ReturnType<typeof database>) {
  const sql = database({ max: 2 });
  const conn = await sql.reserve();
  const [{ pid }] = await conn<{ pid: number }[]>`select pg_backend_pid() as pid`;
  const slow = conn`select pg_sleep(60)`.execute();
  slow.catch(() => {}); // handled here, asserted below
  await waitFor("the query to run", async () => {
    const [row] = await admin<{ running: boolean }[]>`
      select exists (select from pg_stat_activity where pid = ${pid} and query like '%pg_sleep(60)%') as running`;
    return row.running || undefined;
  });
  await admin`select pg_terminate_backend(${pid})`;
  await assert.rejects(slow, /terminat/);
  return sql;
}

Deno.test("after a query failed inside a reserved connection, postgres.js's end() never returns, endClient does within its deadline", async () => {
  const admin = database({ max: 1 });
  try {
    // postgres.js 3.4.7 waits for the failed query's end forever: the reason every test ends
    // its clients through endClient.
    const plain = await clientWithKilledQuery(admin);
    const ended = await within(2000, "sql.end()", plain.end().then(() => true)).catch(() => false);
    assert.equal(ended, false, "postgres.js's end() without a timeout returned; endClient may no longer be needed");

    const guarded = await clientWithKilledQuery(admin);
    const started = performance.now();
    await within(5000, "endClient", endClient(guarded, 1));
    assert.ok(performance.now() - started < 3000);
  } finally {
    await endClient(admin);
  }
});
