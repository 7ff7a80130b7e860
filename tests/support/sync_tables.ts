/**
 * Tables of their own for the sync tests, in a schema `sync_test` on both clusters, made the way a
 * user adds a synced table: the same table in both databases (the production one with its foreign
 * keys), and at home the change tracking of supabase/schemas/50_working_database/
 * sync_change_tracking.sql (the sync_xid column, its update trigger, the tombstone trigger).
 */
import postgres from "postgres";
import type { SyncDefinition } from "../../supabase/functions/_shared/sync/definitions.ts";
import { parseDefinitions } from "../../supabase/functions/_shared/sync/definitions.ts";
import { guardTypeFetchFailures } from "../../supabase/functions/_shared/postgres_type_fetch.ts";
import { stackEnv } from "./stack_env.ts";

// These clients meet the engine's postgres.js defect too (a connection failing while postgres.js
// reads its types, with the production cluster stopped): the same guard as the engine's.
guardTypeFetchFailures();

export const env = stackEnv();
export type Sql = postgres.Sql;

export function homeClient(max = 4): Sql {
  return postgres(env.DB_URL, { max, onnotice: () => {} });
}

export function cloudClient(url = env.CLOUD_DB_URL, max = 2): Sql {
  return postgres(url, { max, prepare: false, onnotice: () => {} });
}

export function tag(label: string): string {
  return `${label}_${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`.toLowerCase();
}

/** Creates `sync_test.<name>` in both databases; `productionExtra` adds constraints in production only. */
export async function createSyncedTable(
  home: Sql,
  cloud: Sql,
  name: string,
  columns: string,
  productionExtra = "",
): Promise<void> {
  for (const sql of [home, cloud]) await sql.unsafe("create schema if not exists sync_test");
  await home.unsafe(`create table sync_test.${name} (${columns})`);
  await cloud.unsafe(`create table sync_test.${name} (${columns}${productionExtra ? `, ${productionExtra}` : ""})`);
  await home.unsafe(`
    alter table sync_test.${name} add column sync_xid xid8 not null default pg_catalog.pg_current_xact_id();
    create trigger ${name}_sync_xid before update on sync_test.${name}
      for each row execute function conveyor.set_sync_xid();
    create trigger ${name}_sync_tombstones after delete on sync_test.${name}
      referencing old table as removed_rows for each statement execute function conveyor.record_sync_tombstones();`);
}

/** Drops the tables (and `functions`, trigger functions of no arguments) and their sync state. */
export async function dropSyncedTables(
  home: Sql,
  cloud: Sql,
  names: string[],
  definitions: string[],
  functions: string[] = [],
): Promise<void> {
  for (const sql of [cloud, home]) {
    for (const name of [...names].reverse()) await sql.unsafe(`drop table if exists sync_test.${name} cascade`);
    for (const name of functions) await sql.unsafe(`drop function if exists sync_test.${name}()`);
    // The schema goes with its last table, so the declared-schema checks see the databases as migrated.
    await sql.unsafe("drop schema if exists sync_test").catch(() => {});
  }
  await home`delete from conveyor.sync_cursors where definition = any(${definitions})`;
  await home`delete from conveyor.sync_runs where definition = any(${definitions})`;
  await home`delete from conveyor.sync_tombstones where table_name = any(${names.map((n) => `sync_test.${n}`)})`;
}

/** A push of sync_test.<table> as it is, keyed by `key`. */
export function pushOf(name: string, table: string, key: string[] = ["id"], extra: Partial<Record<string, unknown>> = {}): SyncDefinition {
  return parseDefinitions([{
    name,
    direction: "push",
    source: { schema: "sync_test", table, columns: "*" },
    cursor: { kind: "change_tracking", tieBreaker: key },
    destination: { schema: "sync_test", table, conflictColumns: key },
    ...extra,
  }])[0];
}

/**
 * Production gets every shop home has, as it is, so no home shop is missing there: a push of the
 * shipped definitions then finds the shops its operations refer to.
 */
export async function shopsHomeHasIntoProduction(home: Sql, cloud: Sql): Promise<void> {
  const shops = await home`select code, name, city, timezone, active, updated_at::text as updated_at from public.shops`;
  await cloud`
    insert into public.shops (code, name, city, timezone, active, updated_at)
    select code, name, city, timezone, active, updated_at::timestamptz
      from jsonb_to_recordset(${JSON.stringify(shops)}::text::jsonb)
             as s(code text, name text, city text, timezone text, active boolean, updated_at text)
    on conflict (code) do update set name = excluded.name, city = excluded.city, timezone = excluded.timezone,
                                     active = excluded.active, updated_at = excluded.updated_at`;
}

const root = new URL("../../", import.meta.url).pathname;

/** The arguments of `deno task sync ...` run by the test's own Deno. */
export function syncCliArgs(args: string[]): string[] {
  return ["run", "-A", `--config=${root}deno.json`, `${root}scripts/sync.ts`, ...args];
}

/** `deno task sync ...` with its output piped (no terminal), against `productionUrl`. */
export async function runSyncCli(productionUrl: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: syncCliArgs(args),
    cwd: root,
    env: { DB_URL: env.DB_URL, CONVEYOR_PRODUCTION_DB_URL: productionUrl, NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}
