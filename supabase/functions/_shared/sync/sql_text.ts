/**
 * The SQL the sync engine sends, built as text from a definition and the columns the catalog
 * reported (COPY takes no bind parameters, so positions are inlined as quoted literals). Pure
 * functions: every identifier is quoted, every literal escaped.
 */

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A string literal as PostgreSQL reads it with standard_conforming_strings on (the default). */
export function quoteLiteral(value: string): string {
  if (value.includes("\0")) throw new Error("a SQL literal cannot hold a NUL character");
  return `'${value.replaceAll("'", "''")}'`;
}

export function qualified(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}

export function columnList(columns: readonly string[], alias?: string): string {
  return columns.map((c) => (alias ? `${alias}.${quoteIdent(c)}` : quoteIdent(c))).join(", ");
}

/** A column with its SQL type, as the catalog's format_type spells it. */
export interface TypedColumn {
  name: string;
  type: string;
}

/** A position in a change stream: the tracking value and the tie-breaker's values, all as text. */
export interface StreamPosition {
  syncXid: string;
  key: Record<string, string>;
}

/** `(a."sync_xid", a."id") > ('123'::xid8, '5'::bigint)`, with the xid first for an index or BRIN range. */
export function positionPredicate(
  trackingColumn: string,
  key: readonly TypedColumn[],
  position: StreamPosition | null,
  comparison: ">" | "<=",
  alias = "s",
): string {
  if (position === null) return "true";
  const left = [`${alias}.${quoteIdent(trackingColumn)}`, ...key.map((k) => `${alias}.${quoteIdent(k.name)}`)];
  const right = [
    `${quoteLiteral(position.syncXid)}::pg_catalog.xid8`,
    ...key.map((k) => {
      const value = position.key[k.name];
      if (value === undefined) throw new Error(`cursor has no value for key column ${k.name}`);
      return `${quoteLiteral(value)}::${k.type}`;
    }),
  ];
  const rowTest = `(${left.join(", ")}) ${comparison} (${right.join(", ")})`;
  // Bare bounds on the first column let the planner use a range scan (a row comparison alone does
  // not): on sync_xid (a B-tree) and on its bigint value (the BRIN index of operations).
  const bound = comparison === ">" ? ">=" : "<=";
  const asBigint = `(${left[0]}::text)::bigint ${bound} ${quoteLiteral(position.syncXid)}::bigint`;
  return `${left[0]} ${bound} ${right[0]} and ${asBigint} and ${rowTest}`;
}

/** The order of a change stream: tracking column, then the key. */
export function streamOrder(trackingColumn: string, key: readonly TypedColumn[], alias = "s", descending = false): string {
  const direction = descending ? " desc" : "";
  return [trackingColumn, ...key.map((k) => k.name)].map((c) => `${alias}.${quoteIdent(c)}${direction}`).join(", ");
}

/**
 * The upsert from the staging table into the destination: one statement, rows whose content did
 * not change are not written (IS DISTINCT FROM), duplicate keys in a batch collapse to the last
 * one staged, identity columns take the staged values. Returns inserted and updated counts.
 */
export function upsertStatement(options: {
  destination: string;
  stage: string;
  columns: readonly string[];
  conflictColumns: readonly string[];
  dedupe: boolean;
}): string {
  const { destination, stage, columns, conflictColumns, dedupe } = options;
  const others = columns.filter((c) => !conflictColumns.includes(c));
  const selected = dedupe
    ? `select distinct on (${columnList(conflictColumns)}) ${columnList(columns)} from ${stage}
        order by ${columnList(conflictColumns)}, sync_stage_ordinal desc`
    : `select ${columnList(columns)} from ${stage}`;
  const onConflict = others.length === 0 ? "do nothing" : `do update set ${others.map((c) => `${quoteIdent(c)} = excluded.${quoteIdent(c)}`).join(", ")}
       where (${columnList(others, "d")}) is distinct from (${columnList(others, "excluded")})`;
  return `with written as (
  insert into ${destination} as d (${columnList(columns)}) overriding system value
  ${selected}
  on conflict (${columnList(conflictColumns)}) ${onConflict}
  returning (d.xmax::text = '0') as inserted
)
select count(*) filter (where inserted)::bigint as inserted, count(*) filter (where not inserted)::bigint as updated from written`;
}

/** Deletes the destination rows whose keys are in `document`, a JSON array of objects (values as text). */
export function deleteByKeysStatement(destination: string, key: readonly TypedColumn[], document: string): string {
  const recordType = key.map((k) => `${quoteIdent(k.name)} text`).join(", ");
  const matches = key.map((k) => `d.${quoteIdent(k.name)} = k.${quoteIdent(k.name)}::${k.type}`).join(" and ");
  return `with removed as (
  delete from ${destination} as d
   using pg_catalog.jsonb_to_recordset(${quoteLiteral(document)}::jsonb) as k(${recordType})
   where ${matches}
  returning 1
)
select count(*)::bigint as deleted from removed`;
}

/**
 * Settings under which a row's text form is the same in every database: hashes of rows compare
 * equal across the two only if dates, times and numbers print the same way.
 */
export const canonicalTextSettings = [
  "set local timezone to 'UTC'",
  "set local datestyle to 'ISO, YMD'",
  "set local intervalstyle to 'postgres'",
  "set local extra_float_digits to 1",
  "set local bytea_output to 'hex'",
];

/** A bucket number 0..buckets-1 from a text, the same in every PostgreSQL (md5, not hashtext). */
export function bucketExpression(text: string, buckets: number): string {
  return `(('x' || substr(md5(${text}), 1, 8))::bit(32)::bigint % ${buckets})::int`;
}

/** The row's text and key text of `alias` for verification. */
export function rowText(columns: readonly string[], alias = "t"): string {
  return `(row(${columnList(columns, alias)}))::text`;
}
