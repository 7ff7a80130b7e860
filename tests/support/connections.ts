/**
 * Database clients in tests that fail instead of hanging. postgres.js's `sql.end()` waits for
 * every reserved connection to be released and every query to finish, without a deadline: a
 * test whose query failed inside a reserved connection, before its `release()`, then waits in
 * `end()` for ever. Here a reserved connection is released however its body ends, and a client
 * ends within a deadline, closing whatever is left.
 */
import type postgres from "postgres";

/** How long `endClient` lets queries in flight finish before it closes the connections. */
export const endTimeoutSeconds = 5;

// deno-lint-ignore no-explicit-any
type AnySql = postgres.Sql<any>;
// deno-lint-ignore no-explicit-any
type AnyReservedSql = postgres.ReservedSql<any>;

/** Ends a client: queries in flight get `timeoutSeconds` to finish, then its connections close. */
export async function endClient(sql: AnySql, timeoutSeconds = endTimeoutSeconds): Promise<void> {
  await sql.end({ timeout: timeoutSeconds });
}

/** Runs `body` with a client made by `open`, and ends the client however `body` ended. */
export async function withClient<S extends AnySql, T>(open: () => S, body: (sql: S) => Promise<T>): Promise<T> {
  const sql = open();
  try {
    return await body(sql);
  } finally {
    await endClient(sql);
  }
}

/** How long the clean-up `rollback` of a reserved connection may take before it is released anyway. */
const rollbackDeadlineMs = 2000;

const lostConnectionCodes = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "ECONNRESET",
  "EPIPE",
]);

/** Whether an error means the server dropped the connection (a FATAL error, a closed socket). */
export function isConnectionLost(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { severity, code } = error as { severity?: unknown; code?: unknown };
  return severity === "FATAL" || severity === "PANIC" || (typeof code === "string" && lostConnectionCodes.has(code));
}

/**
 * Runs `body` on a connection reserved from `sql` (one session: transactions, session locks).
 * Afterwards, however `body` ended, a transaction it left open is rolled back (given at most
 * two seconds: the connection may be stuck) and the connection is released, so that ending the
 * client never waits for it. A connection the server dropped is neither: postgres.js (3.4.7)
 * has already taken it back as closed, and a query on it, or releasing it to the pool, sends the
 * next query to its dead socket, which throws outside any test.
 */
export async function withReserved<R extends AnyReservedSql, T>(
  sql: { reserve(): Promise<R> },
  body: (conn: R) => Promise<T>,
): Promise<T> {
  const conn = await sql.reserve();
  let lost = false;
  try {
    return await body(conn);
  } catch (error) {
    lost = isConnectionLost(error);
    throw error;
  } finally {
    if (!lost) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await Promise.race([
          conn`rollback`.execute().catch(() => {}),
          new Promise((resolve) => timer = setTimeout(resolve, rollbackDeadlineMs)),
        ]);
      } finally {
        clearTimeout(timer);
        conn.release();
      }
    }
  }
}
