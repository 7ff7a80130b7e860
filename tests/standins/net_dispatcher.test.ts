/**
 * The local net dispatcher (scripts/local-stack/net-dispatcher.ts), run in-process against the
 * stack's database. Stand-in only: skipped where the real pg_net is installed, since its worker
 * would take the requests. The stack's own dispatcher may run at the same time; the assertions
 * hold with any number of dispatchers.
 */
import assert from "node:assert/strict";
import { endClient } from "../support/connections.ts";
import postgres from "postgres";
import { stackEnv } from "../support/stack_env.ts";
import {
  curlStyleError,
  type DispatcherOptions,
  parseCli,
  runDispatcher,
  timeoutMessage,
} from "../../scripts/local-stack/net-dispatcher.ts";
import { pause, waitFor } from "../support/waiting.ts";

const { DB_URL } = stackEnv();

async function realPgNetInstalled(): Promise<boolean> {
  const sql = postgres(DB_URL, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql`select 1 from pg_catalog.pg_extension where extname = 'pg_net'`;
    return rows.length > 0;
  } finally {
    await endClient(sql);
  }
}

const realPgNet = await realPgNetInstalled();

/** An in-process dispatcher whose log lines are kept. */
function startDispatcher(overrides: Partial<DispatcherOptions> = {}) {
  const controller = new AbortController();
  const lines: Record<string, unknown>[] = [];
  const done = runDispatcher({
    dbUrl: DB_URL,
    signal: controller.signal,
    log: (line) => lines.push(line as Record<string, unknown>),
    ...overrides,
  });
  return {
    lines,
    sentIds: () => lines.filter((l) => l.msg === "net request").map((l) => String(l.id)),
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

async function connectionsNamed(sql: postgres.Sql, name: string): Promise<number> {
  const [{ count }] = await sql<{ count: number }[]>`
    select count(*)::int as count from pg_catalog.pg_stat_activity where application_name = ${name}`;
  return count;
}

Deno.test({
  name: "two dispatchers running at once never send a request twice",
  ignore: realPgNet,
  fn: async () => {
    const arrivals = new Map<string, number>();
    const server = Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen() {} },
      async (request) => {
        const path = new URL(request.url).pathname;
        arrivals.set(path, (arrivals.get(path) ?? 0) + 1);
        await request.arrayBuffer();
        await pause(5);
        return new Response("ok");
      },
    );
    const sql = postgres(DB_URL, { max: 1, onnotice: () => {} });
    const first = startDispatcher({ batchSize: 5, concurrency: 8 });
    const second = startDispatcher({ batchSize: 5, concurrency: 8 });
    try {
      const base = `http://127.0.0.1:${server.addr.port}/n/`;
      const rows = await sql<{ id: string }[]>`
        select net.http_post(url := ${base} || g, body := jsonb_build_object('n', g)) as id
          from generate_series(1, 50) as g`;
      const ids = rows.map((r) => r.id);
      assert.equal(ids.length, 50);

      await waitFor("50 responses", async () => {
        const [{ count }] = await sql<{ count: number }[]>`
          select count(*)::int as count from net._http_response where id = any(${ids}::bigint[])`;
        return count >= 50 ? count : undefined;
      });
      await pause(500); // room for a duplicate to show up

      assert.equal(arrivals.size, 50, "every request arrived");
      for (const [path, count] of arrivals) {
        assert.equal(count, 1, `${path} arrived ${count} times`);
      }
      const duplicates = await sql`
        select id from net._http_response where id = any(${ids}::bigint[]) group by id having count(*) > 1`;
      assert.equal(duplicates.length, 0, "one response row per request");
      const sentByUs = [...first.sentIds(), ...second.sentIds()];
      assert.equal(new Set(sentByUs).size, sentByUs.length, "no id sent by both dispatchers");
    } finally {
      await first.stop();
      await second.stop();
      await endClient(sql);
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "aborting a dispatcher lets in-flight requests finish, then closes its connections",
  ignore: realPgNet,
  fn: async () => {
    let received = 0;
    const server = Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen() {} },
      async (request) => {
        received++;
        await request.arrayBuffer();
        await pause(400, request.signal);
        return new Response("slow ok");
      },
    );
    const sql = postgres(DB_URL, { max: 1, onnotice: () => {} });
    const name = `pg_net worker (test ${crypto.randomUUID().slice(0, 8)})`;
    const dispatcher = startDispatcher({ applicationName: name });
    let stopped = false;
    try {
      await waitFor(
        "the dispatcher's connections",
        async () => (await connectionsNamed(sql, name)) > 0 ? true : undefined,
      );
      const rows = await sql<{ id: string }[]>`
        select net.http_get(url := ${`http://127.0.0.1:${server.addr.port}/slow/`} || g) as id
          from generate_series(1, 3) as g`;
      const ids = rows.map((r) => r.id);
      await waitFor("the requests to reach the server", () => (received >= 3 ? true : undefined));

      const startedStop = performance.now();
      await dispatcher.stop();
      stopped = true;
      assert.ok(
        performance.now() - startedStop < 5_000,
        "the stop takes no longer than the in-flight requests",
      );
      assert.equal(dispatcher.lines.at(-1)?.msg, "net dispatcher stopped");

      // Whatever this dispatcher had taken was finished and stored before it stopped.
      for (const id of dispatcher.sentIds()) {
        const found = await sql`select 1 from net._http_response where id = ${id}`;
        assert.equal(found.length, 1, `request ${id} has its response`);
      }
      await waitFor(
        "the dispatcher's connections to close",
        async () => (await connectionsNamed(sql, name)) === 0 ? true : undefined,
      );
      // Every request was answered, by this dispatcher or another one.
      await waitFor("all three responses", async () => {
        const [{ count }] = await sql<{ count: number }[]>`
          select count(*)::int as count from net._http_response where id = any(${ids}::bigint[])`;
        return count === 3 ? true : undefined;
      });
    } finally {
      if (!stopped) await dispatcher.stop();
      await endClient(sql);
      await server.shutdown();
    }
  },
});

Deno.test("the dispatcher's CLI takes --db-url or DB_URL", () => {
  const url = "postgresql://postgres:postgres@127.0.0.1:54322/postgres";
  assert.deepEqual(parseCli(["--db-url", url], {}), { dbUrl: url });
  assert.deepEqual(parseCli([`--db-url=${url}`], { DB_URL: "postgres://other/db" }), {
    dbUrl: url,
  });
  assert.deepEqual(parseCli([], { DB_URL: url }), { dbUrl: url });
  assert.throws(() => parseCli([], {}), /--db-url/);
  assert.throws(() => parseCli(["--db-url", "http://example.test"], {}), /postgres/);
  assert.throws(() => parseCli(["--verbose"], { DB_URL: url }), /unknown argument/);
});

Deno.test("failures are described in pg_net's words", () => {
  const refused = new TypeError(
    "error sending request for url (http://127.0.0.1:1/): client error (Connect): tcp connect error: " +
      "Connection refused (os error 111)",
  );
  assert.equal(curlStyleError(refused), "Couldn't connect to server");
  assert.equal(
    curlStyleError(
      new TypeError("client error (Connect): dns error: failed to lookup address information"),
    ),
    "Couldn't resolve host name",
  );
  assert.equal(
    curlStyleError(new TypeError("Url scheme 'ftp' not supported")),
    "Unsupported protocol",
  );
  assert.match(
    timeoutMessage(200, 201.5),
    /^Timeout of 200 ms reached\. Total time: 201\.500000 ms \(/,
  );
});
