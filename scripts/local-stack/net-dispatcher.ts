/**
 * The local stand-in for pg_net's background worker. The local stack runs it next to the working
 * database when the real pg_net is not installed (scripts/local-stack/standins/pg_net.sql):
 *
 *   deno run -A scripts/local-stack/net-dispatcher.ts --db-url <url>     (or env DB_URL)
 *
 * It LISTENs on `conveyor_net_request` (net.http_* notify it; NOTIFY is delivered only when the
 * calling transaction commits) and polls every 500 ms as a fallback. Each round claims pending
 * requests by deleting them from net.http_request_queue with FOR UPDATE SKIP LOCKED, so several
 * dispatchers never send one request twice (delivery is at most once, as with pg_net), sends them
 * with fetch (at most 32 at once, each bounded by its timeout_milliseconds) and stores one
 * net._http_response row per request with the request's id, the way pg_net 0.20 fills it:
 *   - a response: status_code, content_type, headers, content (NULL when empty), timed_out false;
 *   - a timeout: timed_out true, error_msg 'Timeout of <n> ms reached. Total time: ...';
 *   - any other failure: timed_out false, error_msg in libcurl's words, e.g.
 *     "Couldn't connect to server".
 * Responses older than 6 hours (pg_net.ttl's default) are deleted every minute. One JSON line per
 * request goes to stdout, without headers or bodies (they hold keys). SIGTERM/SIGINT stop it:
 * in-flight requests finish (their timeouts bound them), then the connections close.
 */
import postgres from "postgres";
import { z } from "zod";

export const wakeChannel = "conveyor_net_request";
/** net.check_worker_is_up() in the stand-in looks for this application_name. */
export const applicationName = "pg_net worker (conveyor net-dispatcher)";
const userAgent = "pg_net/0.20.0 (conveyor net-dispatcher)";

export interface DispatcherOptions {
  dbUrl: string;
  signal: AbortSignal;
  log?: (line: object) => void;
  /** Fallback poll period when no notification arrives. */
  pollIntervalMs?: number;
  /** Requests in flight at once. */
  concurrency?: number;
  /** Requests claimed by one statement at most. */
  batchSize?: number;
  /** How long responses are kept (a PostgreSQL interval, like pg_net.ttl). */
  ttl?: string;
  /** After a stop, how long in-flight requests may still run before they are aborted. */
  shutdownGraceMs?: number;
  /** The connections' application_name; net.check_worker_is_up() wants it to start 'pg_net worker'. */
  applicationName?: string;
}

const defaults = {
  pollIntervalMs: 500,
  concurrency: 32,
  batchSize: 100,
  ttl: "6 hours",
  shutdownGraceMs: 30_000,
  cleanupEveryMs: 60_000,
  listenRetryMs: 5_000,
  errorBackoffMs: 1_000,
};

type Sql = ReturnType<typeof postgres>;

const queuedRowSchema = z.object({
  id: z.union([z.string(), z.number(), z.bigint()]).transform(String),
  method: z.string(),
  url: z.string(),
  headers: z.unknown(),
  body: z.instanceof(Uint8Array).nullable(),
  timeout_milliseconds: z.number().int(),
});
type QueuedRequest = z.infer<typeof queuedRowSchema>;

/** What lands in net._http_response for one request. */
interface Outcome {
  status_code: number | null;
  content_type: string | null;
  headers: Record<string, string> | null;
  content: string | null;
  timed_out: boolean;
  error_msg: string | null;
}

function defaultLog(line: object): void {
  console.log(JSON.stringify(line));
}

function errorText(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current && depth < 5; depth++) {
    if (current instanceof Error) {
      parts.push(current.message);
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return parts.join(": ");
}

/** The URL without user:password, for logs. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username || parsed.password) {
      parsed.username = "";
      parsed.password = "";
    }
    return parsed.toString();
  } catch {
    return url;
  }
}

/**
 * pg_net sends "key: value" for each header of the request's jsonb object (jsonb_each_text),
 * skipping NULL values.
 */
function requestHeaders(raw: unknown): Headers {
  const headers = new Headers();
  if (raw !== null && raw !== undefined) {
    if (typeof raw !== "object" || Array.isArray(raw)) {
      throw new TypeError("the request's headers are not a JSON object");
    }
    for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
      if (value === null || value === undefined) continue;
      headers.append(name, typeof value === "string" ? value : JSON.stringify(value));
    }
  }
  if (!headers.has("user-agent")) headers.set("user-agent", userAgent);
  return headers;
}

/** libcurl's wording for the failures fetch reports, as pg_net stores them in error_msg. */
export function curlStyleError(error: unknown): string {
  const text = errorText(error);
  const rules: [RegExp, string][] = [
    [/connection refused|ECONNREFUSED|os error 111/i, "Couldn't connect to server"],
    [
      /dns error|failed to lookup address|name or service not known|no address associated|ENOTFOUND/i,
      "Couldn't resolve host name",
    ],
    [
      /connection closed before message completed|incomplete ?message|unexpected eof/i,
      "Server returned nothing (no headers, no data)",
    ],
    [/connection reset|ECONNRESET|os error 104/i, "Recv failure: Connection reset by peer"],
    [/scheme .*not supported|unsupported scheme/i, "Unsupported protocol"],
    [/invalid url/i, "URL using bad/illegal format or missing URL"],
  ];
  for (const [pattern, message] of rules) {
    if (pattern.test(text)) return message;
  }
  return text.split("\n")[0];
}

/**
 * pg_net's timeout message. fetch does not expose the DNS/handshake timings libcurl has, so the
 * whole time is reported as the HTTP request/response step.
 */
export function timeoutMessage(timeoutMs: number, elapsedMs: number): string {
  const total = elapsedMs.toFixed(6);
  return `Timeout of ${timeoutMs} ms reached. Total time: ${total} ms (DNS time: 0.000000 ms, ` +
    `TCP/SSL handshake time: 0.000000 ms, HTTP Request/Response time: ${total} ms)`;
}

function failure(error_msg: string, timed_out = false): Outcome {
  return {
    status_code: null,
    content_type: null,
    headers: null,
    content: null,
    timed_out,
    error_msg,
  };
}

/** Sends one request and describes its outcome; never throws. */
async function send(request: QueuedRequest, hardStop: AbortSignal): Promise<Outcome> {
  const method = request.method.toUpperCase();
  const started = performance.now();
  const timeout = new AbortController();
  const timer = request.timeout_milliseconds > 0
    ? setTimeout(
      () => timeout.abort(new DOMException("request timed out", "TimeoutError")),
      request.timeout_milliseconds,
    )
    : undefined;
  const signal = AbortSignal.any([timeout.signal, hardStop]);
  try {
    if (method === "GET" && request.body !== null) {
      return failure("a GET request with a body is not supported by the local net dispatcher");
    }
    const response = await fetch(request.url, {
      method,
      headers: requestHeaders(request.headers),
      body: request.body ?? undefined,
      redirect: "follow",
      signal,
    });
    const bytes = new Uint8Array(await response.arrayBuffer());
    // pg_net stores the body as a C string: it ends at the first NUL, and empty means NULL.
    let content = new TextDecoder().decode(bytes);
    const nul = content.indexOf("\0");
    if (nul >= 0) content = content.slice(0, nul);
    const headers: Record<string, string> = {};
    for (const [name, value] of response.headers) headers[name] = value;
    return {
      status_code: response.status,
      content_type: response.headers.get("content-type"),
      headers,
      content: content === "" ? null : content,
      timed_out: false,
      error_msg: null,
    };
  } catch (error) {
    if (timeout.signal.aborted) {
      return failure(
        timeoutMessage(request.timeout_milliseconds, performance.now() - started),
        true,
      );
    }
    if (hardStop.aborted) return failure("Request aborted: the local net dispatcher stopped");
    return failure(curlStyleError(error));
  } finally {
    clearTimeout(timer);
  }
}

interface Claimed {
  requests: QueuedRequest[];
  /** Rows taken off the queue that cannot be sent; they still get a response row. */
  unreadable: { id: string; error: string }[];
}

async function claim(sql: Sql, limit: number): Promise<Claimed> {
  const rows = await sql`
    delete from net.http_request_queue q
     where q.id in (
       select c.id
         from net.http_request_queue c
        order by c.id
        limit ${limit}
          for update skip locked
     )
    returning q.id, q.method, q.url, q.headers, q.body, q.timeout_milliseconds`;
  const claimed: Claimed = { requests: [], unreadable: [] };
  for (const row of rows) {
    const parsed = queuedRowSchema.safeParse(row);
    if (parsed.success) {
      claimed.requests.push(parsed.data);
    } else {
      const issue = parsed.error.issues[0];
      claimed.unreadable.push({
        id: String(row.id),
        error: `unreadable queued request: ${issue.path.join(".")}: ${issue.message}`,
      });
    }
  }
  claimed.requests.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
  return claimed;
}

async function storeOutcome(sql: Sql, id: string, outcome: Outcome): Promise<void> {
  // JSON goes over as a text parameter: postgres.js JSON-encodes whatever it binds to a jsonb-typed
  // parameter, so an already encoded string would be stored as a JSON string.
  const headers = outcome.headers === null ? null : JSON.stringify(outcome.headers);
  await sql`
    insert into net._http_response (id, status_code, content_type, headers, content, timed_out, error_msg)
    values (${id}::bigint, ${outcome.status_code}, ${outcome.content_type}, ${headers}::text::jsonb,
            ${outcome.content}, ${outcome.timed_out}, ${outcome.error_msg})`;
}

async function expireResponses(sql: Sql, ttl: string): Promise<number> {
  const result = await sql`
    delete from net._http_response where created < now() - ${ttl}::interval`;
  return result.count;
}

/** A wake-up flag: set by notifications, awaited by the dispatch loop. */
class Wakeup {
  #pending = false;
  #resolve: (() => void) | undefined;

  notify(): void {
    this.#pending = true;
    this.#resolve?.();
  }

  /** Resolves on a notification (also one that came before), after `ms`, or on abort. */
  async wait(ms: number, signal: AbortSignal): Promise<void> {
    if (!this.#pending && !signal.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener("abort", done);
          this.#resolve = undefined;
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal.addEventListener("abort", done, { once: true });
        this.#resolve = done;
      });
    }
    this.#pending = false;
  }
}

function abortPromise(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/**
 * Runs the dispatcher until `signal` aborts, then lets in-flight requests finish (up to the grace
 * period), closes its connections and resolves.
 */
export async function runDispatcher(options: DispatcherOptions): Promise<void> {
  const settings = { ...defaults, ...withoutUndefined(options) };
  const log = options.log ?? defaultLog;
  const { signal } = options;
  const line = (level: string, msg: string, fields: Record<string, unknown> = {}) =>
    log({ ts: new Date().toISOString(), level, msg, ...fields });

  const sql = postgres(options.dbUrl, {
    max: 4,
    onnotice: () => {},
    connect_timeout: 10,
    connection: { application_name: options.applicationName ?? applicationName },
  });
  const wake = new Wakeup();
  const hardStop = new AbortController();
  const inflight = new Set<Promise<void>>();
  const stopped = abortPromise(signal);
  let listener: { unlisten(): Promise<void> } | undefined;
  let lastListenAttempt = -Infinity;
  let lastCleanup = -Infinity;

  const ensureListening = async () => {
    if (listener || Date.now() - lastListenAttempt < settings.listenRetryMs) return;
    lastListenAttempt = Date.now();
    try {
      listener = await sql.listen(wakeChannel, () => wake.notify(), () => wake.notify());
    } catch (error) {
      line("warn", "net dispatcher cannot LISTEN yet, polling", { error: errorText(error) });
    }
  };

  const store = async (id: string, outcome: Outcome) => {
    try {
      await storeOutcome(sql, id, outcome);
    } catch (error) {
      line("error", "net dispatcher could not store a response", {
        id: Number(id),
        error: errorText(error),
      });
    }
  };

  const handle = async (request: QueuedRequest) => {
    const started = performance.now();
    const outcome = await send(request, hardStop.signal);
    const ms = Math.round(performance.now() - started);
    await store(request.id, outcome);
    line(outcome.error_msg === null ? "info" : "warn", "net request", {
      id: Number(request.id),
      method: request.method.toUpperCase(),
      url: redactUrl(request.url),
      status: outcome.status_code,
      ms,
      ...(outcome.error_msg === null
        ? {}
        : { error: outcome.error_msg, timed_out: outcome.timed_out }),
    });
  };

  line("info", "net dispatcher started", { concurrency: settings.concurrency });
  try {
    while (!signal.aborted) {
      await ensureListening();
      if (Date.now() - lastCleanup >= settings.cleanupEveryMs) {
        lastCleanup = Date.now();
        try {
          const expired = await expireResponses(sql, settings.ttl);
          if (expired > 0) line("info", "net responses expired", { count: expired });
        } catch (error) {
          line("warn", "net dispatcher could not expire responses", { error: errorText(error) });
        }
      }
      const free = settings.concurrency - inflight.size;
      if (free <= 0) {
        await Promise.race([...inflight, stopped]);
        continue;
      }
      const limit = Math.min(settings.batchSize, free);
      let claimed: Claimed;
      try {
        claimed = await claim(sql, limit);
      } catch (error) {
        if (signal.aborted) break;
        line("error", "net dispatcher could not claim requests", { error: errorText(error) });
        await wake.wait(settings.errorBackoffMs, signal);
        continue;
      }
      for (const { id, error } of claimed.unreadable) {
        line("error", "net dispatcher cannot send a queued request", { id: Number(id), error });
        await store(id, failure(error));
      }
      for (const request of claimed.requests) {
        const task: Promise<void> = handle(request).finally(() => inflight.delete(task));
        inflight.add(task);
      }
      const taken = claimed.requests.length + claimed.unreadable.length;
      if (taken < limit) await wake.wait(settings.pollIntervalMs, signal);
    }
  } finally {
    if (inflight.size > 0) {
      line("info", "net dispatcher finishing in-flight requests", { count: inflight.size });
      let graceTimer: ReturnType<typeof setTimeout> | undefined;
      const grace = new Promise<void>((resolve) => {
        graceTimer = setTimeout(() => {
          hardStop.abort();
          resolve();
        }, settings.shutdownGraceMs);
      });
      await Promise.race([Promise.all(inflight), grace]);
      clearTimeout(graceTimer);
      await Promise.all(inflight);
    }
    try {
      await listener?.unlisten();
    } catch {
      // the connection may already be gone; ending the pool below closes it anyway
    }
    await sql.end({ timeout: 5 });
    line("info", "net dispatcher stopped");
  }
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const cliSchema = z.object({
  dbUrl: z
    .string({
      error: "give the database URL with --db-url <url> or the DB_URL environment variable",
    })
    .regex(
      /^postgres(ql)?:\/\/\S+$/,
      "the database URL must start with postgres:// or postgresql://",
    ),
});

/** Reads `--db-url <url>` / `--db-url=<url>`, falling back to DB_URL. */
export function parseCli(
  args: string[],
  env: Record<string, string | undefined>,
): { dbUrl: string } {
  let dbUrl: string | undefined = env.DB_URL || undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--db-url") {
      dbUrl = args[++i];
    } else if (arg.startsWith("--db-url=")) {
      dbUrl = arg.slice("--db-url=".length);
    } else {
      throw new Error(
        `net-dispatcher: unknown argument ${JSON.stringify(arg)}; usage: --db-url <url>`,
      );
    }
  }
  const parsed = cliSchema.safeParse({ dbUrl });
  if (!parsed.success) throw new Error(`net-dispatcher: ${parsed.error.issues[0].message}`);
  return parsed.data;
}

if (import.meta.main) {
  let dbUrl: string;
  try {
    ({ dbUrl } = parseCli(Deno.args, { DB_URL: Deno.env.get("DB_URL") }));
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    Deno.exit(2);
  }
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  try {
    await runDispatcher({ dbUrl, signal: controller.signal });
  } finally {
    Deno.removeSignalListener("SIGTERM", stop);
    Deno.removeSignalListener("SIGINT", stop);
  }
}
