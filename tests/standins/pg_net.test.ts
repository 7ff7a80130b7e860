/**
 * pg_net as the project uses it, checked against the database of the local stack. Only pg_net
 * 0.20's documented behaviour is asserted, so the same tests pass with the real extension (its
 * background worker sends the requests) and with the local stand-in
 * (scripts/local-stack/standins/pg_net.sql + the net dispatcher the stack runs).
 *
 * Each test runs its own HTTP server on 127.0.0.1, which the database server must reach.
 */
import assert from "node:assert/strict";
import { endClient } from "../support/connections.ts";
import postgres from "postgres";
import { stackEnv } from "../support/stack_env.ts";
import { pause, waitFor } from "../support/waiting.ts";

const { DB_URL } = stackEnv();

interface Received {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Headers;
  body: string;
}

interface TestServer {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/** A server that records every request and answers with `reply`. */
function startServer(
  reply: (request: Request) => Response | Promise<Response> = () => new Response("ok"),
): TestServer {
  const received: Received[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (request) => {
    const url = new URL(request.url);
    received.push({
      method: request.method,
      path: url.pathname,
      query: url.searchParams,
      headers: request.headers,
      body: await request.text(),
    });
    return reply(request);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    received,
    close: () => server.shutdown(),
  };
}

interface ResponseRow {
  id: string;
  status_code: number | null;
  content_type: string | null;
  headers: Record<string, string> | null;
  content: string | null;
  timed_out: boolean | null;
  error_msg: string | null;
}

async function responseOf(sql: postgres.Sql, id: string, timeoutMs = 10_000): Promise<ResponseRow> {
  return await waitFor(`the response of request ${id}`, async () => {
    const rows = await sql<ResponseRow[]>`
      select id, status_code, content_type, headers, content, timed_out, error_msg
        from net._http_response where id = ${id}`;
    return rows[0];
  }, timeoutMs);
}

/** A port nothing listens on: bound, then released. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Runs `body` with a connection to the stack's database and a test server, closing both. */
async function withStack(
  reply: Parameters<typeof startServer>[0],
  body: (sql: postgres.Sql, server: TestServer) => Promise<void>,
): Promise<void> {
  const sql = postgres(DB_URL, { max: 2, onnotice: () => {} });
  const server = startServer(reply);
  try {
    // Real pg_net and the stand-in both have it: fails fast when nothing would send requests.
    await sql`select net.check_worker_is_up()`;
    await body(sql, server);
  } finally {
    await server.close();
    await endClient(sql);
  }
}

Deno.test("a request leaves only after the calling transaction commits", async () => {
  await withStack(undefined, async (sql, server) => {
    const payload = { event: "committed", n: 1, nested: { ok: true } };
    await sql.begin(async (tx) => {
      await tx`
        select net.http_post(
          url := ${server.url + "/hook"},
          body := ${JSON.stringify(payload)}::text::jsonb,
          headers := '{"Content-Type": "application/json", "X-Conveyor-Test": "commit"}'::jsonb
        )`;
      await pause(500);
      assert.equal(server.received.length, 0, "nothing may be sent before the commit");
    });
    const request = await waitFor("the committed request", () => server.received[0]);
    assert.equal(request.method, "POST");
    assert.equal(request.path, "/hook");
    assert.deepEqual(JSON.parse(request.body), payload);
    assert.equal(request.headers.get("content-type"), "application/json");
    assert.equal(request.headers.get("x-conveyor-test"), "commit");
  });
});

Deno.test("http_post adds Content-Type: application/json when the headers omit it", async () => {
  await withStack(undefined, async (sql, server) => {
    await sql`
      select net.http_post(
        url := ${server.url + "/plain"},
        body := '{"a": 1}'::jsonb,
        headers := '{"Authorization": "Bearer not-a-real-key"}'::jsonb
      )`;
    const request = await waitFor("the request", () => server.received[0]);
    assert.equal(request.headers.get("content-type"), "application/json");
    assert.equal(request.headers.get("authorization"), "Bearer not-a-real-key");
    assert.deepEqual(JSON.parse(request.body), { a: 1 });
  });
});

Deno.test("a rolled-back request is never sent", async () => {
  await withStack(undefined, async (sql, server) => {
    let rolledBackId = "";
    await assert.rejects(
      sql.begin(async (tx) => {
        const [row] = await tx<{ id: string }[]>`
          select net.http_post(url := ${server.url + "/rolled-back"}, body := '{}'::jsonb) as id`;
        rolledBackId = row.id;
        throw new Error("roll back");
      }),
      /roll back/,
    );
    // A later committed request to the same server proves the sender has been round since.
    const [sentinel] = await sql<{ id: string }[]>`
      select net.http_post(url := ${server.url + "/sentinel"}, body := '{}'::jsonb) as id`;
    await waitFor(
      "the sentinel request",
      () => server.received.find((r) => r.path === "/sentinel"),
    );
    await responseOf(sql, sentinel.id);
    await pause(300);
    assert.deepEqual(server.received.map((r) => r.path), ["/sentinel"]);
    const [{ count }] = await sql<{ count: number }[]>`
      select count(*)::int as count from net._http_response where id = ${rolledBackId}`;
    assert.equal(count, 0, "a rolled-back request has no response");
  });
});

Deno.test("the response lands in net._http_response with status and body", async () => {
  const reply = () =>
    Response.json({ accepted: true, items: [1, 2] }, {
      status: 201,
      headers: { "X-Reply": "yes" },
    });
  await withStack(reply, async (sql, server) => {
    const [{ id }] = await sql<{ id: string }[]>`
      select net.http_post(url := ${server.url + "/ingest"}, body := '{"k": "v"}'::jsonb) as id`;
    const response = await responseOf(sql, id);
    assert.equal(response.status_code, 201);
    assert.equal(response.timed_out, false);
    assert.equal(response.error_msg, null);
    assert.match(response.content_type ?? "", /^application\/json/);
    assert.deepEqual(JSON.parse(response.content ?? "null"), { accepted: true, items: [1, 2] });
    const headers = Object.fromEntries(
      Object.entries(response.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]),
    );
    assert.equal(headers["x-reply"], "yes");
  });
});

Deno.test("a request slower than timeout_milliseconds is recorded as timed out", async () => {
  const reply = async (request: Request) => {
    await pause(3_000, request.signal);
    return new Response("too late");
  };
  await withStack(reply, async (sql, server) => {
    const [{ id }] = await sql<{ id: string }[]>`
      select net.http_get(url := ${server.url + "/slow"}, timeout_milliseconds := 200) as id`;
    const response = await responseOf(sql, id);
    // pg_net 0.20: timed_out is true, no status or content, and error_msg names the timeout.
    assert.equal(response.timed_out, true);
    assert.equal(response.status_code, null);
    assert.equal(response.content, null);
    assert.ok(
      response.error_msg?.startsWith("Timeout of 200 ms reached"),
      `unexpected error_msg: ${response.error_msg}`,
    );
  });
});

Deno.test("a connection refused is recorded with an error message", async () => {
  await withStack(undefined, async (sql) => {
    const url = `http://127.0.0.1:${closedPort()}/nobody-home`;
    const [{ id }] = await sql<{ id: string }[]>`select net.http_get(url := ${url}) as id`;
    const response = await responseOf(sql, id);
    assert.equal(response.status_code, null);
    assert.notEqual(response.timed_out, true);
    // libcurl's text; newer libcurl spells it "Could not".
    assert.ok(
      ["Couldn't connect to server", "Could not connect to server"].includes(
        response.error_msg ?? "",
      ),
      `unexpected error_msg: ${response.error_msg}`,
    );
  });
});

Deno.test("http_get sends params as a query string", async () => {
  await withStack(undefined, async (sql, server) => {
    await sql`
      select net.http_get(
        url := ${server.url + "/search?fixed=1"},
        params := '{"q": "a b&c=d", "lang": "en", "n": 5}'::jsonb
      )`;
    const request = await waitFor("the GET request", () => server.received[0]);
    assert.equal(request.method, "GET");
    assert.equal(request.path, "/search");
    assert.equal(request.query.get("fixed"), "1");
    assert.equal(request.query.get("q"), "a b&c=d");
    assert.equal(request.query.get("lang"), "en");
    assert.equal(request.query.get("n"), "5");
  });
});

Deno.test("http_delete sends a DELETE with its params", async () => {
  await withStack(() => new Response(null, { status: 204 }), async (sql, server) => {
    const [{ id }] = await sql<{ id: string }[]>`
      select net.http_delete(url := ${
      server.url + "/items/7"
    }, params := '{"hard": "true"}'::jsonb) as id`;
    const response = await responseOf(sql, id);
    assert.equal(response.status_code, 204);
    const request = server.received[0];
    assert.equal(request.method, "DELETE");
    assert.equal(request.path, "/items/7");
    assert.equal(request.query.get("hard"), "true");
  });
});
