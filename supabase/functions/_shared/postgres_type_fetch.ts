/**
 * A defect of postgres.js 3.4.7 (unchanged in 3.4.10; porsager/postgres#1192, #1205, #1223) and
 * how this project lives with it.
 *
 * When a connection opens, postgres.js reads the database's array types (`fetch_types`, on by
 * default and kept on: production_database.ts says why) with a query of its own, started by an
 * async function whose promise it drops (`fetchArrayTypes()` in its connection.js). When that
 * query fails, its rejection is unhandled, and nothing outside postgres.js can catch it: Deno then
 * ends the process (the sync CLI, a test module) and the edge runtime its worker. It fails when
 * the connection dies in that one round trip after its start-up: the database shutting down or
 * ending the backend right then (57P01), the socket closing, a pooler answering for a database
 * that is down (pgbouncer's `server login has been failing, try again later
 * (server_login_retry)`). Seen in the test that stops the production cluster mid-run.
 *
 * The failure itself is not lost: the query that opened the connection fails with the same error
 * (or postgres.js reconnects for it). A `reserve()` that opened it is dropped instead, and waits
 * for ever: a batch waits for its connection within a deadline (destination.ts,
 * `reserveWithin`), whose message names the failure recorded here.
 *
 * `guardTypeFetchFailures()` marks exactly these rejections handled: the reason is postgres.js's
 * error carrying the type query's text. Every other unhandled rejection stays unhandled. It is
 * called when the modules that open connections are loaded (db.ts, production_database.ts), so
 * it comes before the command line's own handler, which ends the process (scripts/command_line.ts).
 */

/** Fragments of postgres.js's array-type query (connection.js, `fetchArrayTypes`). */
const typeFetchFragments = ["b.typarray", "pg_catalog.pg_type", "typcategory = 'A'"];

/** Whether `reason` is the failure of postgres.js's own array-type query. */
export function isTypeFetchFailure(reason: unknown): boolean {
  if (typeof reason !== "object" || reason === null) return false;
  const query = (reason as { query?: unknown }).query;
  return typeof query === "string" && typeFetchFragments.every((fragment) => query.includes(fragment));
}

export interface TypeFetchFailure {
  /** Date.now() when it was seen. */
  at: number;
  message: string;
  code?: string;
}

let lastFailure: TypeFetchFailure | undefined;

/** The last type-fetch failure seen in this process, if any. */
export function lastTypeFetchFailure(): TypeFetchFailure | undefined {
  return lastFailure;
}

let guarded = false;

/** Handles postgres.js's unhandled type-fetch rejections from now on (once per process). */
export function guardTypeFetchFailures(): void {
  if (guarded) return;
  guarded = true;
  globalThis.addEventListener("unhandledrejection", (event) => {
    if (!isTypeFetchFailure(event.reason)) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    const { message, code } = event.reason as { message?: unknown; code?: unknown };
    lastFailure = {
      at: Date.now(),
      message: typeof message === "string" ? message : String(event.reason),
      ...(typeof code === "string" ? { code } : {}),
    };
  });
}
