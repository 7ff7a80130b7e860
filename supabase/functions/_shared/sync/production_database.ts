/**
 * The sync engine's connection to the production project, the same from the CLI, the sync edge
 * function, the demo and the bench: at most 2 connections (issue 15); no prepared statements, as
 * it goes through a transaction-mode pooler (Supavisor on 6543, pgbouncer); and no array types
 * fetched when a connection opens (postgres.js's `fetch_types`), a round trip over the link saved
 * on every connection: the engine sends production no array parameters and reads none back.
 */
import postgres from "postgres";
import type { Sql } from "../db.ts";

export const productionConnections = 2;

export function connectProduction(
  url: string,
  options: { onnotice?: (notice: postgres.Notice) => void; idleTimeoutSeconds?: number; max?: number } = {},
): Sql {
  return postgres(url, {
    max: options.max ?? productionConnections,
    prepare: false,
    fetch_types: false,
    connect_timeout: 10,
    ...(options.idleTimeoutSeconds ? { idle_timeout: options.idleTimeoutSeconds } : {}),
    onnotice: options.onnotice ?? (() => {}),
    connection: { application_name: "conveyor-sync" },
  });
}
