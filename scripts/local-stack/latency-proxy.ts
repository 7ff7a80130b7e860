/**
 * A slow link, written in the project: a TCP proxy on 127.0.0.1 that forwards to an upstream
 * host:port and delays every byte by the same one-way delay in each direction, optionally with
 * each direction's bandwidth capped. It stands for the link between a home working database and
 * the production project (50-100 ms round trip, a slow uplink) in the sync tests and the bench.
 *
 * - A delay line, not a sleep per chunk: a chunk read at t is written at t + delay whatever else
 *   is in flight, so order and throughput are kept (40 ms each way = 80 ms round trip).
 * - A new connection costs one round trip before its first bytes go out, as TCP's handshake does.
 * - The bandwidth cap is a token bucket per direction, shared by every connection through the
 *   proxy (one uplink): a chunk leaves when the bucket holds its bytes, then takes the delay.
 * - At most `maxInFlightBytes` per direction of a connection wait in the proxy (a TCP window);
 *   beyond that it stops reading, and the sender's socket fills.
 * - When one side closes, the other is half-closed once the bytes before the close are
 *   delivered; when both have closed (or either fails), both sockets are closed.
 * - It logs nothing per byte or per connection; `stats()` counts.
 *
 *   const link = await startLatencyProxy({ upstreamPort: 6432, delayMs: 40 });
 *   postgres(link.url(poolerUrl), { prepare: false });   // then: await link.stop();
 *
 * As a program (the stack's `cloud link` service):
 *   deno task latency-proxy --upstream-port 6432 --port 54424 --delay-ms 40 [--bandwidth 50mbit]
 */
import { z } from "zod";

export interface LatencyProxyOptions {
  /** Where the bytes go: the upstream's port (and host, default 127.0.0.1). */
  upstreamPort: number;
  upstreamHost?: string;
  /** One-way delay in milliseconds, added in each direction. */
  delayMs: number;
  /** Cap per direction in bytes per second, shared by all connections; unset: unlimited. */
  bandwidthBytesPerSecond?: number;
  /** The token bucket's size in bytes (how much may leave at once); default 64 KiB. */
  burstBytes?: number;
  /** The port to listen on (127.0.0.1); default: a free one. */
  port?: number;
  /** Bytes per direction of one connection held in the proxy before it stops reading; default 16 MiB. */
  maxInFlightBytes?: number;
}

export interface LatencyProxyStats {
  connectionsAccepted: number;
  connectionsOpen: number;
  /** Bytes delivered to the upstream (client to server) and to the clients (server to client). */
  bytesToUpstream: number;
  bytesToClients: number;
}

export interface LatencyProxy {
  /** The port it listens on, at 127.0.0.1. */
  port: number;
  /** `connectionString` (a postgresql:// URL of the upstream) with its host and port changed to the proxy's. */
  url(connectionString: string): string;
  stats(): LatencyProxyStats;
  /** Stops listening and closes every connection (both sides); resolves when all are closed. */
  stop(): Promise<void>;
}

const defaultBurstBytes = 64 * 1024;
const defaultMaxInFlightBytes = 16 * 1024 * 1024;
const readSize = 64 * 1024;

/**
 * A token bucket as a schedule (GCRA): `departure(now, bytes)` is when `bytes` may leave, given
 * every earlier call. Pure arithmetic on the times it is given; times in milliseconds.
 */
export class TokenBucket {
  /** The time at which the bucket would be full again. */
  #fullAt = -Infinity;
  readonly #msPerByte: number;
  readonly #burstMs: number;

  constructor(readonly bytesPerSecond: number, readonly burstBytes: number = defaultBurstBytes) {
    if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) {
      throw new Error(`bandwidth: ${bytesPerSecond} bytes/s is not a positive number`);
    }
    if (!(burstBytes > 0)) throw new Error(`burst: ${burstBytes} bytes is not a positive number`);
    this.#msPerByte = 1000 / bytesPerSecond;
    this.#burstMs = burstBytes * this.#msPerByte;
  }

  departure(now: number, bytes: number): number {
    this.#fullAt = Math.max(now, this.#fullAt) + bytes * this.#msPerByte;
    return Math.max(now, this.#fullAt - this.#burstMs);
  }
}

const bandwidthUnits: Record<string, number> = {
  "": 1,
  "b": 1,
  "kb": 1e3,
  "mb": 1e6,
  "gb": 1e9,
  "kbit": 1e3 / 8,
  "mbit": 1e6 / 8,
  "gbit": 1e9 / 8,
};

/**
 * A bandwidth as people write it, in bytes per second: `6250000`, `2MB` (bytes, decimal),
 * `50mbit` (bits); case and a trailing `/s` do not matter. Throws naming the value otherwise.
 */
export function parseBandwidth(text: string): number {
  const match = text.trim().toLowerCase().match(/^(\d+(?:\.\d+)?)\s*([a-z]*)(?:\/s|ps)?$/);
  const unit = match ? bandwidthUnits[match[2]] : undefined;
  if (!match || unit === undefined) {
    throw new Error(
      `bandwidth "${text}": give bytes per second (6250000), or a number with kB, MB, GB (bytes) or kbit, mbit, gbit (bits)`,
    );
  }
  const bytes = Math.round(Number(match[1]) * unit);
  if (bytes < 1) throw new Error(`bandwidth "${text}": must be at least 1 byte per second`);
  return bytes;
}

/** A promise that `notify()` resolves; each `wait()` after a `notify()` waits for the next one. */
class Wakeup {
  #resolve?: () => void;
  #promise?: Promise<void>;
  wait(): Promise<void> {
    this.#promise ??= new Promise((resolve) => (this.#resolve = resolve));
    return this.#promise;
  }
  notify(): void {
    this.#resolve?.();
    this.#resolve = undefined;
    this.#promise = undefined;
  }
}

/** Resolves at `performance.now() >= at`, or as soon as `signal` aborts; leaves no timer behind. */
function sleepUntil(at: number, signal: AbortSignal): Promise<void> {
  const ms = at - performance.now();
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, Math.ceil(ms));
    signal.addEventListener("abort", done, { once: true });
  });
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let written = 0;
  while (written < data.length) written += await conn.write(data.subarray(written));
}

interface Chunk {
  /** null: the sender closed its side. */
  data: Uint8Array | null;
  /** When to write it (performance.now() milliseconds). */
  at: number;
}

interface Direction {
  from: Deno.Conn;
  to: Deno.Conn;
  bucket?: TokenBucket;
  /** Not before this time is anything read (the handshake's round trip). */
  startAt: number;
  count(bytes: number): void;
}

/** One client connection and its upstream connection, with a delay line each way. */
class ProxiedConnection {
  readonly #abort = new AbortController();
  #closed = false;

  constructor(
    readonly client: Deno.Conn,
    readonly upstream: Deno.Conn,
    readonly delayMs: number,
    readonly maxInFlightBytes: number,
  ) {}

  /** Runs both directions until both ends have closed or either failed, then closes both sockets. */
  async run(up: Omit<Direction, "from" | "to">, down: Omit<Direction, "from" | "to">): Promise<void> {
    const toUpstream = this.#pump({ ...up, from: this.client, to: this.upstream });
    const toClient = this.#pump({ ...down, from: this.upstream, to: this.client });
    await Promise.all([toUpstream, toClient]);
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    for (const conn of [this.client, this.upstream]) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
  }

  /** Reads from one side into a queue and writes each chunk to the other at its time. */
  async #pump(direction: Direction): Promise<void> {
    const signal = this.#abort.signal;
    const queue: Chunk[] = [];
    let queuedBytes = 0;
    const arrived = new Wakeup();
    const drained = new Wakeup();
    signal.addEventListener("abort", () => {
      arrived.notify();
      drained.notify();
    }, { once: true });

    const read = async () => {
      await sleepUntil(direction.startAt, signal);
      const buffer = new Uint8Array(readSize);
      while (!signal.aborted) {
        const n = await direction.from.read(buffer);
        const now = performance.now();
        if (n === null) {
          queue.push({ data: null, at: now + this.delayMs });
          arrived.notify();
          return;
        }
        const leaves = direction.bucket ? direction.bucket.departure(now, n) : now;
        queue.push({ data: buffer.slice(0, n), at: leaves + this.delayMs });
        queuedBytes += n;
        arrived.notify();
        while (queuedBytes > this.maxInFlightBytes && !signal.aborted) await drained.wait();
      }
    };

    const write = async () => {
      while (!signal.aborted) {
        const head = queue[0];
        if (!head) {
          await arrived.wait();
          continue;
        }
        await sleepUntil(head.at, signal);
        if (signal.aborted) return;
        queue.shift();
        if (head.data === null) {
          await direction.to.closeWrite();
          return;
        }
        await writeAll(direction.to, head.data);
        queuedBytes -= head.data.length;
        direction.count(head.data.length);
        if (queuedBytes <= this.maxInFlightBytes) drained.notify();
      }
    };

    // A failure either way (a reset, a write to a closed socket, our own close) ends the connection.
    const fail = () => this.close();
    await Promise.all([read().catch(fail), write().catch(fail)]);
  }
}

/**
 * Listens on 127.0.0.1:port; a fixed port in Linux's ephemeral range may be held for a moment by
 * some client connection's local end, so an address in use is tried again for about two seconds.
 */
async function listenRetrying(port: number): Promise<Deno.TcpListener> {
  for (let attempt = 1; ; attempt++) {
    try {
      return Deno.listen({ hostname: "127.0.0.1", port });
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse) || port === 0 || attempt >= 10) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** Starts the proxy; it listens once this resolves. */
export async function startLatencyProxy(options: LatencyProxyOptions): Promise<LatencyProxy> {
  const parsed = latencyProxyOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`latency proxy: ${issue.path.join(".")}: ${issue.message}`);
  }
  const settings = parsed.data;
  const upstreamHost = settings.upstreamHost ?? "127.0.0.1";
  const maxInFlightBytes = settings.maxInFlightBytes ?? defaultMaxInFlightBytes;
  const buckets = settings.bandwidthBytesPerSecond === undefined ? undefined : {
    up: new TokenBucket(settings.bandwidthBytesPerSecond, settings.burstBytes),
    down: new TokenBucket(settings.bandwidthBytesPerSecond, settings.burstBytes),
  };
  const listener = await listenRetrying(settings.port ?? 0);
  const port = (listener.addr as Deno.NetAddr).port;
  const open = new Set<ProxiedConnection>();
  const running = new Set<Promise<void>>();
  const stats: LatencyProxyStats = { connectionsAccepted: 0, connectionsOpen: 0, bytesToUpstream: 0, bytesToClients: 0 };
  let stopping = false;

  const serve = async (client: Deno.Conn) => {
    const acceptedAt = performance.now();
    let upstream: Deno.Conn;
    try {
      upstream = await Deno.connect({ hostname: upstreamHost, port: settings.upstreamPort });
    } catch (error) {
      client.close();
      if (!stopping) {
        console.error(`latency proxy :${port}: cannot reach ${upstreamHost}:${settings.upstreamPort}: ${(error as Error).message}`);
      }
      return;
    }
    const connection = new ProxiedConnection(client, upstream, settings.delayMs, maxInFlightBytes);
    if (stopping) return connection.close();
    open.add(connection);
    stats.connectionsOpen++;
    try {
      await connection.run(
        {
          bucket: buckets?.up,
          startAt: acceptedAt + 2 * settings.delayMs,
          count: (n) => (stats.bytesToUpstream += n),
        },
        { bucket: buckets?.down, startAt: acceptedAt, count: (n) => (stats.bytesToClients += n) },
      );
    } finally {
      open.delete(connection);
      stats.connectionsOpen--;
    }
  };

  const accepting = (async () => {
    try {
      for await (const client of listener) {
        stats.connectionsAccepted++;
        const task = serve(client).catch(() => {});
        running.add(task);
        task.finally(() => running.delete(task));
      }
    } catch {
      // the listener was closed
    }
  })();

  let stopped: Promise<void> | undefined;
  return {
    port,
    url(connectionString: string): string {
      const url = new URL(connectionString);
      url.hostname = "127.0.0.1";
      url.port = String(port);
      return url.toString();
    },
    stats: () => ({ ...stats }),
    stop() {
      stopped ??= (async () => {
        stopping = true;
        try {
          listener.close();
        } catch { /* already closed */ }
        await accepting;
        for (const connection of open) connection.close();
        while (running.size > 0) await Promise.all([...running]);
      })();
      return stopped;
    },
  };
}

const portSchema = z.number().int().min(0).max(65535);

export const latencyProxyOptionsSchema = z.object({
  upstreamPort: portSchema.refine((p) => p > 0, "must be a port number"),
  upstreamHost: z.string().min(1).optional(),
  delayMs: z.number().min(0).max(60_000),
  bandwidthBytesPerSecond: z.number().positive().optional(),
  burstBytes: z.number().int().positive().optional(),
  port: portSchema.optional(),
  maxInFlightBytes: z.number().int().positive().optional(),
});

/** One line for logs and `stack status`: `40 ms each way (80 ms round trip), unlimited`. */
export function describeLink(delayMs: number, bandwidthBytesPerSecond?: number): string {
  const bandwidth = bandwidthBytesPerSecond === undefined
    ? "bandwidth unlimited"
    : `capped at ${formatBandwidth(bandwidthBytesPerSecond)} each way`;
  return `${delayMs} ms each way (${2 * delayMs} ms round trip), ${bandwidth}`;
}

function formatBandwidth(bytesPerSecond: number): string {
  const mbit = (bytesPerSecond * 8) / 1e6;
  return `${bytesPerSecond} bytes/s (${Number(mbit.toPrecision(4))} Mbit/s)`;
}

if (import.meta.main) {
  const { commandLine, parseCommandLine } = await import("../command_line.ts");
  const program = commandLine(
    "latency-proxy",
    "A TCP proxy on 127.0.0.1 that adds a one-way delay each way and optionally caps the bandwidth (a slow link).",
  )
    .requiredOption("--upstream-port <port>", "where the bytes go")
    .option("--upstream-host <host>", "the upstream's host", "127.0.0.1")
    .option("--port <port>", "the port to listen on (default: a free one)", "0")
    .option("--delay-ms <ms>", "one-way delay each way, in milliseconds", "40")
    .option("--bandwidth <rate>", "cap per direction: bytes/s, or e.g. 2MB, 50mbit (default: unlimited)");
  const parsed = parseCommandLine(
    "latency-proxy",
    program,
    z.object({
      upstreamPort: z.coerce.number().int().min(1).max(65535),
      upstreamHost: z.string().min(1),
      port: z.coerce.number().int().min(0).max(65535),
      delayMs: z.coerce.number().min(0).max(60_000),
      bandwidth: z.string().optional().transform((text, ctx) => {
        if (text === undefined) return undefined;
        try {
          return parseBandwidth(text);
        } catch (error) {
          ctx.addIssue({ code: "custom", message: (error as Error).message });
          return z.NEVER;
        }
      }),
    }),
  );
  const values = parsed.options;
  const proxy = await startLatencyProxy({
    upstreamPort: values.upstreamPort,
    upstreamHost: values.upstreamHost,
    port: values.port,
    delayMs: values.delayMs,
    bandwidthBytesPerSecond: values.bandwidth,
  });
  console.error(
    `latency proxy: 127.0.0.1:${proxy.port} -> ${values.upstreamHost}:${values.upstreamPort}, ${describeLink(values.delayMs, values.bandwidth)}`,
  );
  const shutDown = async (signal: string) => {
    const { connectionsAccepted, bytesToUpstream, bytesToClients } = proxy.stats();
    await proxy.stop();
    console.error(
      `latency proxy: stopped on ${signal} after ${connectionsAccepted} connections, ${bytesToUpstream} bytes up, ${bytesToClients} bytes down`,
    );
    Deno.exit(0);
  };
  for (const signal of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(signal, () => void shutDown(signal));
}
