/**
 * The process-sales worker under stress, driven by the test itself (automatic wakes paused):
 * several workers at once over shared dictionaries, a worker killed mid-batch, retries with
 * backoff, the dead letter after the last attempt, and the replay that follows a fix.
 */
import assert from "node:assert/strict";
import { withClient, withReserved } from "../support/connections.ts";
import {
  database,
  drainInProcess,
  env,
  pauseAutomaticWakes,
  prepareShops,
  resumeAutomaticWakes,
  saleRecord,
  type Sql,
  statuses,
  testWorkerConfig,
  uniqueTag,
  waitForStatuses,
} from "../support/pipeline.ts";

const root = new URL("../../", import.meta.url).pathname;

async function stage(sql: Sql, records: Record<string, unknown>[]): Promise<void> {
  await sql`
    insert into conveyor.sales_input (payload, batch_id)
    select r.value, gen_random_uuid() from jsonb_array_elements(${JSON.stringify(records)}::text::jsonb) as r(value)`;
}

async function withPausedWakes(run: (sql: Sql) => Promise<void>): Promise<void> {
  await withClient(() => database({ max: 8 }), async (sql) => {
    try {
      await prepareShops(sql);
      await pauseAutomaticWakes(sql);
      await run(sql);
    } finally {
      await resumeAutomaticWakes(sql);
    }
  });
}

Deno.test("four workers at once over overlapping dictionaries create no duplicate and hit no deadlock", async () => {
  await withPausedWakes(async (sql) => {
    const tag = uniqueTag("four");
    const makers = ["Alpha", "BETA", " gamma ", "Delta"].map((m) => `${m} ${tag}`);
    const records = Array.from({ length: 4000 }, (_, i) =>
      saleRecord(tag, i, {
        product: {
          sku: `S-${i % 37}`,
          name: `Part ${i % 37}`,
          manufacturer: i % 2 ? makers[i % 4].toUpperCase() : makers[i % 4],
          category: `Cat ${tag} ${i % 7}`,
          group: `Group ${tag} ${i % 3}`,
          kind: `Kind ${tag} ${i % 2}`,
        },
        supplier: { name: `Supplier ${tag} ${i % 11}` },
        location: { name: `Store ${i % 13}`, city: `City ${tag}` },
      })
    );
    await stage(sql, records);
    const config = testWorkerConfig({ PROCESS_SALES_BATCH_SIZE: "250", PROCESS_SALES_MAX_WORKERS: "4" });
    const summaries = await Promise.all(Array.from({ length: 4 }, () => drainInProcess(sql, config)));
    for (const summary of summaries) {
      assert.notEqual(summary.stopped, "transient_error", JSON.stringify(summary));
      assert.equal(summary.deferred, 0);
    }
    assert.ok(summaries.filter((s) => s.processed > 0).length >= 2, "work was shared between workers");
    assert.deepEqual(await statuses(sql, tag), { processed: 4000 });
    const [counts] = await sql<Record<string, number>[]>`
      select
        (select count(*)::int from public.manufacturers where name_key like ${"%" + tag.toLowerCase()}) as manufacturers,
        (select count(*)::int from public.categories where name_key like ${"cat " + tag.toLowerCase() + "%"}) as categories,
        (select count(*)::int from public.product_groups where name_key like ${"group " + tag.toLowerCase() + "%"}) as groups,
        (select count(*)::int from public.product_kinds where name_key like ${"kind " + tag.toLowerCase() + "%"}) as kinds,
        (select count(*)::int from public.suppliers where identity_key like ${"name:supplier " + tag.toLowerCase() + "%"}) as suppliers,
        (select count(*)::int from public.locations where city_key = ${"city " + tag.toLowerCase()}) as locations,
        (select count(*)::int from public.operations where external_id like ${tag + "%"}) as operations,
        (select count(*)::int from public.products p join public.manufacturers m on m.id = p.manufacturer_id
          where m.name_key like ${"%" + tag.toLowerCase()}) as products`;
    assert.deepEqual(counts, {
      manufacturers: 4,
      categories: 7,
      groups: 3,
      kinds: 2,
      suppliers: 11,
      locations: 13,
      operations: 4000,
      products: distinctProducts(records),
    });
  });
});

Deno.test("a worker that finds a backlog wakes one more worker at once, unless automatic wakes are paused", async () => {
  await withPausedWakes(async (sql) => {
    const config = testWorkerConfig({ PROCESS_SALES_BATCH_SIZE: "2", PROCESS_SALES_MAX_WORKERS: "3" });
    const quiet = uniqueTag("peer-paused");
    await stage(sql, Array.from({ length: 6 }, (_, i) => saleRecord(quiet, i)));
    const paused = await drainInProcess(sql, config);
    assert.equal(paused.wokePeer, false, "no peer while wakes are paused");
    assert.deepEqual(await statuses(sql, quiet), { processed: 6 });

    const busy = uniqueTag("peer");
    await stage(sql, Array.from({ length: 6 }, (_, i) => saleRecord(busy, i)));
    const [{ last }] = await sql<{ last: string }[]>`select coalesce(max(id), 0)::text as last from net._http_response`;
    await resumeAutomaticWakes(sql);
    const summary = await drainInProcess(sql, config);
    assert.equal(summary.wokePeer, true, JSON.stringify(summary));
    assert.deepEqual(await waitForStatuses(sql, busy, (c) => c.processed === 6), { processed: 6 });
    const deadline = Date.now() + 10_000;
    let answered = 0;
    while (answered === 0 && Date.now() < deadline) {
      const [row] = await sql<{ n: number }[]>`
        select count(*)::int as n from net._http_response where id > ${last}::bigint and status_code = 202`;
      answered = row.n;
      if (answered === 0) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(answered > 0, "the peer's wake reached process-sales and was accepted");
  });
});

function distinctProducts(records: Record<string, unknown>[]): number {
  const keys = new Set(
    records.map((r) => {
      const p = r.product as { sku: string; manufacturer: string };
      return `${p.manufacturer.trim().toLowerCase()}|${p.sku}`;
    }),
  );
  return keys.size;
}

Deno.test("a worker killed mid-batch loses nothing and doubles nothing", async () => {
  await withPausedWakes(async (sql) => {
    const tag = uniqueTag("killed");
    await stage(sql, Array.from({ length: 300 }, (_, i) => saleRecord(tag, i)));
    // Hold a lock the worker's batch needs, so it is surely mid-batch when it is killed.
    await withReserved(sql, async (blocker) => {
      await blocker`begin`;
      await blocker`lock table public.operations in exclusive mode`;
      const worker = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `--config=${root}deno.json`, `${root}tests/support/sales_worker_process.ts`],
        env: {
          DB_URL: env.DB_URL,
          PROCESS_SALES_VISIBILITY_SECONDS: "2",
          PROCESS_SALES_LINGER_MS: "100",
          WORKER_APPLICATION_NAME: `killed-${tag}`,
        },
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        const deadline = Date.now() + 20000;
        for (;;) {
          const [waiting] = await sql<{ n: number }[]>`
            select count(*)::int as n from pg_stat_activity
             where application_name = ${`killed-${tag}`} and wait_event_type = 'Lock'`;
          if (waiting.n > 0) break;
          if (Date.now() > deadline) throw new Error("the worker never reached the blocked batch");
          await new Promise((r) => setTimeout(r, 50));
        }
      } finally {
        try {
          worker.kill("SIGKILL");
        } catch { /* exited already */ }
        await worker.status;
      }
      await blocker`rollback`;
    });
    // Whatever the killed worker's backend does now, its batch commits whole or not at all.
    await new Promise((r) => setTimeout(r, 2200)); // past the visibility timeout
    const config = testWorkerConfig({ PROCESS_SALES_VISIBILITY_SECONDS: "5" });
    for (let i = 0; i < 5 && (await statuses(sql, tag)).received; i++) {
      await drainInProcess(sql, config);
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.deepEqual(await statuses(sql, tag), { processed: 300 });
    const [ops] = await sql<{ n: number; ids: number }[]>`
      select count(*)::int as n, count(distinct external_id)::int as ids
        from public.operations where external_id like ${tag + "%"}`;
    assert.deepEqual(ops, { n: 300, ids: 300 });
    const [left] = await sql<{ n: number }[]>`
      select count(*)::int as n from pgmq.q_sales_input q
        join conveyor.sales_input s on s.id = (q.message ->> 'id')::bigint
       where s.payload ->> 'external_id' like ${tag + "%"}`;
    assert.equal(left.n, 0, "no message is left in the queue");
  });
});

Deno.test("transient failures retry with backoff, end in the dead letter after the last attempt, and replay after a fix", async () => {
  await withPausedWakes(async (sql) => {
    const tag = uniqueTag("deadletter");
    const config = testWorkerConfig({
      PROCESS_SALES_MAX_ATTEMPTS: "2",
      PROCESS_SALES_VISIBILITY_SECONDS: "1",
      PROCESS_SALES_BACKOFF_BASE_SECONDS: "1",
      PROCESS_SALES_BACKOFF_MAX_SECONDS: "1",
    });
    // First the product exists; then a newer record must update its row, which the test locks.
    await stage(sql, [saleRecord(tag, 1)]);
    await drainInProcess(sql, config);
    assert.deepEqual(await statuses(sql, tag), { processed: 1 });
    await stage(sql, [saleRecord(tag, 2, { occurred_at: "2026-11-21T10:00:00Z", product: { ...saleRecord(tag, 1).product as object, name: "Renamed" } })]);
    await withClient(() => database({ max: 2, connection: { lock_timeout: 300 } }), (impatient) =>
      withReserved(sql, async (blocker) => {
        await blocker`begin`;
        await blocker`
          select p.id from public.products p join public.manufacturers m on m.id = p.manufacturer_id
           where m.name_key = lower(${`Maker ${tag}`}) for update`;
        const first = await drainInProcess(impatient, config);
        const deferredBy = new Date();
        assert.equal(first.stopped, "transient_error");
        assert.equal(first.deferred, 1);
        const [noted] = await sql`select status, attempts, error from conveyor.sales_input where payload ->> 'external_id' = ${`${tag}-2`}`;
        assert.equal(noted.status, "received", "a transient failure is retried, not rejected");
        assert.equal(noted.attempts, 1);
        assert.match(noted.error, /lock/);
        // Compared with the time the drain returned, not now(): finding the row may take a while.
        const [message] = await sql<{ later: boolean }[]>`
          select q.vt > ${deferredBy}::timestamptz + interval '0.3 seconds' as later from pgmq.q_sales_input q
            join conveyor.sales_input s on s.id = (q.message ->> 'id')::bigint
           where s.payload ->> 'external_id' = ${`${tag}-2`}`;
        assert.equal(message.later, true, "the message is hidden for the backoff delay");
        await new Promise((r) => setTimeout(r, 1100));
        const second = await drainInProcess(impatient, config);
        assert.equal(second.stopped, "transient_error");
        await new Promise((r) => setTimeout(r, 1100));
        const third = await drainInProcess(impatient, config);
        assert.equal(third.failed, 1, JSON.stringify(third));
        await blocker`rollback`;
      }));
    const [dead] = await sql`select status, attempts, error from conveyor.sales_input where payload ->> 'external_id' = ${`${tag}-2`}`;
    assert.equal(dead.status, "failed");
    assert.equal(dead.attempts, 2);
    assert.match(dead.error, /^gave up after 2 attempts: .*lock/);

    // The fix is in (the lock is gone): the script puts the record back and it is processed.
    const requeue = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `--config=${root}deno.json`, `${root}scripts/requeue.ts`, "--status", "failed", "--db-url", env.DB_URL],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(requeue.code, 0, new TextDecoder().decode(requeue.stderr));
    assert.match(new TextDecoder().decode(requeue.stdout), /requeued [1-9]\d* record/);
    await drainInProcess(sql, testWorkerConfig());
    assert.deepEqual(await statuses(sql, tag), { processed: 2 });
    const [product] = await sql`
      select p.name from public.products p join public.manufacturers m on m.id = p.manufacturer_id
       where m.name_key = lower(${`Maker ${tag}`})`;
    assert.equal(product.name, "Renamed");
  });
});

Deno.test("a rejected record is replayed by conveyor.requeue after its shop is added", async () => {
  await withPausedWakes(async (sql) => {
    const tag = uniqueTag("replay-shop");
    const shop = `shop-${Date.now().toString(36)}`;
    await stage(sql, [saleRecord(tag, 1, { source: shop })]);
    await drainInProcess(sql, testWorkerConfig());
    const [rejected] = await sql`select id, status, error from conveyor.sales_input where payload ->> 'external_id' = ${`${tag}-1`}`;
    assert.equal(rejected.status, "rejected");
    assert.match(rejected.error, /^source: unknown shop/);
    await sql`insert into public.shops (code, name, city, timezone) values (${shop}, 'New shop', 'Омск', 'Asia/Omsk')`;
    const [requeued] = await sql`select conveyor.requeue('sales', only_ids => ${[rejected.id]}::bigint[]) as n`;
    assert.equal(Number(requeued.n), 1);
    await drainInProcess(sql, testWorkerConfig());
    assert.deepEqual(await statuses(sql, tag), { processed: 1 });
    await sql`delete from public.operations where source = ${shop}`;
    await sql`delete from public.shops where code = ${shop}`;
  });
});
