/**
 * Sync definitions: which table moves where, in the shape of an export job. A definition names
 * its source (schema, table, columns or all), its cursor, its destination (schema, table, the
 * conflict columns of the upsert, composite allowed) and may transform each row (rename, drop,
 * derive columns; null skips the row). Definitions of one direction run in the order they are
 * listed: parents before children for upserts, children before parents for deletes, because the
 * production project keeps its foreign keys.
 *
 * Adding a table: add its definition to `syncDefinitions` and its migration (the table in both
 * databases; for a push, its change tracking in supabase/schemas/50_working_database/
 * sync_change_tracking.sql). Nothing else.
 */
import { z } from "zod";

/** A PostgreSQL identifier as written unquoted (lower case). */
const identifier = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lower-case SQL identifier");

/** A row as the sync moves it: every value in PostgreSQL's text form (exact), or null. */
export type SyncRow = Record<string, string | null>;

/** Returns the row to write (renamed, trimmed, derived), or null to skip it. */
export type RowTransform = (row: SyncRow) => SyncRow | null;

/**
 * How a definition finds what changed.
 * - `change_tracking` (push): the source's `sync_xid` column (xid8, set by every insert and update)
 *   ordered with the key as a tie-breaker, read below the snapshot's xmin, and tombstones for
 *   deletes (docs/decisions/sync-change-tracking.md).
 * - `full_comparison` (pull of small tables): every run compares the whole table.
 */
export const cursorSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("change_tracking"),
    column: identifier.default("sync_xid"),
    /** The source's unique key, which orders rows sharing one `column` value. */
    tieBreaker: z.array(identifier).min(1),
  }),
  z.object({ kind: z.literal("full_comparison") }),
]);

export const syncDefinitionSchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, "must be lower-case letters, digits and _"),
  direction: z.enum(["push", "pull"]),
  source: z.object({
    schema: identifier,
    table: identifier,
    /** The columns to read, or "*" for all of them (the tracking column excepted). */
    columns: z.union([z.literal("*"), z.array(identifier).min(1)]),
  }),
  cursor: cursorSchema,
  destination: z.object({
    schema: identifier,
    table: identifier,
    /** The upsert's conflict target: a unique key of the destination, composite allowed. */
    conflictColumns: z.array(identifier).min(1),
    /** The columns the transform writes (required with a transform; else the source's). */
    columns: z.array(identifier).min(1).optional(),
  }),
  transform: z.custom<RowTransform>((value) => typeof value === "function", "must be a function").optional(),
}).superRefine((definition, context) => {
  if (definition.transform && !definition.destination.columns) {
    context.addIssue({
      code: "custom",
      path: ["destination", "columns"],
      message: "a definition with a transform must list the columns it writes",
    });
  }
  if (!definition.transform && Array.isArray(definition.source.columns)) {
    for (const key of definition.destination.conflictColumns) {
      if (!definition.source.columns.includes(key)) {
        context.addIssue({
          code: "custom",
          path: ["destination", "conflictColumns"],
          message: `conflict column ${key} is not among the source columns`,
        });
      }
    }
  }
  const written = definition.destination.columns;
  if (written) {
    for (const key of definition.destination.conflictColumns) {
      if (!written.includes(key)) {
        context.addIssue({
          code: "custom",
          path: ["destination", "conflictColumns"],
          message: `conflict column ${key} is not among the destination columns`,
        });
      }
    }
  }
  if (definition.direction === "push" && definition.cursor.kind !== "change_tracking") {
    context.addIssue({ code: "custom", path: ["cursor"], message: "a push reads changes: its cursor is change_tracking" });
  }
  if (definition.direction === "pull" && definition.cursor.kind !== "full_comparison") {
    context.addIssue({
      code: "custom",
      path: ["cursor"],
      message: "a pull compares whole tables (the production project has no change tracking): its cursor is full_comparison",
    });
  }
});

export type SyncDefinition = z.infer<typeof syncDefinitionSchema>;
export type SyncDirection = SyncDefinition["direction"];

/** Checks a list of definitions: each valid, names unique; the message names the definition and field. */
export function parseDefinitions(input: readonly unknown[]): SyncDefinition[] {
  const seen = new Set<string>();
  return input.map((raw, index) => {
    const parsed = syncDefinitionSchema.safeParse(raw);
    const label = typeof (raw as { name?: unknown })?.name === "string" ? (raw as { name: string }).name : `#${index + 1}`;
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new Error(`sync definition ${label}: ${issue.path.join(".") || "(definition)"}: ${issue.message}`);
    }
    if (seen.has(parsed.data.name)) throw new Error(`sync definition ${label}: name: used twice`);
    seen.add(parsed.data.name);
    return parsed.data;
  });
}

/** A push of a final table as it is: same schema, table and columns on both sides, keyed by id. */
function pushAsIs(table: string, conflictColumns: string[] = ["id"]) {
  return {
    name: table,
    direction: "push",
    source: { schema: "public", table, columns: "*" },
    cursor: { kind: "change_tracking", tieBreaker: conflictColumns },
    destination: { schema: "public", table, conflictColumns },
  } as const;
}

/**
 * The shipped definitions. Pushes in dependency order (the production project's foreign keys:
 * products refer to the dictionaries, operations to shops, products, suppliers and locations);
 * shops are mastered in production and pulled.
 */
export const syncDefinitions: SyncDefinition[] = parseDefinitions([
  {
    name: "shops",
    direction: "pull",
    source: { schema: "public", table: "shops", columns: "*" },
    cursor: { kind: "full_comparison" },
    destination: { schema: "public", table: "shops", conflictColumns: ["code"] },
  },
  pushAsIs("manufacturers"),
  pushAsIs("categories"),
  pushAsIs("product_groups"),
  pushAsIs("product_kinds"),
  pushAsIs("products"),
  pushAsIs("suppliers"),
  pushAsIs("locations"),
  pushAsIs("operations"),
]);

/** The definitions of a direction, in run order, optionally only the named tables (by definition name). */
export function selectDefinitions(
  all: readonly SyncDefinition[],
  direction: SyncDirection | undefined,
  names?: readonly string[],
): SyncDefinition[] {
  if (names && names.length > 0) {
    const known = new Set(all.map((d) => d.name));
    const unknown = names.filter((n) => !known.has(n));
    if (unknown.length > 0) {
      throw new Error(`--table: no sync definition named ${unknown.join(", ")} (known: ${[...known].join(", ")})`);
    }
  }
  return all.filter((d) => (direction === undefined || d.direction === direction) && (!names?.length || names.includes(d.name)));
}
