/**
 * The way the sync engine reaches the production project in tests and the bench, against the
 * running stack: the latency proxy in front of the real cloud cluster (the round trip it adds,
 * bytes kept exactly both ways under COPY, many clients at once, a stop that leaves nothing
 * open), and the stack's own cloud pooler (pgbouncer, transaction mode, a strict pool of 2) and
 * cloud link (the proxy in front of the pooler), as `stack status` shows them.
 */
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import postgres from "postgres";
import { startLatencyProxy } from "../../scripts/local-stack/latency-proxy.ts";
import { endClient, withClient, withReserved } from "../support/connections.ts";
import { env, uniqueTag } from "../support/pipeline.ts";

const root = new URL("../../", import.meta.url).pathname;
const cloudPort = Number(new URL(env.CLOUD_DB_URL).port);

function client(url: string, options: postgres.Options<Record<string, postgres.PostgresType>> = {}) {
  return postgres(url, { max: 1, onnotice: () => {}, prepare: false, ...options });
}

type Sql = ReturnType<typeof client>;

/** The median of `rounds` simple-query round trips (`select 1`) on an open connection, in ms. */
async function medianRoundTrip(sql: Sql, rounds = 7): Promise<number> {
  await sql.unsafe("select 1"); // connected
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const started = performance.now();
    await sql.unsafe("select 1");
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return all;
}

/** `copy (...) to stdout`'s bytes, as the client received them. */
async function copyOut(sql: Sql, query: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const stream = await sql.unsafe(query).readable();
  for await (const chunk of stream) chunks.push(new Uint8Array(chunk as Uint8Array));
  return concat(chunks);
}

/** What `stack status --json` says about the running stack. */
async function stackStatus(): Promise<{
  code: number;
  status: { parts: { part: string; up: boolean; detail: string }[]; cloudLink: { delayMs: number; bandwidthBytesPerSecond: number | null; port: number } | null };
  text: string;
}> {
  const run = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `--config=${root}deno.json`, `${root}scripts/stack.ts`, ...args],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
      signal: AbortSignal.timeout(60_000),
    }).output();
  const [json, text] = await Promise.all([run(["status", "--json"]), run(["status"])]);
  return {
    code: json.code,
    status: JSON.parse(new TextDecoder().decode(json.stdout)),
    text: new TextDecoder().decode(text.stdout),
  };
}

Deno.test("a select through the proxy at 40 ms each way takes one 80 ms round trip more than direct, not much more", async () => {
  const proxy = await startLatencyProxy({ upstreamPort: cloudPort, delayMs: 40 });
  try {
    const direct = await withClient(() => client(env.CLOUD_DB_URL), (sql) => medianRoundTrip(sql));
    const linked = await withClient(() => client(proxy.url(env.CLOUD_DB_URL)), (sql) => medianRoundTrip(sql));
    assert.ok(linked >= 80, `through the proxy ${linked.toFixed(1)} ms (direct ${direct.toFixed(1)} ms)`);
    assert.ok(linked <= direct + 80 + 30, `through the proxy ${linked.toFixed(1)} ms (direct ${direct.toFixed(1)} ms)`);
  } finally {
    await proxy.stop();
  }
});

Deno.test("COPY out of the cloud through the proxy gives the same bytes as direct, a few MB of them", async () => {
  const proxy = await startLatencyProxy({ upstreamPort: cloudPort, delayMs: 5 });
  // text with every byte sequence COPY escapes, a few MB in all
  const query = `copy (
      select g, md5(g::text) || E'\\t\\\\\\n' || repeat(chr(1040 + g % 32), 20), g * 1.5, now()::date
        from generate_series(1, 40000) as g
    ) to stdout`;
  try {
    const direct = await withClient(() => client(env.CLOUD_DB_URL), (sql) => copyOut(sql, query));
    const linked = await withClient(() => client(proxy.url(env.CLOUD_DB_URL)), (sql) => copyOut(sql, query));
    assert.ok(direct.length > 3_000_000, `${direct.length} bytes`);
    assert.equal(linked.length, direct.length);
    assert.equal(await sha256Hex(linked), await sha256Hex(direct));
    assert.ok(proxy.stats().bytesToClients > direct.length, "the proxy counted what it delivered");
  } finally {
    await proxy.stop();
  }
});

Deno.test("COPY into the cloud through the proxy stores exactly the bytes sent, as the database hashes them", async () => {
  const proxy = await startLatencyProxy({ upstreamPort: cloudPort, delayMs: 5 });
  const encoder = new TextEncoder();
  const lines: Uint8Array[] = [];
  for (let n = 1; n <= 30_000; n++) {
    lines.push(encoder.encode(`${n}\t${crypto.randomUUID()} ${"ж".repeat(n % 50)} ${"x".repeat(n % 40)}\n`));
  }
  const payload = concat(lines);
  try {
    const stored = await withClient(() => client(proxy.url(env.CLOUD_DB_URL)), (sql) =>
      withReserved(sql, async (conn) => {
        await conn`create temporary table copied (n int primary key, line text not null)`;
        const sink = await conn`copy copied (n, line) from stdin`.writable();
        await pipeline(Readable.from(lines.map((l) => Buffer.from(l))), sink);
        const [row] = await conn<{ rows: number; hash: string }[]>`
          select count(*)::int as rows,
                 encode(sha256(convert_to(string_agg(n || E'\\t' || line || E'\\n', '' order by n), 'UTF8')), 'hex') as hash
            from copied`;
        await conn`drop table copied`;
        return row;
      }));
    assert.ok(payload.length > 2_000_000, `${payload.length} bytes`);
    assert.equal(stored.rows, 30_000);
    assert.equal(stored.hash, await sha256Hex(payload));
  } finally {
    await proxy.stop();
  }
});

Deno.test("20 database clients through the proxy at once each get their own answer, in parallel", async () => {
  const proxy = await startLatencyProxy({ upstreamPort: cloudPort, delayMs: 20 });
  const clients = Array.from({ length: 20 }, () => client(proxy.url(env.CLOUD_DB_URL)));
  try {
    const started = performance.now();
    const answers = await Promise.all(clients.map(async (sql, i) => {
      const [row] = await sql<{ i: number }[]>`select ${i}::int as i, pg_sleep(0.3)`;
      return row.i;
    }));
    const elapsed = performance.now() - started;
    assert.deepEqual(answers, Array.from({ length: 20 }, (_, i) => i));
    assert.ok(elapsed < 20 * 300 / 2, `20 clients took ${elapsed.toFixed(0)} ms`);
    assert.ok(proxy.stats().connectionsAccepted >= 20);
  } finally {
    await Promise.all(clients.map((sql) => endClient(sql)));
    await proxy.stop();
  }
});

Deno.test("stop() ends the database sessions through the proxy, and the server sees them go", async () => {
  const proxy = await startLatencyProxy({ upstreamPort: cloudPort, delayMs: 5 });
  const tag = uniqueTag("proxy-stop");
  const sql = client(proxy.url(env.CLOUD_DB_URL), { connection: { application_name: tag } });
  try {
    await sql`select 1`;
    const sessions = () =>
      withClient(() => client(env.CLOUD_DB_URL), async (direct) => {
        const [row] = await direct<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where application_name = ${tag}`;
        return row.n;
      });
    assert.equal(await sessions(), 1);
    await proxy.stop();
    await assert.rejects(sql`select 1`, "the client's connection is gone");
    let left = 1;
    for (let i = 0; i < 50 && left > 0; i++) {
      left = await sessions();
      if (left > 0) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(left, 0, "the server's session ended");
  } finally {
    await endClient(sql, 1);
    await proxy.stop();
  }
});

Deno.test("the stack's cloud pooler answers without prepared statements and holds at most 2 server connections", async () => {
  assert.match(env.CLOUD_POOLER_URL, /^postgresql:\/\/.+:\d+\/postgres$/);
  assert.notEqual(new URL(env.CLOUD_POOLER_URL).port, String(cloudPort), "not the cloud cluster itself");
  const tag = uniqueTag("pooler");
  const clients = Array.from({ length: 5 }, () => client(env.CLOUD_POOLER_URL));
  const observer = client(env.CLOUD_DB_URL);
  try {
    const [row] = await clients[0]<{ sum: number; name: string }[]>`select ${2}::int + ${3}::int as sum, ${tag}::text as name`;
    assert.deepEqual(row, { sum: 5, name: tag });

    let most = 0;
    let running = true;
    const watching = (async () => {
      while (running) {
        const [{ n }] = await observer<{ n: number }[]>`
          select count(*)::int as n from pg_stat_activity where state = 'active' and query like ${`%${tag}-sleep%`} and pid <> pg_backend_pid()`;
        most = Math.max(most, n);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const started = performance.now();
    try {
      await Promise.all(clients.map((sql) => sql.unsafe(`select pg_sleep(0.4), '${tag}-sleep'`)));
    } finally {
      running = false;
      await watching;
    }
    const elapsed = performance.now() - started;
    assert.equal(most, 2, "two server connections worked at once, never more");
    // 5 clients, 2 at a time: three waves of 0.4 s
    assert.ok(elapsed >= 1150, `5 sleeps of 0.4 s took ${elapsed.toFixed(0)} ms: they queued`);
  } finally {
    await Promise.all([...clients, observer].map((sql) => endClient(sql)));
  }
});

Deno.test("stack status shows the cloud pooler and the cloud link, and the link adds its round trip in front of the pooler", async () => {
  const { code, status, text } = await stackStatus();
  assert.equal(code, 0, text);
  const part = (name: string) => status.parts.find((p) => p.part === name);
  assert.equal(part("cloud pooler")?.up, true, text);
  assert.equal(part("cloud link")?.up, true, text);
  assert.match(text, new RegExp(`cloud pooler\\s+up\\s+${env.CLOUD_POOLER_URL.replace(/[.?]/g, "\\$&")}: pgbouncer, transaction mode, pool 2 \\(pid \\d+\\)`));
  assert.match(text, /cloud link\s+up\s+\S+: \d+(\.\d+)? ms each way \(\d+(\.\d+)? ms round trip\), .*to the cloud pooler \(pid \d+\)/);
  const link = status.cloudLink;
  assert.ok(link, JSON.stringify(status));
  assert.equal(String(link.port), new URL(env.CLOUD_LINK_URL).port);

  const pooled = await withClient(() => client(env.CLOUD_POOLER_URL), (sql) => medianRoundTrip(sql, 5));
  const linked = await withClient(() => client(env.CLOUD_LINK_URL), async (sql) => {
    const [row] = await sql<{ server: string }[]>`select current_setting('server_version') as server`;
    assert.match(row.server, /^15/);
    return medianRoundTrip(sql, 5);
  });
  assert.ok(linked >= 2 * link.delayMs, `through the link ${linked.toFixed(1)} ms at ${link.delayMs} ms each way`);
  assert.ok(linked <= pooled + 2 * link.delayMs + 30, `through the link ${linked.toFixed(1)} ms, the pooler ${pooled.toFixed(1)} ms`);
});
