/**
 * Worker slots through a transaction-mode pooler (Debian's pgbouncer, pool_mode=transaction, as
 * Supavisor's port 6543 behaves): leases taken, renewed and released in single statements keep
 * workers apart where session advisory locks do not, a killed worker's slot is taken over once
 * its lease expires, and a released slot is free at once.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { type PgBouncer, startPgBouncer } from "../../scripts/local-stack/pgbouncer.ts";
import { drainSalesQueue } from "../../supabase/functions/process-sales/drain.ts";
import { databaseSlotLeases } from "../../supabase/functions/_shared/worker/slots.ts";
import {
  database,
  env,
  pauseAutomaticWakes,
  prepareShops,
  resumeAutomaticWakes,
  saleRecord,
  type Sql,
  statuses,
  testWorkerConfig,
  uniqueTag,
} from "../support/pipeline.ts";
import { endClient } from "../support/connections.ts";

const root = new URL("../../", import.meta.url).pathname;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quiet = () => {};

/** A pgbouncer in front of the local database with `poolSize` server connections. */
async function withPooler(poolSize: number, run: (pooler: PgBouncer, direct: Sql) => Promise<void>): Promise<void> {
  const pooler = await startPgBouncer({ name: `slots-${poolSize}`, upstreamPort: Number(new URL(env.DB_URL).port), poolSize });
  const direct = database({ max: 4 });
  try {
    await run(pooler, direct);
  } finally {
    await endClient(direct);
    await pooler.stop();
  }
}

function pooled(pooler: PgBouncer, max: number): Sql {
  return postgres(pooler.url, { prepare: false, max, onnotice: () => {} });
}

async function stage(sql: Sql, records: Record<string, unknown>[]): Promise<void> {
  await sql`
    insert into conveyor.sales_input (payload, batch_id)
    select r.value, gen_random_uuid() from jsonb_array_elements(${JSON.stringify(records)}::text::jsonb) as r(value)`;
}

Deno.test("through a transaction pooler a session advisory lock keeps no one out, which is why slots are leases", async () => {
  await withPooler(1, async (pooler) => {
    const [a, b] = [pooled(pooler, 1), pooled(pooler, 1)];
    try {
      const key = Math.floor(Math.random() * 1e9);
      const [first] = await a<{ locked: boolean }[]>`select pg_try_advisory_lock(${key}::bigint) as locked`;
      const [second] = await b<{ locked: boolean }[]>`select pg_try_advisory_lock(${key}::bigint) as locked`;
      assert.equal(first.locked, true);
      assert.equal(second.locked, true, "the second client got the 'held' lock: both ran on the one server session");
      await a`select pg_advisory_unlock_all()`;
    } finally {
      await endClient(a);
      await endClient(b);
    }
  });
});

Deno.test("workers through pgbouncer in transaction mode, more clients than server connections, never hold the same slot", async () => {
  await withPooler(2, async (pooler, direct) => {
    const worker = `slots-${uniqueTag("pooled")}`;
    const clients = Array.from({ length: 4 }, () => pooled(pooler, 2));
    const holders = new Map<number, string>();
    const taken: number[] = [0, 0, 0, 0];
    let overlaps = 0;
    try {
      await Promise.all(clients.map(async (sql, n) => {
        const slots = databaseSlotLeases(sql);
        for (let cycle = 0; cycle < 25; cycle++) {
          const holder = crypto.randomUUID();
          const slot = await slots.take(worker, 2, holder, 5);
          if (slot === null) {
            await sleep(2);
            continue;
          }
          if (holders.has(slot)) overlaps++;
          holders.set(slot, holder);
          taken[n]++;
          await sleep(3 + Math.random() * 10);
          assert.equal(await slots.renew(worker, slot, holder, 5), true, "the holder renews its own lease");
          await sleep(Math.random() * 5);
          if (holders.get(slot) === holder) holders.delete(slot);
          await slots.release(worker, slot, holder);
        }
      }));
      assert.equal(overlaps, 0, "no slot was held by two workers at once");
      assert.ok(taken.filter((t) => t > 0).length >= 2, `slots taken per client: ${taken}`);
      const [left] = await direct<{ n: number }[]>`select count(*)::int as n from conveyor.worker_leases where worker = ${worker}`;
      assert.equal(left.n, 0, "every slot was released");
    } finally {
      await Promise.all(clients.map((c) => endClient(c)));
      await direct`delete from conveyor.worker_leases where worker = ${worker}`;
    }
  });
});

Deno.test("sales workers drain through pgbouncer in transaction mode, at most max-workers at once", async () => {
  await withPooler(2, async (pooler, direct) => {
    await prepareShops(direct);
    await pauseAutomaticWakes(direct);
    const sql = pooled(pooler, 6);
    try {
      const tag = uniqueTag("pooled-drain");
      await stage(direct, Array.from({ length: 1500 }, (_, i) => saleRecord(tag, i)));
      const config = testWorkerConfig({ PROCESS_SALES_BATCH_SIZE: "150", PROCESS_SALES_MAX_WORKERS: "2" });
      let watching = true;
      let mostAtOnce = 0;
      const watch = (async () => {
        while (watching) {
          const [row] = await direct<{ n: number }[]>`
            select count(*)::int as n from conveyor.worker_leases
             where worker = 'process-sales' and expires_at > clock_timestamp()`;
          mostAtOnce = Math.max(mostAtOnce, row.n);
          await sleep(10);
        }
      })();
      const summaries = await Promise.all(Array.from({ length: 3 }, () => drainSalesQueue(sql, config, quiet)));
      watching = false;
      await watch;
      for (const s of summaries) assert.notEqual(s.stopped, "transient_error", JSON.stringify(s));
      assert.ok(mostAtOnce <= 2, `${mostAtOnce} slots held at once`);
      const ran = summaries.filter((s) => s.slot !== null);
      assert.ok(ran.length >= 1);
      assert.ok(ran.every((s) => s.slot === 1 || s.slot === 2));
      assert.deepEqual(await statuses(direct, tag), { processed: 1500 });
    } finally {
      await endClient(sql);
      await resumeAutomaticWakes(direct);
    }
  });
});

Deno.test("the slot of a worker killed mid-batch is taken over once its lease expires, and nothing is lost or doubled", async () => {
  await withPooler(2, async (pooler, direct) => {
    await prepareShops(direct);
    await pauseAutomaticWakes(direct);
    const tag = uniqueTag("pooled-killed");
    try {
      await stage(direct, Array.from({ length: 200 }, (_, i) => saleRecord(tag, i)));
      // A lock the worker's batch needs, so it is surely mid-batch when it is killed.
      const blocker = await direct.reserve();
      await blocker`begin`;
      await blocker`lock table public.operations in exclusive mode`;
      const worker = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `--config=${root}deno.json`, `${root}tests/support/sales_worker_process.ts`],
        env: {
          DB_URL: pooler.url,
          CONVEYOR_DB_PREPARE: "false",
          PROCESS_SALES_MAX_WORKERS: "1",
          PROCESS_SALES_VISIBILITY_SECONDS: "2",
          PROCESS_SALES_LINGER_MS: "100",
        },
        stdout: "null",
        stderr: "null",
      }).spawn();
      const holder = crypto.randomUUID();
      try {
        const deadline = Date.now() + 20_000;
        for (;;) {
          const [waiting] = await direct<{ n: number }[]>`
            select count(*)::int as n from pg_stat_activity
             where wait_event_type = 'Lock' and query like '%apply_sales_batch%' and pid <> pg_backend_pid()`;
          if (waiting.n > 0) break;
          if (Date.now() > deadline) throw new Error("the worker never reached the blocked batch");
          await sleep(50);
        }
        // renewed while it waited: the lease outlives the visibility timeout of the batch's first read
        await sleep(2500);
        worker.kill("SIGKILL");
        await worker.status;
        const [held] = await direct<{ slot: number | null }[]>`
          select conveyor.take_worker_slot('process-sales', 1, ${holder}::uuid, 5) as slot`;
        assert.equal(held.slot, null, "the dead worker's lease still holds the only slot");
      } finally {
        try {
          worker.kill("SIGKILL"); // when a wait above failed before the kill
        } catch {
          // already killed
        }
        await worker.status;
        await blocker`rollback`;
        blocker.release();
      }
      await sleep(2200); // past the dead worker's lease and its batch's visibility
      const sql = pooled(pooler, 3);
      try {
        const config = testWorkerConfig({ PROCESS_SALES_MAX_WORKERS: "1", PROCESS_SALES_VISIBILITY_SECONDS: "5" });
        for (let i = 0; i < 5 && (await statuses(direct, tag)).received; i++) {
          const summary = await drainSalesQueue(sql, config, quiet);
          assert.equal(summary.slot, 1, JSON.stringify(summary));
          await sleep(200);
        }
      } finally {
        await endClient(sql);
      }
      assert.deepEqual(await statuses(direct, tag), { processed: 200 });
      const [ops] = await direct<{ n: number; ids: number }[]>`
        select count(*)::int as n, count(distinct external_id)::int as ids
          from public.operations where external_id like ${tag + "%"}`;
      assert.deepEqual(ops, { n: 200, ids: 200 });
    } finally {
      await resumeAutomaticWakes(direct);
    }
  });
});

Deno.test("a released slot is free at once through pgbouncer", async () => {
  await withPooler(1, async (pooler, direct) => {
    const worker = `slots-${uniqueTag("released")}`;
    const [a, b] = [pooled(pooler, 1), pooled(pooler, 1)];
    try {
      const [first, second] = [databaseSlotLeases(a), databaseSlotLeases(b)];
      const holderA = crypto.randomUUID();
      const holderB = crypto.randomUUID();
      assert.equal(await first.take(worker, 1, holderA, 60), 1);
      assert.equal(await second.take(worker, 1, holderB, 60), null, "held for 60 s");
      await first.release(worker, 1, holderA);
      assert.equal(await second.take(worker, 1, holderB, 60), 1, "free at once after release");
      assert.equal(await first.renew(worker, 1, holderA, 60), false, "the former holder's renewal is refused");
    } finally {
      await endClient(a);
      await endClient(b);
      await direct`delete from conveyor.worker_leases where worker = ${worker}`;
    }
  });
});
