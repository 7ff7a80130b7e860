/**
 * What a table looks like in a database (columns, types, unique keys), and the drift check: before
 * writing, the destination must have the columns the definition writes, with the same types, and
 * a unique key on the conflict columns; with "all columns", nothing more either.
 */
import type { Sql } from "../db.ts";
import type { SyncDefinition } from "./definitions.ts";
import { quoteLiteral, type TypedColumn } from "./sql_text.ts";

export interface TableColumn extends TypedColumn {
  notNull: boolean;
  hasDefault: boolean;
}

export interface TableShape {
  schema: string;
  table: string;
  columns: TableColumn[];
  /** Column sets of the table's unique indexes (primary key included). */
  uniqueKeys: string[][];
  /** The table's foreign keys (its references to other tables). */
  foreignKeys: ForeignKey[];
  /** The column sets of this table that other tables' foreign keys reference. */
  referencedKeys: string[][];
  /** Whether the table has enabled triggers of its own (not foreign keys' internal ones) or rules. */
  hasTriggersOrRules: boolean;
}

export interface ForeignKey {
  name: string;
  columns: string[];
  references: { schema: string; table: string; columns: string[] };
}

// deno-lint-ignore no-explicit-any
type AnySql = Sql | any;

/** The table's columns (in order) and unique keys, or null when it does not exist. */
export async function describeTable(sql: AnySql, schema: string, table: string): Promise<TableShape | null> {
  return (await describeTables(sql, [{ schema, table }])).get(tableKey(schema, table)) ?? null;
}

/** The key of a table in describeTables' answer. */
export function tableKey(schema: string, table: string): string {
  return `${schema}.${table}`;
}

/**
 * Several tables' shapes in one query and one round trip (names inlined as quoted literals: a
 * query without bind parameters needs no describe step through `prepare: false`). Tables that do
 * not exist are absent from the map.
 */
export async function describeTables(
  sql: AnySql,
  tables: readonly { schema: string; table: string }[],
  /** A statement sent in the same message, before (whose failure fails this call). */
  before?: string,
): Promise<Map<string, TableShape>> {
  const shapes = new Map<string, TableShape>();
  if (tables.length === 0) return shapes;
  const wanted = tables.map((t) => `(${quoteLiteral(t.schema)}, ${quoteLiteral(t.table)})`).join(", ");
  // The names of a key's columns, in the key's order, as a JSON array.
  const names = (relation: string, key: string) =>
    `(select jsonb_agg(x.attname::text order by o.n)
        from unnest(${key}::int2[]) with ordinality as o(attnum, n)
        join pg_catalog.pg_attribute as x on x.attrelid = ${relation} and x.attnum = o.attnum)`;
  const answer = await sql.unsafe(
    `${before ? `${before}; ` : ""}with t as (
       select c.oid, n.nspname::text as schema, c.relname::text as table,
              (select coalesce(jsonb_agg(${names("i.indrelid", "i.indkey")}), '[]'::jsonb)
                 from pg_catalog.pg_index as i
                where i.indrelid = c.oid and i.indisunique and i.indpred is null) as unique_keys,
              (select coalesce(jsonb_agg(jsonb_build_object(
                        'name', f.conname::text,
                        'columns', ${names("f.conrelid", "f.conkey")},
                        'references', jsonb_build_object(
                          'schema', rn.nspname::text, 'table', rc.relname::text, 'columns', ${names("f.confrelid", "f.confkey")})
                      ) order by f.conname), '[]'::jsonb)
                 from pg_catalog.pg_constraint as f
                 join pg_catalog.pg_class as rc on rc.oid = f.confrelid
                 join pg_catalog.pg_namespace as rn on rn.oid = rc.relnamespace
                where f.conrelid = c.oid and f.contype = 'f') as foreign_keys,
              (select coalesce(jsonb_agg(${names("f.confrelid", "f.confkey")}), '[]'::jsonb)
                 from pg_catalog.pg_constraint as f
                where f.confrelid = c.oid and f.contype = 'f') as referenced_keys,
              (c.relhasrules or exists (select from pg_catalog.pg_trigger as tg
                                          where tg.tgrelid = c.oid and not tg.tgisinternal and tg.tgenabled <> 'D')) as has_triggers_or_rules
         from pg_catalog.pg_class as c
         join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
        where (n.nspname::text, c.relname::text) in (values ${wanted}) and c.relkind in ('r', 'p')
     )
     select t.schema, t.table, a.attname::text as name, pg_catalog.format_type(a.atttypid, a.atttypmod) as type,
            a.attnotnull as not_null, (a.atthasdef or a.attidentity <> '') as has_default,
            t.unique_keys, t.foreign_keys, t.referenced_keys, t.has_triggers_or_rules
       from t
       join pg_catalog.pg_attribute as a on a.attrelid = t.oid and a.attnum > 0 and not a.attisdropped
      order by t.schema, t.table, a.attnum`,
  );
  const rows = (before ? answer[answer.length - 1] : answer) as {
    schema: string;
    table: string;
    name: string;
    type: string;
    not_null: boolean;
    has_default: boolean;
    unique_keys: string[][];
    foreign_keys: ForeignKey[];
    referenced_keys: string[][];
    has_triggers_or_rules: boolean;
  }[];
  for (const r of rows) {
    const key = tableKey(r.schema, r.table);
    let shape = shapes.get(key);
    if (!shape) {
      shape = {
        schema: r.schema,
        table: r.table,
        columns: [],
        uniqueKeys: r.unique_keys,
        foreignKeys: r.foreign_keys,
        referencedKeys: r.referenced_keys,
        hasTriggersOrRules: r.has_triggers_or_rules,
      };
      shapes.set(key, shape);
    }
    shape.columns.push({ name: r.name, type: r.type, notNull: r.not_null, hasDefault: r.has_default });
  }
  return shapes;
}

/** The columns a definition moves from its source: the listed ones, or all but the tracking column. */
export function sourceColumns(definition: SyncDefinition, source: TableShape): TableColumn[] {
  const tracking = definition.cursor.kind === "change_tracking" ? definition.cursor.column : undefined;
  if (definition.source.columns === "*") return source.columns.filter((c) => c.name !== tracking);
  const byName = new Map(source.columns.map((c) => [c.name, c]));
  return definition.source.columns.map((name) => {
    const column = byName.get(name);
    if (!column) throw new SyncDriftError(definition.name, [`source ${source.schema}.${source.table} has no column ${name}`]);
    return column;
  });
}

export class SyncDriftError extends Error {
  constructor(readonly definition: string, readonly differences: string[]) {
    super(`${definition}: the destination does not match the definition, nothing written: ${differences.join("; ")}`);
    this.name = "SyncDriftError";
  }
}

/**
 * The differences between what a definition writes and the destination table, each named; empty
 * when the destination can take the rows. Without a transform, `written` are the source's columns
 * with their types; with one, the declared destination columns (types taken from the destination).
 */
export function driftDifferences(options: {
  definition: SyncDefinition;
  written: readonly TypedColumn[];
  /** Whether the source's types are known and must match (false for transformed rows). */
  typed: boolean;
  destination: TableShape | null;
  exact: boolean;
}): string[] {
  const { definition, written, typed, destination, exact } = options;
  const where = `${definition.destination.schema}.${definition.destination.table}`;
  if (!destination) return [`destination ${where} does not exist`];
  const differences: string[] = [];
  const byName = new Map(destination.columns.map((c) => [c.name, c]));
  for (const column of written) {
    const there = byName.get(column.name);
    if (!there) differences.push(`${where} has no column ${column.name}`);
    else if (typed && there.type !== column.type) {
      differences.push(`${where}.${column.name} is ${there.type}, the source's is ${column.type}`);
    }
  }
  const writtenNames = new Set(written.map((c) => c.name));
  for (const column of destination.columns) {
    if (writtenNames.has(column.name)) continue;
    if (exact) differences.push(`${where} has a column ${column.name} (${column.type}) the source does not have`);
    else if (column.notNull && !column.hasDefault) {
      differences.push(`${where}.${column.name} is not null without a default, and the definition does not write it`);
    }
  }
  const conflict = [...definition.destination.conflictColumns].sort();
  const hasKey = destination.uniqueKeys.some((k) => k.length === conflict.length && [...k].sort().every((c, i) => c === conflict[i]));
  if (!hasKey) differences.push(`${where} has no unique key on (${definition.destination.conflictColumns.join(", ")})`);
  return differences;
}
