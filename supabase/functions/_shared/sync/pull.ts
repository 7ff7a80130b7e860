/**
 * The pull: small tables mastered in the production project (shops) into the working database,
 * by full comparison (docs/decisions/sync-change-tracking.md, "the pull"): one COPY of the whole
 * table out of production, staged at home in one transaction, upserted where distinct, and the
 * home rows missing from production deleted. The production project needs no change tracking.
 */
import type { Sql } from "../db.ts";
import { describeTable, driftDifferences, sourceColumns, SyncDriftError } from "./catalog.ts";
import type { SyncDefinition, SyncRow } from "./definitions.ts";
import { copyOutStream, type DestinationTransaction, writeCopyBatch, writeRowsBatch } from "./destination.ts";
import { columnList, qualified, quoteIdent } from "./sql_text.ts";
import type { DefinitionTally, RunControl } from "./run_control.ts";

export class SyncPullError extends Error {
  constructor(definition: string, cause: unknown) {
    super(`pull ${definition}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "SyncPullError";
  }
}

async function pullOne(home: Sql, production: Sql, control: RunControl, definition: SyncDefinition, tally: DefinitionTally): Promise<void> {
  const source = await describeTable(production, definition.source.schema, definition.source.table);
  if (!source) throw new SyncDriftError(definition.name, [`source ${definition.source.schema}.${definition.source.table} does not exist in production`]);
  const columns = sourceColumns(definition, source);
  const written = definition.transform ? definition.destination.columns! : columns.map((c) => c.name);
  const destinationShape = await describeTable(home, definition.destination.schema, definition.destination.table);
  const differences = driftDifferences({
    definition,
    written: definition.transform ? written.map((name) => ({ name, type: "" })) : columns,
    typed: !definition.transform,
    destination: destinationShape,
    exact: !definition.transform && definition.source.columns === "*",
  });
  if (differences.length > 0) throw new SyncDriftError(definition.name, differences);
  const target = {
    table: qualified(definition.destination.schema, definition.destination.table),
    columns: written,
    conflictColumns: definition.destination.conflictColumns,
    dropStage: control.dryRun,
  };
  const from = qualified(definition.source.schema, definition.source.table);
  const keys = definition.destination.conflictColumns;
  const deleteMissing = async (tx: DestinationTransaction, stage: string) => {
    const matches = keys.map((k) => `s.${quoteIdent(k)} = d.${quoteIdent(k)}`).join(" and ");
    const [row] = await tx.sql.unsafe(
      `with removed as (delete from ${target.table} as d where not exists (select from ${stage} as s where ${matches}) returning 1)
       select count(*)::bigint as deleted from removed`,
    );
    tally.deleted += Number(row.deleted);
  };
  const counts = await control.inDestination(async (tx) => {
    if (definition.transform) {
      const rows: SyncRow[] = await production.unsafe(
        `select ${columns.map((c) => `${quoteIdent(c.name)}::text as ${quoteIdent(c.name)}`).join(", ")} from ${from}`,
      );
      const out = rows.map((r) => definition.transform!(r)).filter((r): r is SyncRow => r !== null)
        .map((r) => Object.fromEntries(written.map((c) => [c, r[c] ?? null])));
      return await writeRowsBatch(tx, target, out, (stage) => deleteMissing(tx, stage));
    }
    return await writeCopyBatch(
      tx,
      target,
      () => copyOutStream(production.unsafe(`copy (select ${columnList(written)} from ${from}) to stdout`)),
      { afterUpsert: (stage) => deleteMissing(tx, stage) },
    );
  });
  tally.inserted += counts.inserted;
  tally.updated += counts.updated;
  tally.bytes += counts.bytes;
  await control.afterBatch(definition.name);
}

/** Pulls each definition in its own home transaction (a dry run: all in one, rolled back). */
export async function pullDefinitions(
  home: Sql,
  production: Sql,
  control: RunControl,
  definitions: readonly SyncDefinition[],
  tallies: Map<string, DefinitionTally>,
): Promise<boolean> {
  for (const definition of definitions) {
    if (control.shouldStop()) return false;
    const tally = tallies.get(definition.name)!;
    try {
      await pullOne(home, production, control, definition, tally);
    } catch (error) {
      tally.failedHere = true;
      throw error instanceof SyncDriftError ? error : new SyncPullError(definition.name, error);
    }
  }
  return true;
}
