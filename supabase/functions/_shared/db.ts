/**
 * The database connection of a function instance: one small postgres.js pool, created on first
 * use and reused across requests. Through a transaction pooler prepared statements must be off,
 * as Supabase documents: CONVEYOR_DB_PREPARE=false turns them off for any pooler (pgbouncer on
 * any port); unset, they are off on Supavisor's transaction port 6543 only.
 */
import postgres from "postgres";
import type { BaseConfig } from "./config.ts";
import { log } from "./log.ts";
import { guardTypeFetchFailures } from "./postgres_type_fetch.ts";

// A connection failing as it opens must fail its query, not end the function (postgres_type_fetch.ts).
guardTypeFetchFailures();

export type Sql = postgres.Sql;

let pool: Sql | undefined;

/**
 * The database's WARNINGs (for example `Conveyor: waking process-sales failed: ...` from a wake
 * that could not be sent) go to the function log; lower notices are dropped.
 */
export function logDatabaseWarning(notice: postgres.Notice): void {
  if (notice.severity !== "WARNING") return;
  log("warn", "database warning", {
    message: notice.message,
    ...(notice.hint ? { hint: notice.hint } : {}),
    ...(notice.where ? { where: notice.where } : {}),
  });
}

/** Whether to use prepared statements: as set, else off on port 6543 (Supavisor's transaction mode). */
export function usesPreparedStatements(url: string, setting?: boolean): boolean {
  if (setting !== undefined) return setting;
  try {
    return new URL(url).port !== "6543";
  } catch {
    return true;
  }
}

export function connect(url: string, max: number, prepare?: boolean): Sql {
  return postgres(url, {
    max,
    prepare: usesPreparedStatements(url, prepare),
    idle_timeout: 20,
    connect_timeout: 10,
    onnotice: logDatabaseWarning,
    connection: { application_name: "conveyor" },
  });
}

export function database(config: BaseConfig): Sql {
  pool ??= connect(config.SUPABASE_DB_URL, config.CONVEYOR_DB_POOL_SIZE, config.CONVEYOR_DB_PREPARE);
  return pool;
}

/** SQLSTATE classes and codes worth retrying: the same batch may well succeed later. */
const transientStates = new Set([
  "40001", // serialization_failure
  "40P01", // deadlock_detected
  "55P03", // lock_not_available
  "57014", // query_canceled (statement timeout)
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now
  "53300", // too_many_connections
  "53400", // configuration_limit_exceeded
]);

/** True for errors that say nothing about the data: connection loss, deadlock, timeout, overload. */
export function isTransientDbError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string") {
    if (transientStates.has(code) || code.startsWith("08") || code.startsWith("53")) return true;
    if (/^[0-9A-Z]{5}$/.test(code)) return false;
    // postgres.js connection errors: CONNECTION_CLOSED, CONNECTION_ENDED, CONNECT_TIMEOUT, ...
    return code.startsWith("CONNECT") || code === "ECONNREFUSED" || code === "ECONNRESET";
  }
  return error instanceof TypeError || (error instanceof Error && /connect|socket|timeout/i.test(error.message));
}
