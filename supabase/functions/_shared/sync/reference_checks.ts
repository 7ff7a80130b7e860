/**
 * References checked per batch instead of per row (docs/decisions/sync-references-per-batch.md).
 *
 * A foreign key checks each inserted row with its own trigger and index lookup: half of an
 * upsert's time in the production project for `operations` (four keys). When the destination
 * allows it, a batch's transaction sets `session_replication_role = replica` for itself (`set
 * local`: nothing outlives the transaction, so it works through a transaction-mode pooler; on a
 * Supabase project the `postgres` role may, through supautils), which turns those per-row
 * triggers off, and checks the same references set-based instead: for each foreign key, the
 * batch's distinct values are looked up in the referenced table at once, locked `for key share`
 * as the per-row check locks them (a concurrent delete of a parent waits for the batch), and a
 * missing one fails the transaction naming the table, the key and the values.
 *
 * Only where nothing else would be skipped: a destination with triggers or rules of its own keeps
 * the per-row checks (replica mode would silence its triggers), as does one whose upsert could
 * change a column another table's foreign key references (that check belongs to the referenced
 * side), or one with a foreign key on a column the definition does not write.
 */
import type { ForeignKey, TableShape } from "./catalog.ts";
import { columnList, qualified, quoteIdent, quoteLiteral } from "./sql_text.ts";

/**
 * The foreign keys a batch checks itself, or null when the destination's own per-row checks must
 * run (see the module's comment for when).
 */
export function batchReferenceChecks(
  destination: TableShape,
  written: readonly string[],
  conflictColumns: readonly string[],
): ForeignKey[] | null {
  if (destination.hasTriggersOrRules) return null;
  const writtenSet = new Set(written);
  if (!destination.foreignKeys.every((key) => key.columns.every((c) => writtenSet.has(c)))) return null;
  const conflict = new Set(conflictColumns);
  if (!destination.referencedKeys.every((key) => key.every((c) => conflict.has(c)))) return null;
  return destination.foreignKeys;
}

/** Turns the destination's per-row trigger checks off for the current transaction only. */
export const perRowChecksOff = "set local session_replication_role = replica";

/** How many missing values an error names. */
const namedValues = 5;

/**
 * A DO block that, for each foreign key, locks the referenced rows of the staged batch's values
 * (`for key share`, as the per-row check does) and raises `foreign_key_violation` naming the
 * destination, the key and up to five missing values when some do not exist. No result, no bind
 * parameters: it can be pipelined behind the COPY like the upsert.
 */
export function referenceCheckBlock(destination: string, stage: string, keys: readonly ForeignKey[]): string | null {
  if (keys.length === 0) return null;
  const checks = keys.map((key) => {
    const staged = key.columns.map(quoteIdent);
    const referenced = key.references.columns.map(quoteIdent);
    const notNull = staged.map((c) => `s.${c} is not null`).join(" and ");
    const matches = referenced.map((c, i) => `l.${c} = w.${staged[i]}`).join(" and ");
    const shown = staged.length === 1 ? `w.${staged[0]}::text` : `pg_catalog.concat_ws(', ', ${staged.map((c) => `w.${c}::text`).join(", ")})`;
    const parent = qualified(key.references.schema, key.references.table);
    const message = `${destination} (${key.columns.join(", ")}) references ${key.references.schema}.${key.references.table} ` +
      `(${key.references.columns.join(", ")}) rows that do not exist (foreign key ${key.name}): `;
    return `
  select pg_catalog.string_agg(m.shown, '; ') into missing from (
    with wanted as (select distinct ${columnList(key.columns, "s")} from ${stage} as s where ${notNull}),
         locked as (select ${columnList(key.references.columns, "p")} from ${parent} as p
                     where (${columnList(key.references.columns, "p")}) in (select ${columnList(key.columns, "w")} from wanted as w)
                     for key share of p)
    select ${shown} as shown from wanted as w where not exists (select from locked as l where ${matches}) limit ${namedValues}
  ) as m;
  if missing is not null then
    raise exception using errcode = 'foreign_key_violation', message = ${quoteLiteral(message)} || missing;
  end if;`;
  });
  return `do $references$
declare
  missing text;
begin${checks.join("")}
end
$references$`;
}
