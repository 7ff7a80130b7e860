/**
 * Verify: whether a definition's destination holds exactly its source's rows, computed in each
 * database, not by moving the rows. Each side hashes every row (md5 of the row's text under the
 * same text settings) and sums the hashes into 256 buckets by key; only the keys of buckets that
 * differ are then listed from both sides, as (key, hash), and compared. A definition with a
 * transform is compared by staging its transformed source rows in a rolled-back production
 * transaction (those rows do move).
 */
import type { Sql } from "../db.ts";
import { describeTable, sourceColumns, SyncDriftError } from "./catalog.ts";
import type { SyncDefinition, SyncRow } from "./definitions.ts";
import type { TxSql } from "./destination.ts";
import { bucketExpression, canonicalTextSettings, columnList, qualified, quoteIdent, rowText } from "./sql_text.ts";

const buckets = 256;
/** At most this many differing keys are listed per table. */
const listedDifferences = 50;

export interface TableDifference {
  key: string;
  difference: "missing in destination" | "extra in destination" | "content differs";
}

export interface TableVerification {
  definition: string;
  direction: "push" | "pull";
  sourceRows: number;
  destinationRows: number;
  equal: boolean;
  differences: TableDifference[];
  /** How many differing keys there were in all (only `listedDifferences` are listed). */
  differenceCount: number;
}

interface Side {
  sql: Sql | TxSql;
  relation: string;
  columns: string[];
  key: string[];
  where?: string;
}

function bucketQuery(side: Side): string {
  const key = rowText(side.key, "t");
  return `select ${bucketExpression(key, buckets)} as bucket, count(*)::bigint as rows,
                 sum(('x' || substr(md5(${rowText(side.columns, "t")}), 1, 15))::bit(60)::bigint)::text as total
            from ${side.relation} as t ${side.where ? `where ${side.where}` : ""}
           group by 1`;
}

function keysQuery(side: Side, inBuckets: number[]): string {
  const key = rowText(side.key, "t");
  return `select ${key} as key, md5(${rowText(side.columns, "t")}) as hash
            from ${side.relation} as t
           where ${bucketExpression(key, buckets)} = any('{${inBuckets.join(",")}}'::int[]) ${side.where ? `and ${side.where}` : ""}`;
}

async function inCanonicalText<T>(sql: Sql | TxSql, body: (tx: TxSql) => Promise<T>, alreadyInTransaction = false): Promise<T> {
  const run = async (tx: TxSql) => {
    for (const setting of canonicalTextSettings) await tx.unsafe(setting);
    return await body(tx);
  };
  return alreadyInTransaction ? await run(sql) : await (sql as Sql).begin(run) as T;
}

async function bucketsOf(side: Side, inTransaction = false): Promise<Map<number, { rows: number; total: string }>> {
  const rows: { bucket: number; rows: string; total: string }[] = await inCanonicalText(
    side.sql,
    (tx) => tx.unsafe(bucketQuery(side)),
    inTransaction,
  );
  return new Map(rows.map((r) => [r.bucket, { rows: Number(r.rows), total: r.total }]));
}

async function keysOf(side: Side, inBuckets: number[], inTransaction = false): Promise<Map<string, string>> {
  const rows: { key: string; hash: string }[] = await inCanonicalText(
    side.sql,
    (tx) => tx.unsafe(keysQuery(side, inBuckets)),
    inTransaction,
  );
  return new Map(rows.map((r) => [r.key, r.hash]));
}

async function compareSides(source: Side, destination: Side, inTransaction: boolean): Promise<Omit<TableVerification, "definition" | "direction">> {
  const [a, b] = [await bucketsOf(source, inTransaction), await bucketsOf(destination, inTransaction)];
  const count = (m: Map<number, { rows: number }>) => [...m.values()].reduce((s, v) => s + v.rows, 0);
  const differing = [...new Set([...a.keys(), ...b.keys()])].filter((bucket) => {
    const [x, y] = [a.get(bucket), b.get(bucket)];
    return x?.rows !== y?.rows || x?.total !== y?.total;
  }).sort((x, y) => x - y);
  const differences: TableDifference[] = [];
  let differenceCount = 0;
  if (differing.length > 0) {
    const [sourceKeys, destinationKeys] = [await keysOf(source, differing, inTransaction), await keysOf(destination, differing, inTransaction)];
    const note = (key: string, difference: TableDifference["difference"]) => {
      differenceCount += 1;
      if (differences.length < listedDifferences) differences.push({ key, difference });
    };
    for (const [key, hash] of sourceKeys) {
      const there = destinationKeys.get(key);
      if (there === undefined) note(key, "missing in destination");
      else if (there !== hash) note(key, "content differs");
    }
    for (const key of destinationKeys.keys()) if (!sourceKeys.has(key)) note(key, "extra in destination");
  }
  return { sourceRows: count(a), destinationRows: count(b), equal: differing.length === 0, differences, differenceCount };
}

/** Compares one definition's source and destination; `home` and `production` as the run uses them. */
export async function verifyDefinition(home: Sql, production: Sql, definition: SyncDefinition): Promise<TableVerification> {
  const [sourceDb, destinationDb] = definition.direction === "push" ? [home, production] : [production, home];
  const shape = await describeTable(sourceDb, definition.source.schema, definition.source.table);
  if (!shape) throw new SyncDriftError(definition.name, [`source ${definition.source.schema}.${definition.source.table} does not exist`]);
  const columns = sourceColumns(definition, shape);
  const destinationRelation = qualified(definition.destination.schema, definition.destination.table);
  const base = { definition: definition.name, direction: definition.direction };
  if (!definition.transform) {
    const names = columns.map((c) => c.name);
    const key = definition.destination.conflictColumns;
    return {
      ...base,
      ...(await compareSides(
        { sql: sourceDb, relation: qualified(definition.source.schema, definition.source.table), columns: names, key },
        { sql: destinationDb, relation: destinationRelation, columns: names, key },
        false,
      )),
    };
  }
  // Transformed rows exist only after the transform: stage them next to the destination, compare there, roll back.
  const written = definition.destination.columns!;
  const rows: SyncRow[] = await sourceDb.unsafe(
    `select ${columns.map((c) => `${quoteIdent(c.name)}::text as ${quoteIdent(c.name)}`).join(", ")}
       from ${qualified(definition.source.schema, definition.source.table)}`,
  );
  const expected = rows.map((r) => definition.transform!(r)).filter((r): r is SyncRow => r !== null)
    .map((r) => Object.fromEntries(written.map((c) => [c, r[c] ?? null])));
  let outcome: Omit<TableVerification, "definition" | "direction"> | undefined;
  try {
    await destinationDb.begin(async (tx) => {
      await tx.unsafe(`create temp table sync_verify_expected on commit drop as select ${columnList(written)} from ${destinationRelation} with no data`);
      await tx.unsafe(
        `insert into sync_verify_expected select * from pg_catalog.jsonb_populate_recordset(null::sync_verify_expected, $1::text::jsonb)`,
        [JSON.stringify(expected)],
      );
      const key = definition.destination.conflictColumns;
      outcome = await compareSides(
        { sql: tx, relation: "sync_verify_expected", columns: written, key },
        { sql: tx, relation: destinationRelation, columns: written, key },
        true,
      );
      throw new VerifyRollback();
    });
  } catch (error) {
    if (!(error instanceof VerifyRollback)) throw error;
  }
  return { ...base, ...outcome! };
}

class VerifyRollback extends Error {}

export async function verifyDefinitions(home: Sql, production: Sql, definitions: readonly SyncDefinition[]): Promise<TableVerification[]> {
  const results: TableVerification[] = [];
  for (const definition of definitions) results.push(await verifyDefinition(home, production, definition));
  return results;
}
