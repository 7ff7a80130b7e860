/**
 * The latency proxy (scripts/local-stack/latency-proxy.ts) over plain TCP, in this process, with
 * no database: the token bucket's schedule, bandwidths as people write them, the delay added to a
 * round trip, a delay line that keeps order and throughput, the bandwidth cap, many connections
 * at once, half-closes, and a stop that leaves nothing open (Deno's sanitizers check that).
 */
import assert from "node:assert/strict";
import {
  describeLink,
  parseBandwidth,
  startLatencyProxy,
  TokenBucket,
} from "../../scripts/local-stack/latency-proxy.ts";

/** A TCP echo server on 127.0.0.1; `stop()` closes it and every connection it holds. */
function startEchoServer() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const echo = async (conn: Deno.Conn) => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await conn.read(buffer);
        if (n === null) break;
        let written = 0;
        while (written < n) written += await conn.write(buffer.subarray(written, n));
      }
    } catch { /* closed by stop() */ } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  };
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        conns.add(conn);
        const task = echo(conn);
        tasks.add(task);
        task.finally(() => tasks.delete(task));
      }
    } catch { /* closed */ }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async stop() {
      listener.close();
      await accepting;
      for (const conn of conns) {
        try {
          conn.close();
        } catch { /* already closed */ }
      }
      await Promise.all([...tasks]);
    },
  };
}

/** A server that sends `bytes` pseudo-random bytes to each client, then closes. */
function startSender(payload: Uint8Array) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const tasks = new Set<Promise<void>>();
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        const task = (async () => {
          try {
            let written = 0;
            while (written < payload.length) written += await conn.write(payload.subarray(written));
          } catch { /* the client went away */ } finally {
            conn.close();
          }
        })();
        tasks.add(task);
        task.finally(() => tasks.delete(task));
      }
    } catch { /* closed */ }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async stop() {
      listener.close();
      await accepting;
      await Promise.all([...tasks]);
    },
  };
}

function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65536) {
    crypto.getRandomValues(bytes.subarray(offset, Math.min(length, offset + 65536)));
  }
  return bytes;
}

async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buffer = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await conn.read(buffer);
    if (n === null) break;
    parts.push(buffer.slice(0, n));
  }
  const all = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  return all;
}

async function readExactly(conn: Deno.Conn, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let offset = 0;
  while (offset < length) {
    const n = await conn.read(out.subarray(offset));
    if (n === null) throw new Error(`connection closed after ${offset} of ${length} bytes`);
    offset += n;
  }
  return out;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await conn.write(data.subarray(written));
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Milliseconds from a write of `probe` to its whole echo, on an open connection. */
async function roundTrip(conn: Deno.Conn, probe = new Uint8Array([1, 2, 3, 4])): Promise<number> {
  const started = performance.now();
  await writeAll(conn, probe);
  assert.deepEqual(await readExactly(conn, probe.length), probe);
  return performance.now() - started;
}

Deno.test("a full token bucket lets its burst go at once, then one byte per 1/rate", () => {
  const bucket = new TokenBucket(1000, 100); // 1000 bytes/s: 1 ms a byte, 100 bytes at once
  assert.equal(bucket.departure(0, 100), 0, "the burst leaves at once");
  assert.equal(bucket.departure(0, 50), 50, "then 50 bytes wait 50 ms");
  assert.equal(bucket.departure(0, 50), 100);
  assert.equal(bucket.departure(1000, 100), 1000, "refilled after an idle second");
});

Deno.test("a token bucket holds a long transfer to its rate", () => {
  const bucket = new TokenBucket(2_000_000, 64 * 1024);
  let last = 0;
  for (let sent = 0; sent < 5_000_000; sent += 65536) last = bucket.departure(0, 65536);
  // 5 MB at 2 MB/s is 2.5 s, less the burst that goes at once
  assert.ok(last >= 2_500 - 40 && last <= 2_540, `the last chunk leaves at ${last} ms`);
});

Deno.test("a token bucket refuses a rate that is not a positive number", () => {
  assert.throws(() => new TokenBucket(0), /bandwidth: 0 bytes\/s/);
  assert.throws(() => new TokenBucket(Number.NaN), /bandwidth/);
});

Deno.test("bandwidths are read as people write them, in bytes per second", () => {
  assert.equal(parseBandwidth("6250000"), 6_250_000);
  assert.equal(parseBandwidth("50mbit"), 6_250_000);
  assert.equal(parseBandwidth("50 Mbit/s"), 6_250_000);
  assert.equal(parseBandwidth("2MB"), 2_000_000);
  assert.equal(parseBandwidth("512kB/s"), 512_000);
  assert.equal(parseBandwidth("1gbit"), 125_000_000);
  assert.throws(() => parseBandwidth("fast"), /bandwidth "fast": give bytes per second/);
  assert.throws(() => parseBandwidth("10 parsecs"), /bandwidth "10 parsecs"/);
  assert.throws(() => parseBandwidth("0"), /at least 1 byte per second/);
});

Deno.test("a link is described by its delay each way, its round trip and its cap", () => {
  assert.equal(describeLink(40), "40 ms each way (80 ms round trip), bandwidth unlimited");
  assert.equal(describeLink(25, 6_250_000), "25 ms each way (50 ms round trip), capped at 6250000 bytes/s (50 Mbit/s) each way");
});

Deno.test("the proxy refuses options that are not numbers of the right kind, naming the field", async () => {
  await assert.rejects(startLatencyProxy({ upstreamPort: 0, delayMs: 1 }), /latency proxy: upstreamPort:/);
  await assert.rejects(startLatencyProxy({ upstreamPort: 5432, delayMs: -1 }), /latency proxy: delayMs:/);
  await assert.rejects(
    startLatencyProxy({ upstreamPort: 5432, delayMs: 1, bandwidthBytesPerSecond: 0 }),
    /latency proxy: bandwidthBytesPerSecond:/,
  );
});

Deno.test("a round trip through the proxy takes twice the one-way delay, and a new connection one more", async () => {
  const echo = startEchoServer();
  const proxy = await startLatencyProxy({ upstreamPort: echo.port, delayMs: 40 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
  try {
    const first = await roundTrip(conn);
    // the handshake's round trip, then the probe's
    assert.ok(first >= 2 * 80 - 2 && first < 2 * 80 + 40, `the first round trip includes the handshake's: ${first.toFixed(1)} ms`);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) times.push(await roundTrip(conn));
    times.sort((a, b) => a - b);
    assert.ok(times[0] >= 80 - 1, `round trips ${times.map((t) => t.toFixed(1)).join(", ")} ms: at least 80`);
    assert.ok(times[2] < 80 + 40, `round trips ${times.map((t) => t.toFixed(1)).join(", ")} ms: not much more than 80`);
  } finally {
    conn.close();
    await proxy.stop();
    await echo.stop();
  }
});

Deno.test("the proxy is a delay line: chunks sent 10 ms apart arrive 10 ms apart, each one delay late", async () => {
  const echo = startEchoServer();
  const proxy = await startLatencyProxy({ upstreamPort: echo.port, delayMs: 50 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
  try {
    await roundTrip(conn); // past the handshake
    const sent: number[] = [];
    const writing = (async () => {
      for (let i = 0; i < 10; i++) {
        sent.push(performance.now());
        await writeAll(conn, new Uint8Array([i]));
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const arrived: number[] = [];
    for (let i = 0; i < 10; i++) {
      assert.deepEqual(await readExactly(conn, 1), new Uint8Array([i]), "in order");
      arrived.push(performance.now());
    }
    await writing;
    const lags = arrived.map((t, i) => t - sent[i]);
    // A sleep per chunk would make the tenth arrive ten round trips (1,000 ms) late; a delay line,
    // one round trip late. The upper bound leaves room for a loaded machine's timers.
    for (const lag of lags) assert.ok(lag >= 100 - 1 && lag < 100 + 150, `lags ${lags.map((l) => l.toFixed(0)).join(", ")} ms`);
  } finally {
    conn.close();
    await proxy.stop();
    await echo.stop();
  }
});

Deno.test("8 MB go through the proxy both ways byte for byte, and the stats count them", async () => {
  const echo = startEchoServer();
  const proxy = await startLatencyProxy({ upstreamPort: echo.port, delayMs: 5 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
  try {
    const payload = randomBytes(8 * 1024 * 1024);
    const [, echoed] = await Promise.all([writeAll(conn, payload), readExactly(conn, payload.length)]);
    assert.equal(await sha256(echoed), await sha256(payload));
    const stats = proxy.stats();
    assert.equal(stats.bytesToUpstream, payload.length);
    assert.equal(stats.bytesToClients, payload.length);
    assert.equal(stats.connectionsAccepted, 1);
    assert.equal(stats.connectionsOpen, 1);
  } finally {
    conn.close();
    await proxy.stop();
    await echo.stop();
  }
});

Deno.test("with the bandwidth capped at 2 MB/s, 5 MB take at least 2.3 s; uncapped, far less", async () => {
  const payload = randomBytes(5_000_000);
  const sender = startSender(payload);
  const timeTransfer = async (bandwidthBytesPerSecond?: number) => {
    const proxy = await startLatencyProxy({ upstreamPort: sender.port, delayMs: 10, bandwidthBytesPerSecond });
    try {
      const started = performance.now();
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
      let received: Uint8Array;
      try {
        received = await readAll(conn);
      } finally {
        conn.close();
      }
      const seconds = (performance.now() - started) / 1000;
      assert.equal(await sha256(received), await sha256(payload), "the same bytes");
      return seconds;
    } finally {
      await proxy.stop();
    }
  };
  try {
    const capped = await timeTransfer(2_000_000);
    assert.ok(capped >= 2.3, `5 MB at 2 MB/s took ${capped.toFixed(2)} s`);
    assert.ok(capped < 4, `5 MB at 2 MB/s took ${capped.toFixed(2)} s: not much more than 2.5`);
    const free = await timeTransfer();
    assert.ok(free < 1, `5 MB uncapped took ${free.toFixed(2)} s`);
  } finally {
    await sender.stop();
  }
});

Deno.test("20 connections at once each get their own bytes back, in parallel, not one after another", async () => {
  const echo = startEchoServer();
  const proxy = await startLatencyProxy({ upstreamPort: echo.port, delayMs: 30 });
  const conns: Deno.Conn[] = [];
  try {
    const started = performance.now();
    for (let i = 0; i < 20; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port: proxy.port }));
    await Promise.all(conns.map(async (conn, i) => {
      for (let round = 0; round < 3; round++) {
        const probe = randomBytes(1000 + i * 100);
        await writeAll(conn, probe);
        assert.deepEqual(await readExactly(conn, probe.length), probe, `connection ${i}, round ${round}`);
      }
    }));
    const elapsed = performance.now() - started;
    // each connection: handshake (60) + 3 round trips (60 each) = 240 ms; one after another: 20 times that
    assert.ok(elapsed < 240 * 3, `20 connections took ${elapsed.toFixed(0)} ms`);
    assert.equal(proxy.stats().connectionsOpen, 20);
  } finally {
    for (const conn of conns) conn.close();
    await proxy.stop();
    await echo.stop();
  }
});

Deno.test("a client that closes its side still gets the answer to what it sent, then the close", async () => {
  const echo = startEchoServer();
  const proxy = await startLatencyProxy({ upstreamPort: echo.port, delayMs: 20 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
  try {
    const probe = randomBytes(100_000);
    await writeAll(conn, probe);
    await conn.closeWrite();
    const answer = await readAll(conn); // ends when the echo server, seeing the end, closes
    assert.equal(await sha256(answer), await sha256(probe));
    for (let i = 0; i < 100 && proxy.stats().connectionsOpen > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(proxy.stats().connectionsOpen, 0, "both sides closed, the connection is gone");
  } finally {
    conn.close();
    await proxy.stop();
    await echo.stop();
  }
});

Deno.test("stop() closes the listener and every open connection, both sides", async () => {
  const echo = startEchoServer();
  const proxy = await startLatencyProxy({ upstreamPort: echo.port, delayMs: 10 });
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 3; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port: proxy.port }));
    for (const conn of conns) await roundTrip(conn);
    await proxy.stop();
    for (const conn of conns) {
      const n = await conn.read(new Uint8Array(16)).catch(() => null);
      assert.equal(n, null, "the client sees its connection closed");
    }
    await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: proxy.port }), Deno.errors.ConnectionRefused);
    await proxy.stop(); // a second stop is harmless
  } finally {
    for (const conn of conns) conn.close();
    await proxy.stop();
    await echo.stop();
  }
});

Deno.test("a client whose upstream cannot be reached is closed, and the proxy keeps serving", async () => {
  const nowhere = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (nowhere.addr as Deno.NetAddr).port;
  nowhere.close();
  const proxy = await startLatencyProxy({ upstreamPort: port, delayMs: 1 });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port });
    try {
      assert.equal(await conn.read(new Uint8Array(16)).catch(() => null), null);
    } finally {
      conn.close();
    }
    assert.equal(proxy.stats().connectionsAccepted, 1);
  } finally {
    await proxy.stop();
  }
});

Deno.test("url() points a connection string at the proxy, keeping user, password, database and options", async () => {
  const echo = startEchoServer();
  const proxy = await startLatencyProxy({ upstreamPort: echo.port, delayMs: 0 });
  try {
    assert.equal(
      proxy.url("postgresql://postgres:p%40ss@db.example.com:6543/postgres?sslmode=disable"),
      `postgresql://postgres:p%40ss@127.0.0.1:${proxy.port}/postgres?sslmode=disable`,
    );
  } finally {
    await proxy.stop();
    await echo.stop();
  }
});

Deno.test("deno task latency-proxy prints usage on --help, and a bad bandwidth in one line naming the flag", async () => {
  const run = async (args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../../scripts/local-stack/latency-proxy.ts", import.meta.url).pathname, ...args],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
  };
  const help = await run(["--help"]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^Usage: deno task latency-proxy /);
  assert.match(help.stdout, /--delay-ms <ms>/);
  const bad = await run(["--upstream-port", "5432", "--bandwidth", "fast"]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
  assert.match(bad.stderr, /^latency-proxy: --bandwidth: bandwidth "fast"/);
});
