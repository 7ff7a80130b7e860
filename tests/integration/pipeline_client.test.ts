/**
 * The client the demo and the benchmark use to drive the pipeline from outside: batches encoded
 * ahead of sending, waiting for the drain by the queue, and the stack's CPU by kind of process.
 */
import assert from "node:assert/strict";
import { cpuSpent, snapshotStackCpu } from "../../scripts/bench/stack_cpu.ts";
import {
  encodeBatches,
  sendBatches,
  waitUntilDrained,
} from "../../lib/sales_client.ts";
import { endClient, withClient } from "../support/connections.ts";
import { database, env, prepareShops, saleRecord, uniqueTag } from "../support/pipeline.ts";

const target = { apiUrl: env.API_URL, serviceRoleKey: env.SERVICE_ROLE_KEY };

Deno.test("encoded batches hold the records in order, chunk by chunk, as the ingest API's JSON", () => {
  const records = Array.from(
    { length: 5 },
    (_, n) => ({ external_id: `e-${n}`, note: 'ü "quoted"' }),
  );
  const batches = encodeBatches(records, 2);
  assert.deepEqual(batches.map((b) => b.records), [2, 2, 1]);
  assert.deepEqual(batches.flatMap((b) => JSON.parse(b.json)), records);
});

Deno.test("batches sent pre-encoded are stored as sent, each under the batch id returned for it", async () => {
  const sql = database();
  try {
    await prepareShops(sql);
    const tag = uniqueTag("client");
    const records = Array.from({ length: 5 }, (_, n) => saleRecord(tag, n));
    const batchIds = await sendBatches(target, encodeBatches(records, 2), { concurrency: 2 });
    assert.equal(batchIds.length, 3);
    const rows = await sql<{ batch_id: string; payload: Record<string, unknown> }[]>`
      select batch_id, payload from conveyor.sales_input where batch_id = any (${batchIds}::uuid[]) order by id`;
    const byBatch = batchIds.map((id) =>
      rows.filter((r) => r.batch_id === id).map((r) => r.payload.external_id)
    );
    assert.deepEqual(byBatch, [[`${tag}-0`, `${tag}-1`], [`${tag}-2`, `${tag}-3`], [`${tag}-4`]]);
    assert.deepEqual(
      rows.map((r) => r.payload).sort((a, b) =>
        String(a.external_id).localeCompare(String(b.external_id))
      ),
      records,
    );
  } finally {
    await endClient(sql);
  }
});

Deno.test("waiting for the drain does not return while a message is queued, and returns once all are done", async () => {
  const sql = database();
  try {
    await prepareShops(sql);
    const tag = uniqueTag("drained");
    // Every worker slot held here: a worker started by any wake, even one already on its way to
    // a function process that is still booting, finds no slot and leaves the messages queued.
    const holder = crypto.randomUUID();
    let batchIds: string[];
    try {
      await holdEveryWorkerSlot(sql, holder);
      batchIds = await sendBatches(
        target,
        encodeBatches([saleRecord(tag, 1), saleRecord(tag, 2)], 1),
      );
      await assert.rejects(
        waitUntilDrained(sql, batchIds, { timeoutMs: 500 }),
        /did not drain in time: \{"total":2,"received":2/,
      );
    } finally {
      await sql`delete from conveyor.worker_leases where holder = ${holder}::uuid`;
    }
    await sql`select conveyor.wake_function('process-sales', jsonb_build_object('reason', 'test'))`;
    const { drainedAt, ...progress } = await waitUntilDrained(sql, batchIds, { timeoutMs: 30_000 });
    assert.deepEqual(progress, { total: 2, received: 0, processed: 2, rejected: 0, failed: 0 });
    assert.ok(drainedAt <= performance.now());
    const [queue] = await sql<
      { queued: number }[]
    >`select count(*)::int as queued from pgmq.q_sales_input`;
    assert.equal(queue.queued, 0);
  } finally {
    await endClient(sql);
  }
});

/** Leases slots 1..16 of process-sales to holder, waiting for running workers to free theirs. */
async function holdEveryWorkerSlot(sql: ReturnType<typeof database>, holder: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    await sql`select conveyor.take_worker_slot('process-sales', 16, ${holder}::uuid, 120) from generate_series(1, 16)`;
    const [held] = await sql<{ n: number }[]>`
      select count(*)::int as n from conveyor.worker_leases where worker = 'process-sales' and holder = ${holder}::uuid`;
    if (held.n === 16) return;
    if (Date.now() > deadline) throw new Error(`holding every worker slot: ${held.n} of 16 after 20 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

Deno.test("the stack's CPU is counted by kind of process, a backend that has exited included", async () => {
  const sql = database();
  try {
    await sql`select 1`; // this connection's backend exists before the first snapshot
    const before = snapshotStackCpu();
    const pid = await withClient(() => database({ max: 1 }), async (shortLived) => {
      await shortLived`select count(*) from generate_series(1, 3000000)`;
      const [{ pid }] = await shortLived<{ pid: number }[]>`select pg_backend_pid() as pid`;
      return pid;
    });
    const spinUntil = performance.now() + 200;
    while (performance.now() < spinUntil) Math.sqrt(Math.random());
    const [gone] = await sql<{ gone: boolean }[]>`
      select not exists (select from pg_stat_activity where pid = ${pid}) as gone`;
    assert.ok(gone.gone, "the short-lived backend has exited before the second snapshot");
    const spent = new Map(cpuSpent(before, snapshotStackCpu()));
    assert.ok(
      (spent.get("postgres local") ?? 0) >= 0.1,
      `postgres local: ${spent.get("postgres local")} s`,
    );
    assert.ok(
      (spent.get("client (this process)") ?? 0) >= 0.1,
      `client: ${spent.get("client (this process)")} s`,
    );
    for (const kind of ["postgres cloud", "functions server"]) {
      assert.ok(spent.has(kind), `${kind} among ${[...spent.keys()].join(", ")}`);
    }
    // Real pg_net sends from a background worker, counted with its cluster; the stand-in needs
    // the stack's dispatcher process.
    const [pgNet] = await sql<{ real: boolean }[]>`
      select exists (select from pg_extension where extname = 'pg_net') as real`;
    assert.equal(
      spent.has("pg_net dispatcher"),
      !pgNet.real,
      `pg_net ${pgNet.real ? "real" : "stand-in"}; kinds: ${[...spent.keys()].join(", ")}`,
    );
    assert.ok([...spent.values()].every((seconds) => seconds >= 0));
  } finally {
    await endClient(sql);
  }
});
