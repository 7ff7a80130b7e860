/**
 * The sync engine's connection to the production project, the same from the CLI, the sync edge
 * function, the demo and the bench: at most 2 connections (issue 15), and no prepared statements,
 * as it goes through a transaction-mode pooler (Supavisor on 6543, pgbouncer). postgres.js's
 * `fetch_types` stays on although the engine sends no arrays (it costs a round trip when a
 * connection opens): with it off, postgres.js 3.4.7's `reserve()` never returns when it has to
 * open the connection it reserves, and each batch runs on a reserved connection. That type fetch's
 * failure is unhandled in postgres.js: ../postgres_type_fetch.ts.
 */
import postgres from "postgres";
import type { Sql } from "../db.ts";
import { guardTypeFetchFailures } from "../postgres_type_fetch.ts";

guardTypeFetchFailures();

export const productionConnections = 2;

export function connectProduction(
  url: string,
  options: { onnotice?: (notice: postgres.Notice) => void; idleTimeoutSeconds?: number; max?: number } = {},
): Sql {
  return postgres(url, {
    max: options.max ?? productionConnections,
    prepare: false,
    connect_timeout: 10,
    ...(options.idleTimeoutSeconds ? { idle_timeout: options.idleTimeoutSeconds } : {}),
    onnotice: options.onnotice ?? (() => {}),
    connection: { application_name: "conveyor-sync" },
  });
}
