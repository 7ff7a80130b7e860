/**
 * A TCP proxy in front of a cluster that ends chosen connections at the moment postgres.js reads
 * their array types (its own query, the first on every new connection): it answers that query
 * with the FATAL error a server shutting down sends (57P01) and closes the connection, as a
 * production project going down right then would. Every other byte passes unchanged.
 *
 *   const breaker = startTypeFetchBreaker({ upstreamPort: 54322, breaks: [1] });  // the first type fetch
 *   postgres(breaker.url(clusterUrl), { ... });   // then: await breaker.stop();
 */

export interface TypeFetchBreaker {
  port: number;
  /** `connectionString` with its host and port changed to the breaker's. */
  url(connectionString: string): string;
  /** The type fetches seen so far, and how many of them were broken. */
  seen(): number;
  broken(): number;
  stop(): Promise<void>;
}

const encoder = new TextEncoder();
/** A fragment of postgres.js's array-type query (its connection.js, `fetchArrayTypes`). */
const typeFetchMark = encoder.encode("typcategory = 'A'");

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** A backend ErrorResponse message: severity, SQLSTATE and message fields. */
function errorResponse(severity: string, code: string, message: string): Uint8Array {
  const fields = encoder.encode(`S${severity}\0V${severity}\0C${code}\0M${message}\0\0`);
  const out = new Uint8Array(5 + fields.length);
  out[0] = 0x45; // 'E'
  new DataView(out.buffer).setInt32(1, 4 + fields.length);
  out.set(fields, 5);
  return out;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await conn.write(data.subarray(written));
}

/** Starts the proxy on 127.0.0.1 (a free port); `breaks` numbers the type fetches to break, from 1. */
export function startTypeFetchBreaker(options: { upstreamPort: number; breaks: number[] }): TypeFetchBreaker {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const open = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  let seen = 0;
  let broken = 0;

  const closeQuietly = (conn: Deno.Conn) => {
    open.delete(conn);
    try {
      conn.close();
    } catch { /* already closed */ }
  };

  async function serve(client: Deno.Conn): Promise<void> {
    open.add(client);
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: options.upstreamPort });
    } catch {
      return closeQuietly(client);
    }
    open.add(upstream);
    const end = () => {
      closeQuietly(client);
      closeQuietly(upstream);
    };
    const toClient = (async () => {
      const buffer = new Uint8Array(64 * 1024);
      try {
        for (let n = await upstream.read(buffer); n !== null; n = await upstream.read(buffer)) {
          await writeAll(client, buffer.subarray(0, n));
        }
      } catch { /* either side closed */ }
      end();
    })();
    const buffer = new Uint8Array(64 * 1024);
    // The end of the previous chunk, so a mark split across two reads is still found.
    let tail = new Uint8Array(0);
    try {
      for (let n = await client.read(buffer); n !== null; n = await client.read(buffer)) {
        const chunk = buffer.slice(0, n);
        const window = new Uint8Array(tail.length + chunk.length);
        window.set(tail);
        window.set(chunk, tail.length);
        if (indexOf(window, typeFetchMark) >= 0) {
          seen += 1;
          if (options.breaks.includes(seen)) {
            broken += 1;
            await writeAll(client, errorResponse("FATAL", "57P01", "terminating connection due to administrator command"));
            break;
          }
        }
        tail = window.slice(Math.max(0, window.length - typeFetchMark.length));
        await writeAll(upstream, chunk);
      }
    } catch { /* either side closed */ }
    end();
    await toClient;
  }

  const accepting = (async () => {
    try {
      for await (const client of listener) {
        const task = serve(client).catch(() => {});
        tasks.add(task);
        task.finally(() => tasks.delete(task));
      }
    } catch { /* the listener closed */ }
  })();

  return {
    port,
    url(connectionString: string) {
      const url = new URL(connectionString);
      url.hostname = "127.0.0.1";
      url.port = String(port);
      return url.toString();
    },
    seen: () => seen,
    broken: () => broken,
    async stop() {
      try {
        listener.close();
      } catch { /* already closed */ }
      for (const conn of [...open]) closeQuietly(conn);
      await accepting;
      await Promise.all([...tasks]);
    },
  };
}
