/**
 * pgmq's documented behaviour, as the pipeline relies on it. The same file runs against the local
 * stand-in (scripts/local-stack/standins/pgmq.sql) and against the real pgmq 1.5.1 extension, so
 * it only asserts what pgmq documents and never the stand-in's internals.
 *
 * JSON goes in through sql.json(...): a JSON.stringify'd string bound to a jsonb parameter is stored as
 * a JSON *string*, because postgres.js serialises by the type the server inferred.
 *
 * Calls always cast their arguments: postgres.js sends numbers and strings untyped, and pgmq 1.5.1
 * overloads send/send_batch (delay integer vs timestamptz vs headers jsonb) and delete/archive
 * (bigint vs bigint[]), so an uncast argument there is "function is not unique" (see the last test).
 */
import assert from "node:assert/strict";
import { endClient } from "../support/connections.ts";
import postgres from "postgres";
import { stackEnv } from "../support/stack_env.ts";

const { DB_URL } = stackEnv();

type Sql = ReturnType<typeof postgres>;

interface MessageRow {
  msg_id: string; // bigint: postgres.js returns int8 as a string
  read_ct: number;
  enqueued_at: Date;
  vt: Date;
  message: Record<string, unknown> | null;
  headers: Record<string, unknown> | null;
}

interface MetricsRow {
  queue_name: string;
  queue_length: string;
  newest_msg_age_sec: number | null;
  oldest_msg_age_sec: number | null;
  total_messages: string;
  scrape_time: Date;
  queue_visible_length: string;
}

function connect(max = 1): Sql {
  return postgres(DB_URL, { max, onnotice: () => {}, connect_timeout: 5 });
}

function uniqueQueueName(prefix = "t_pgmq"): string {
  return `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `body` with its own client and freshly created queue; drops the queue and closes after. */
async function withQueue(
  body: (sql: Sql, queue: string) => Promise<void>,
  options: { connections?: number } = {},
): Promise<void> {
  const sql = connect(options.connections ?? 1);
  const queue = uniqueQueueName();
  try {
    await sql`select pgmq.create(queue_name => ${queue}::text)`;
    await body(sql, queue);
  } finally {
    try {
      await sql`select pgmq.drop_queue(queue_name => ${queue}::text)`;
    } finally {
      await endClient(sql);
    }
  }
}

async function send(sql: Sql, queue: string, message: postgres.JSONValue): Promise<string> {
  const [row] = await sql<{ id: string }[]>`
    select pgmq.send(${queue}::text, ${sql.json(message)}::jsonb) as id`;
  return row.id;
}

async function read(sql: Sql, queue: string, vt: number, qty: number): Promise<MessageRow[]> {
  const rows = await sql<MessageRow[]>`
    select * from pgmq.read(queue_name => ${queue}::text, vt => ${vt}::int, qty => ${qty}::int)`;
  return [...rows].sort((a, b) => Number(a.msg_id) - Number(b.msg_id));
}

async function tableExists(sql: Sql, qualifiedName: string): Promise<boolean> {
  const [row] = await sql<{ found: boolean }[]>`
    select to_regclass(${qualifiedName}::text) is not null as found`;
  return row.found;
}

Deno.test("the database has pgmq, either the real extension or the local stand-in", async () => {
  const sql = connect();
  try {
    const [row] = await sql<{ extversion: string | null; schema_exists: boolean }[]>`
      select (select extversion from pg_catalog.pg_extension where extname = 'pgmq') as extversion,
             to_regnamespace('pgmq') is not null as schema_exists`;
    if (row.extversion) {
      console.log(`pgmq: real extension, version ${row.extversion}`);
      if (row.extversion !== "1.5.1") {
        console.warn(`pgmq: the project targets pgmq 1.5.1; this database has ${row.extversion}`);
      }
    } else {
      console.log("pgmq: local stand-in (schema pgmq, no pg_extension row)");
    }
    assert.ok(row.schema_exists, "schema pgmq should exist (extension or stand-in)");
  } finally {
    await endClient(sql);
  }
});

Deno.test("create makes pgmq.q_<queue> and pgmq.a_<queue>, lists the queue, and is idempotent", async () => {
  await withQueue(async (sql, queue) => {
    await sql`select pgmq.create(${queue}::text)`; // second time: no error, no second listing
    assert.ok(await tableExists(sql, `pgmq.q_${queue}`));
    assert.ok(await tableExists(sql, `pgmq.a_${queue}`));
    const listed = await sql<
      { queue_name: string; is_partitioned: boolean; is_unlogged: boolean; created_at: Date }[]
    >`
      select * from pgmq.list_queues() where queue_name = ${queue}::text`;
    assert.equal(listed.length, 1);
    assert.equal(listed[0].is_partitioned, false);
    assert.equal(listed[0].is_unlogged, false);
    assert.ok(listed[0].created_at instanceof Date);
  });
});

Deno.test("create_unlogged makes an unlogged message table and lists the queue as is_unlogged", async () => {
  const sql = connect();
  const queue = uniqueQueueName();
  try {
    await sql`select pgmq.create_unlogged(${queue}::text)`;
    const [table] = await sql<{ relpersistence: string }[]>`
      select relpersistence from pg_catalog.pg_class where oid = to_regclass(${`pgmq.q_${queue}`}::text)`;
    assert.equal(table.relpersistence, "u");
    const [listed] = await sql<{ is_unlogged: boolean }[]>`
      select is_unlogged from pgmq.list_queues() where queue_name = ${queue}::text`;
    assert.equal(listed.is_unlogged, true);
  } finally {
    await sql`select pgmq.drop_queue(${queue}::text)`;
    await endClient(sql);
  }
});

Deno.test("queue names become lower-case table names; names of 48 characters or more are rejected", async () => {
  const sql = connect();
  const mixed = uniqueQueueName("T_PgMq_Mixed");
  const longest = uniqueQueueName("t").padEnd(47, "x");
  const tooLong = uniqueQueueName("t").padEnd(48, "x");
  try {
    await sql`select pgmq.create(${mixed}::text)`;
    assert.ok(await tableExists(sql, `pgmq.q_${mixed.toLowerCase()}`));
    assert.ok(await tableExists(sql, `pgmq.a_${mixed.toLowerCase()}`));

    await sql`select pgmq.create(${longest}::text)`;
    assert.ok(await tableExists(sql, `pgmq.q_${longest}`));

    await assert.rejects(sql`select pgmq.create(${tooLong}::text)`);
    assert.equal(await tableExists(sql, `pgmq.q_${tooLong}`), false);
  } finally {
    await sql`select pgmq.drop_queue(${mixed}::text)`;
    await sql`select pgmq.drop_queue(${longest}::text)`;
    await endClient(sql);
  }
});

Deno.test("send returns a msg_id and read returns the message with read_ct = 1", async () => {
  await withQueue(async (sql, queue) => {
    const id = await send(sql, queue, { job: "a" });
    assert.match(id, /^\d+$/);
    const rows = await read(sql, queue, 30, 1);
    assert.equal(rows.length, 1);
    const [row] = rows;
    assert.deepEqual(Object.keys(row), [
      "msg_id",
      "read_ct",
      "enqueued_at",
      "vt",
      "message",
      "headers",
    ]);
    assert.equal(row.msg_id, id);
    assert.equal(row.read_ct, 1);
    assert.deepEqual(row.message, { job: "a" });
    assert.equal(row.headers, null);
    assert.ok(row.enqueued_at instanceof Date);
    assert.ok(row.vt.getTime() > Date.now() + 20_000, "vt should be about 30 s ahead");
  });
});

Deno.test("send_batch returns one id per message in order", async () => {
  await withQueue(async (sql, queue) => {
    const messages = [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }];
    const ids = (await sql<{ id: string }[]>`
      select pgmq.send_batch(
        ${queue}::text,
        array(select jsonb_array_elements(${sql.json(messages)}::jsonb))
      ) as id`).map((r) => r.id);
    assert.equal(ids.length, messages.length);
    const numeric = ids.map(Number);
    assert.deepEqual([...numeric].sort((a, b) => a - b), numeric, "ids ascend in message order");
    assert.equal(new Set(ids).size, ids.length);
    const rows = await read(sql, queue, 30, 10);
    assert.deepEqual(rows.map((r) => r.msg_id), ids);
    assert.deepEqual(rows.map((r) => r.message), messages);
  });
});

Deno.test("send and send_batch store headers next to the message", async () => {
  await withQueue(async (sql, queue) => {
    const [single] = await sql<{ id: string }[]>`
      select pgmq.send(${queue}::text, '{"kind":"one"}'::jsonb, '{"trace":"t1"}'::jsonb, 0::int) as id`;
    const batch = await sql<{ id: string }[]>`
      select pgmq.send_batch(
        ${queue}::text,
        array['{"kind":"b1"}', '{"kind":"b2"}']::jsonb[],
        array['{"trace":"t2"}', '{"trace":"t3"}']::jsonb[]
      ) as id`;
    const rows = await read(sql, queue, 30, 10);
    const byId = new Map(rows.map((r) => [r.msg_id, r]));
    assert.deepEqual(byId.get(single.id)?.headers, { trace: "t1" });
    assert.deepEqual(byId.get(batch[0].id)?.headers, { trace: "t2" });
    assert.deepEqual(byId.get(batch[1].id)?.headers, { trace: "t3" });
    assert.deepEqual(byId.get(batch[1].id)?.message, { kind: "b2" });
  });
});

Deno.test("read returns at most qty visible messages, oldest first", async () => {
  await withQueue(async (sql, queue) => {
    const ids = [];
    for (const n of [1, 2, 3, 4, 5]) ids.push(await send(sql, queue, { n }));
    const first = await read(sql, queue, 30, 2);
    assert.deepEqual(first.map((r) => r.msg_id), ids.slice(0, 2));
    const rest = await read(sql, queue, 30, 10);
    assert.deepEqual(rest.map((r) => r.msg_id), ids.slice(2));
  });
});

Deno.test("a message being read stays invisible to other reads until its vt passes", async () => {
  await withQueue(async (sql, queue) => {
    await send(sql, queue, { job: "hidden" });
    assert.equal((await read(sql, queue, 30, 1)).length, 1);
    assert.equal((await read(sql, queue, 30, 1)).length, 0);
  });
});

Deno.test("a message read and left to expire is read again with read_ct = 2", async () => {
  await withQueue(async (sql, queue) => {
    const id = await send(sql, queue, { job: "retry" });
    const [first] = await read(sql, queue, 1, 1);
    assert.equal(first.read_ct, 1);
    assert.equal((await read(sql, queue, 1, 1)).length, 0, "still hidden right after the read");
    await sleep(1200);
    const [second] = await read(sql, queue, 30, 1);
    assert.equal(second?.msg_id, id);
    assert.equal(second.read_ct, 2);
  });
});

Deno.test("read with conditional only returns matching messages", async () => {
  await withQueue(async (sql, queue) => {
    const a = await send(sql, queue, { kind: "a", n: 1 });
    const b = await send(sql, queue, { kind: "b", n: 2 });
    const matching = await sql<MessageRow[]>`
      select * from pgmq.read(
        queue_name => ${queue}::text, vt => 30::int, qty => 10::int,
        conditional => ${sql.json({ kind: "b" })}::jsonb)`;
    assert.deepEqual(matching.map((r) => r.msg_id), [b]);
    const everything = await sql<MessageRow[]>`
      select * from pgmq.read(${queue}::text, 30::int, 10::int, '{}'::jsonb)`;
    assert.deepEqual(everything.map((r) => r.msg_id), [a], "'{}' matches all; b is already hidden");
  });
});

Deno.test("two concurrent readers never get the same message (SKIP LOCKED)", async () => {
  await withQueue(async (sql, queue) => {
    const first = await send(sql, queue, { n: 1 });
    const second = await send(sql, queue, { n: 2 });

    // Reader A holds its read uncommitted; reader B must skip A's row at once, not wait for it.
    await sql.begin(async (a) => {
      const [taken] = await a<
        MessageRow[]
      >`select * from pgmq.read(${queue}::text, 30::int, 1::int)`;
      assert.equal(taken.msg_id, first);
      const fromB = await sql.begin(async (b) => {
        await b`set local lock_timeout = '2s'`;
        return await b<MessageRow[]>`select * from pgmq.read(${queue}::text, 30::int, 1::int)`;
      });
      assert.deepEqual(fromB.map((r) => r.msg_id), [second]);
    });

    // A burst: four readers drain twenty messages; every message goes to exactly one of them.
    const many = Array.from({ length: 20 }, (_, n) => ({ n }));
    const sent = (await sql<{ id: string }[]>`
      select pgmq.send_batch(${queue}::text, array(select jsonb_array_elements(${
      sql.json(many)
    }::jsonb))) as id`)
      .map((r) => r.id);
    const drain = async () => {
      const got: string[] = [];
      for (;;) {
        const rows = await sql<
          MessageRow[]
        >`select * from pgmq.read(${queue}::text, 30::int, 3::int)`;
        if (rows.length === 0) return got;
        got.push(...rows.map((r) => r.msg_id));
      }
    };
    const received = (await Promise.all([drain(), drain(), drain(), drain()])).flat();
    assert.equal(new Set(received).size, received.length, "no message was delivered twice");
    assert.deepEqual([...received].sort(), [...sent].sort());
  }, { connections: 4 });
});

Deno.test("read_with_poll returns a message sent while it is polling", async () => {
  await withQueue(async (sql, queue) => {
    const started = Date.now();
    const polling = sql<MessageRow[]>`
      select * from pgmq.read_with_poll(
        queue_name => ${queue}::text, vt => 30::int, qty => 1::int,
        max_poll_seconds => 5::int, poll_interval_ms => 50::int)`.execute();
    await sleep(300);
    const id = await send(sql, queue, { job: "late" });
    const rows = await polling;
    assert.deepEqual(rows.map((r) => r.msg_id), [id]);
    assert.ok(Date.now() - started < 4000, "returned as soon as the message arrived");
  }, { connections: 2 });
});

Deno.test("read_with_poll returns nothing once max_poll_seconds have passed on an empty queue", async () => {
  await withQueue(async (sql, queue) => {
    const started = Date.now();
    const rows = await sql<MessageRow[]>`
      select * from pgmq.read_with_poll(${queue}::text, 30::int, 1::int, 1::int, 100::int)`;
    const elapsed = Date.now() - started;
    assert.equal(rows.length, 0);
    assert.ok(elapsed >= 900, `polled for about a second (took ${elapsed} ms)`);
  });
});

Deno.test("send with a delay keeps the message invisible until then", async () => {
  await withQueue(async (sql, queue) => {
    const [delayed] = await sql<{ id: string }[]>`
      select pgmq.send(${queue}::text, '{"job":"soon"}'::jsonb, 1::int) as id`;
    await sql`
      select pgmq.send(${queue}::text, '{"job":"later"}'::jsonb, clock_timestamp() + interval '1 hour')`;
    assert.equal((await read(sql, queue, 30, 10)).length, 0, "both hidden at first");
    await sleep(1200);
    const rows = await read(sql, queue, 30, 10);
    assert.deepEqual(
      rows.map((r) => r.msg_id),
      [delayed.id],
      "the 1 s delay has passed, the 1 h one not",
    );
  });
});

Deno.test("set_vt hides a message for the given seconds", async () => {
  await withQueue(async (sql, queue) => {
    const id = await send(sql, queue, { job: "snooze" });
    const [updated] = await sql<MessageRow[]>`
      select * from pgmq.set_vt(${queue}::text, ${id}::bigint, 30::int)`;
    assert.equal(updated.msg_id, id);
    assert.ok(updated.vt.getTime() > Date.now() + 20_000, "vt about 30 s ahead");
    assert.equal((await read(sql, queue, 30, 1)).length, 0);

    await sql`select * from pgmq.set_vt(${queue}::text, ${id}::bigint, 0::int)`;
    const rows = await read(sql, queue, 30, 1);
    assert.deepEqual(rows.map((r) => r.msg_id), [id], "vt of 0 makes it visible again");
  });
});

Deno.test("pop removes the message", async () => {
  await withQueue(async (sql, queue) => {
    const first = await send(sql, queue, { n: 1 });
    const second = await send(sql, queue, { n: 2 });
    const popped = await sql<MessageRow[]>`select * from pgmq.pop(${queue}::text)`;
    assert.equal(popped.length, 1);
    assert.equal(popped[0].msg_id, first);
    assert.deepEqual(popped[0].message, { n: 1 });
    const left = await read(sql, queue, 30, 10);
    assert.deepEqual(left.map((r) => r.msg_id), [second]);
    const none = await sql<MessageRow[]>`select * from pgmq.pop(${queue}::text)`;
    assert.equal(none.length, 0, "nothing visible left to pop");
  });
});

Deno.test("delete of one id returns true once, then false", async () => {
  await withQueue(async (sql, queue) => {
    const id = await send(sql, queue, { job: "done" });
    const [once] = await sql<
      { deleted: boolean }[]
    >`select pgmq.delete(${queue}::text, ${id}::bigint) as deleted`;
    const [twice] = await sql<
      { deleted: boolean }[]
    >`select pgmq.delete(${queue}::text, ${id}::bigint) as deleted`;
    assert.equal(once.deleted, true);
    assert.equal(twice.deleted, false);
    assert.equal((await read(sql, queue, 30, 10)).length, 0);
  });
});

Deno.test("delete of an array returns the ids it deleted", async () => {
  await withQueue(async (sql, queue) => {
    const a = await send(sql, queue, { n: 1 });
    const b = await send(sql, queue, { n: 2 });
    const c = await send(sql, queue, { n: 3 });
    const missing = String(Number(c) + 1000);
    const deleted = (await sql<{ id: string }[]>`
      select pgmq.delete(${queue}::text, ${`{${a},${c},${missing}}`}::bigint[]) as id`).map((r) =>
      r.id
    );
    assert.deepEqual([...deleted].sort(), [a, c].sort());
    const left = await read(sql, queue, 30, 10);
    assert.deepEqual(left.map((r) => r.msg_id), [b]);
  });
});

Deno.test("archive moves a message to a_<queue> with archived_at", async () => {
  await withQueue(async (sql, queue) => {
    const id = await send(sql, queue, { job: "keep" });
    await read(sql, queue, 30, 1); // read_ct becomes 1 and travels with the message
    const [moved] = await sql<{ archived: boolean }[]>`
      select pgmq.archive(${queue}::text, ${id}::bigint) as archived`;
    assert.equal(moved.archived, true);

    const [inQueue] = await sql<{ n: number }[]>`
      select count(*)::int as n from ${sql("pgmq")}.${sql(`q_${queue}`)}`;
    assert.equal(inQueue.n, 0);
    const archived = await sql<(MessageRow & { archived_at: Date })[]>`
      select * from ${sql("pgmq")}.${sql(`a_${queue}`)}`;
    assert.equal(archived.length, 1);
    assert.equal(archived[0].msg_id, id);
    assert.equal(archived[0].read_ct, 1);
    assert.deepEqual(archived[0].message, { job: "keep" });
    assert.ok(archived[0].archived_at instanceof Date);
    assert.ok(Math.abs(archived[0].archived_at.getTime() - Date.now()) < 60_000);

    const [again] = await sql<{ archived: boolean }[]>`
      select pgmq.archive(${queue}::text, ${id}::bigint) as archived`;
    assert.equal(again.archived, false, "a message no longer in the queue cannot be archived");
  });
});

Deno.test("archive of an array returns the ids it moved", async () => {
  await withQueue(async (sql, queue) => {
    const a = await send(sql, queue, { n: 1 });
    const b = await send(sql, queue, { n: 2 });
    const missing = String(Number(b) + 1000);
    const moved = (await sql<{ id: string }[]>`
      select pgmq.archive(${queue}::text, ${`{${a},${b},${missing}}`}::bigint[]) as id`).map((r) =>
      r.id
    );
    assert.deepEqual([...moved].sort(), [a, b].sort());
    const [archived] = await sql<{ n: number }[]>`
      select count(*)::int as n from ${sql("pgmq")}.${sql(`a_${queue}`)}`;
    assert.equal(archived.n, 2);
  });
});

Deno.test("metrics counts visible and total messages", async () => {
  await withQueue(async (sql, queue) => {
    const ids = [];
    for (const n of [1, 2, 3]) ids.push(await send(sql, queue, { n }));
    await read(sql, queue, 30, 1);

    const [m] = await sql<MetricsRow[]>`select * from pgmq.metrics(${queue}::text)`;
    assert.equal(m.queue_name, queue);
    assert.equal(Number(m.queue_length), 3);
    assert.equal(Number(m.queue_visible_length), 2);
    assert.equal(Number(m.total_messages), 3);
    assert.ok(m.oldest_msg_age_sec !== null && m.oldest_msg_age_sec >= 0);
    assert.ok(m.newest_msg_age_sec !== null && m.newest_msg_age_sec <= m.oldest_msg_age_sec);
    assert.ok(m.scrape_time instanceof Date);

    await sql`select pgmq.delete(${queue}::text, ${ids[0]}::bigint)`;
    const [after] = await sql<MetricsRow[]>`select * from pgmq.metrics(${queue}::text)`;
    assert.equal(Number(after.queue_length), 2);
    assert.equal(Number(after.total_messages), 3, "total_messages counts every message ever sent");

    const all = await sql<
      MetricsRow[]
    >`select * from pgmq.metrics_all() where queue_name = ${queue}::text`;
    assert.equal(all.length, 1);
    assert.equal(Number(all[0].queue_length), 2);
  });
});

Deno.test("purge_queue returns how many it removed and leaves the archive alone", async () => {
  await withQueue(async (sql, queue) => {
    const kept = await send(sql, queue, { n: 0 });
    await sql`select pgmq.archive(${queue}::text, ${kept}::bigint)`;
    for (const n of [1, 2, 3, 4]) await send(sql, queue, { n });

    const [purged] = await sql<
      { removed: string }[]
    >`select pgmq.purge_queue(${queue}::text) as removed`;
    assert.equal(Number(purged.removed), 4);
    assert.equal((await read(sql, queue, 30, 10)).length, 0);
    const [archived] = await sql<{ n: number }[]>`
      select count(*)::int as n from ${sql("pgmq")}.${sql(`a_${queue}`)}`;
    assert.equal(archived.n, 1);
  });
});

Deno.test("drop_queue removes the queue's tables and its listing", async () => {
  const sql = connect();
  const queue = uniqueQueueName();
  try {
    await sql`select pgmq.create(${queue}::text)`;
    await send(sql, queue, { job: "gone" });
    const [dropped] = await sql<
      { dropped: boolean }[]
    >`select pgmq.drop_queue(${queue}::text) as dropped`;
    assert.equal(dropped.dropped, true);
    assert.equal(await tableExists(sql, `pgmq.q_${queue}`), false);
    assert.equal(await tableExists(sql, `pgmq.a_${queue}`), false);
    const listed = await sql`select 1 from pgmq.list_queues() where queue_name = ${queue}::text`;
    assert.equal(listed.length, 0);
  } finally {
    await endClient(sql);
  }
});

Deno.test("an uncast delay or msg_id argument is ambiguous across pgmq's overloads, so callers cast", async () => {
  await withQueue(async (sql, queue) => {
    // postgres.js sends JS numbers untyped: send(text, jsonb, ?) has integer, timestamptz and jsonb
    // candidates, delete(text, ?) has bigint and bigint[] ones.
    await assert.rejects(
      sql`select pgmq.send(${queue}::text, '{}'::jsonb, ${5})`,
      (e: { code?: string }) => e.code === "42725",
    );
    await assert.rejects(
      sql`select pgmq.delete(${queue}::text, ${1})`,
      (e: { code?: string }) => e.code === "42725",
    );
    // With the casts every call resolves.
    const [row] = await sql<
      { id: string }[]
    >`select pgmq.send(${queue}::text, '{}'::jsonb, ${5}::int) as id`;
    const [gone] = await sql<
      { ok: boolean }[]
    >`select pgmq.delete(${queue}::text, ${row.id}::bigint) as ok`;
    assert.equal(gone.ok, true);
  });
});
