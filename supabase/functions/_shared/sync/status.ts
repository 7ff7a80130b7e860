/**
 * Where each definition stands, from the working database alone (the production project may be
 * down): its cursors, the rows and tombstones past them (rows behind), the seconds since its last
 * successful run, and that run.
 */
import type { Sql } from "../db.ts";
import { describeTable } from "./catalog.ts";
import type { SyncDefinition } from "./definitions.ts";
import { positionPredicate, qualified, type StreamPosition } from "./sql_text.ts";

export interface DefinitionStatus {
  definition: string;
  direction: "push" | "pull";
  /** Source rows and tombstones not yet applied (null for a pull: compared whole each run). */
  rowsBehind: number | null;
  /** Seconds since the last successful run started (null: never ran). */
  secondsBehind: number | null;
  lastRun: {
    status: string;
    startedAt: string;
    finishedAt: string | null;
    inserted: number;
    updated: number;
    deleted: number;
    bytes: number;
    error: string | null;
  } | null;
}

async function cursorOf(home: Sql, definition: string, stream: string): Promise<StreamPosition | null> {
  const [row] = await home<{ sync_xid: string; position: Record<string, string> }[]>`
    select sync_xid::text as sync_xid, position from conveyor.sync_cursors where definition = ${definition} and stream = ${stream}`;
  return row ? { syncXid: row.sync_xid, key: row.position } : null;
}

/**
 * The source rows and tombstones the next push of `definition` reads: those past its cursors, or,
 * with `full`, all of its table's rows and unpurged tombstones (a run from the start). A count at
 * home, read before a run for its progress bar; rows written meanwhile come on top. Null for a
 * pull (compared whole each run, in the production project).
 */
export async function rowsPastCursor(home: Sql, definition: SyncDefinition, options: { full?: boolean } = {}): Promise<number | null> {
  if (definition.cursor.kind !== "change_tracking") return null;
  const shape = await describeTable(home, definition.source.schema, definition.source.table);
  if (!shape) return null;
  const key = definition.cursor.tieBreaker.map((name) => ({ name, type: shape.columns.find((c) => c.name === name)?.type ?? "text" }));
  const cursor = async (stream: string) => options.full ? null : await cursorOf(home, definition.name, stream);
  const [rows] = await home.unsafe(
    `select count(*)::bigint as n from ${qualified(definition.source.schema, definition.source.table)} as s
      where ${positionPredicate(definition.cursor.column, key, await cursor("rows"), ">")}`,
  );
  const [tombstones] = await home.unsafe(
    `select count(*)::bigint as n from conveyor.sync_tombstones as s
      where s.table_name = $1 and ${positionPredicate("sync_xid", [{ name: "id", type: "bigint" }], await cursor("tombstones"), ">")}`,
    [`${definition.source.schema}.${definition.source.table}`],
  );
  return Number(rows.n) + Number(tombstones.n);
}

export async function syncStatus(home: Sql, definitions: readonly SyncDefinition[]): Promise<DefinitionStatus[]> {
  const out: DefinitionStatus[] = [];
  for (const definition of definitions) {
    const [last] = await home`
      select status, started_at::text as started_at, finished_at::text as finished_at,
             rows_inserted::bigint as inserted, rows_updated::bigint as updated, rows_deleted::bigint as deleted,
             bytes::bigint as bytes, error
        from conveyor.sync_runs where definition = ${definition.name} and not dry_run
       order by started_at desc limit 1`;
    const [success] = await home<{ seconds: number | null }[]>`
      select extract(epoch from pg_catalog.now() - max(started_at))::float8 as seconds
        from conveyor.sync_runs where definition = ${definition.name} and status = 'succeeded' and not dry_run`;
    out.push({
      definition: definition.name,
      direction: definition.direction,
      rowsBehind: await rowsPastCursor(home, definition),
      secondsBehind: success?.seconds === null || success?.seconds === undefined ? null : Math.round(Number(success.seconds)),
      lastRun: last
        ? {
          status: last.status,
          startedAt: last.started_at,
          finishedAt: last.finished_at,
          inserted: Number(last.inserted),
          updated: Number(last.updated),
          deleted: Number(last.deleted),
          bytes: Number(last.bytes),
          error: last.error,
        }
        : null,
    });
  }
  return out;
}
