/**
 * The push: final tables from the working database (home) to the production project.
 *
 * One run reads home in ONE repeatable-read snapshot. Its watermark is the snapshot's xmin: every
 * transaction below it has finished. Per definition, parents first, it reads the rows past the
 * cursor in (sync_xid, key) order, in batches; each batch is one production transaction (COPY into
 * an `on commit drop` table, one upsert that skips unchanged rows); after it commits, the cursor
 * moves to the batch's last row below the watermark. Rows at or above the watermark that the
 * snapshot already sees are sent too (so a child never arrives before its parent), but the cursor
 * stays below them, and the next run sends them again, unchanged rows unwritten. A transaction
 * still open at the snapshot commits rows with a sync_xid at or above the watermark: the next run
 * reads them. Then deletes, children first, from the tombstones past their own cursor.
 */
import type { Sql } from "../db.ts";
import {
  describeTable,
  describeTables,
  driftDifferences,
  type ForeignKey,
  sourceColumns,
  SyncDriftError,
  type TableColumn,
  type TableShape,
  tableKey,
} from "./catalog.ts";
import type { SyncDefinition, SyncRow } from "./definitions.ts";
import { copyOutStream, settlesWithin, type TxSql, type WriteCounts, writeCopyBatch, writeDocumentBatch, writeRowsBatch } from "./destination.ts";
import { batchReferenceChecks, perRowChecksOff } from "./reference_checks.ts";
import {
  columnList,
  deleteByKeysStatement,
  positionPredicate,
  qualified,
  quoteIdent,
  quoteLiteral,
  type StreamPosition,
  streamOrder,
  type TypedColumn,
} from "./sql_text.ts";
import type { DefinitionTally, RunControl } from "./run_control.ts";

type Stream = "rows" | "tombstones";

interface PushPlan {
  definition: SyncDefinition;
  tracking: string;
  source: TableShape;
  /** The source columns moved (without a transform, the same names are written). */
  columns: TableColumn[];
  /** The source's tie-breaker with its types. */
  key: TypedColumn[];
  destination: string;
  written: string[];
  /** The destination's conflict columns with the destination's types. */
  destinationKey: TypedColumn[];
  /** The foreign keys each batch checks set-based; null: the destination's per-row checks run. */
  referenceChecks: ForeignKey[] | null;
  /**
   * Whether small batches may travel as one JSON document: not with json or jsonb columns, whose
   * JSON null would arrive as SQL NULL.
   */
  documentSafe: boolean;
  /** The destination as tableKey names it. */
  destinationTable: string;
  /** The tables the destination's foreign keys reference (tableKey names). */
  referencedTables: Set<string>;
  /** Whether the destination has triggers or rules of its own (they may read other tables). */
  destinationHasTriggersOrRules: boolean;
}

export class SyncBatchError extends Error {
  constructor(definition: string, stream: Stream, batch: number, after: StreamPosition | null, cause: unknown) {
    const from = after ? `after sync_xid ${after.syncXid} ${JSON.stringify(after.key)}` : "from the start";
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`push ${definition}: ${stream} batch ${batch} (${from}) failed: ${reason}`, { cause });
    this.name = "SyncBatchError";
    this.definition = definition;
  }
  readonly definition: string;
}

/** What the production project says before a push: the destinations' shapes, and what the role may do. */
export interface DestinationCatalog {
  shapes: Map<string, TableShape>;
  /** Whether a transaction may turn the per-row foreign key checks off (reference_checks.ts). */
  mayCheckReferencesPerBatch: boolean;
}

/**
 * The destinations' shapes of all `definitions`, in one production round trip; the same message
 * tries `set local session_replication_role` (in its implicit transaction: nothing stays set). A
 * role that may not (not a superuser, nor Supabase's `postgres`) costs a second round trip.
 */
export async function describeDestinations(production: Sql | TxSql, definitions: readonly SyncDefinition[]): Promise<DestinationCatalog> {
  const tables = definitions.map((d) => ({ schema: d.destination.schema, table: d.destination.table }));
  try {
    return { shapes: await describeTables(production, tables, perRowChecksOff), mayCheckReferencesPerBatch: true };
  } catch (error) {
    if ((error as { code?: string }).code !== "42501") throw error;
    return { shapes: await describeTables(production, tables), mayCheckReferencesPerBatch: false };
  }
}

/**
 * Reads one change-tracked definition's plan: columns on both sides, drift refused. `destinations`
 * are the production shapes (describeDestinations); without them, this definition's is read.
 */
export async function planPush(
  reader: TxSql,
  production: Sql | TxSql,
  definition: SyncDefinition,
  destinations?: DestinationCatalog,
): Promise<PushPlan> {
  if (definition.cursor.kind !== "change_tracking") throw new Error(`${definition.name}: a push needs a change_tracking cursor`);
  const source = await describeTable(reader, definition.source.schema, definition.source.table);
  if (!source) throw new SyncDriftError(definition.name, [`source ${definition.source.schema}.${definition.source.table} does not exist`]);
  const tracking = definition.cursor.column;
  if (!source.columns.some((c) => c.name === tracking && c.type === "xid8")) {
    throw new SyncDriftError(definition.name, [
      `source ${source.schema}.${source.table} has no ${tracking} xid8 column: add the table to sync_change_tracking.sql`,
    ]);
  }
  const columns = sourceColumns(definition, source);
  const key = definition.cursor.tieBreaker.map((name) => {
    const column = source.columns.find((c) => c.name === name);
    if (!column) throw new SyncDriftError(definition.name, [`source has no tie-breaker column ${name}`]);
    return { name, type: column.type };
  });
  const destinationShape = destinations
    ? destinations.shapes.get(tableKey(definition.destination.schema, definition.destination.table)) ?? null
    : await describeTable(production, definition.destination.schema, definition.destination.table);
  const written = definition.transform ? definition.destination.columns! : columns.map((c) => c.name);
  const differences = driftDifferences({
    definition,
    written: definition.transform ? written.map((name) => ({ name, type: "" })) : columns,
    typed: !definition.transform,
    destination: destinationShape,
    exact: !definition.transform && definition.source.columns === "*",
  });
  // The upsert leaves unchanged rows alone by comparing them, and json (unlike jsonb) has no equality.
  for (const column of destinationShape?.columns ?? []) {
    if (written.includes(column.name) && /^json(\[\])*$/.test(column.type)) {
      differences.push(`${definition.destination.schema}.${definition.destination.table}.${column.name} is ${column.type}, which cannot be compared: use jsonb`);
    }
  }
  if (differences.length > 0) throw new SyncDriftError(definition.name, differences);
  const destinationKey = definition.destination.conflictColumns.map((name) => ({
    name,
    type: destinationShape!.columns.find((c) => c.name === name)!.type,
  }));
  return {
    definition,
    tracking,
    source,
    columns,
    key,
    destination: qualified(definition.destination.schema, definition.destination.table),
    written,
    destinationKey,
    referenceChecks: destinations?.mayCheckReferencesPerBatch
      ? batchReferenceChecks(destinationShape!, written, definition.destination.conflictColumns)
      : null,
    documentSafe: !columns.some((c) => /^jsonb?(\[\])*$/.test(c.type)),
    destinationTable: tableKey(definition.destination.schema, definition.destination.table),
    referencedTables: new Set(destinationShape!.foreignKeys.map((key) => tableKey(key.references.schema, key.references.table))),
    destinationHasTriggersOrRules: destinationShape!.hasTriggersOrRules,
  };
}

async function loadCursor(home: Sql, definition: string, stream: Stream): Promise<StreamPosition | null> {
  const [row] = await home<{ sync_xid: string; position: Record<string, string> }[]>`
    select sync_xid::text as sync_xid, position from conveyor.sync_cursors
     where definition = ${definition} and stream = ${stream}`;
  return row ? { syncXid: row.sync_xid, key: row.position } : null;
}

async function saveCursor(home: Sql, definition: string, stream: Stream, position: StreamPosition): Promise<void> {
  await home`
    insert into conveyor.sync_cursors (definition, stream, sync_xid, position)
    values (${definition}, ${stream}, ${position.syncXid}::xid8, ${JSON.stringify(position.key)}::text::jsonb)
    on conflict (definition, stream) do update
       set sync_xid = excluded.sync_xid, position = excluded.position, updated_at = pg_catalog.now()`;
}

interface BatchBounds {
  rows: number;
  last: StreamPosition | null;
  lastBelow: StreamPosition | null;
}

function positionJson(tracking: string, key: readonly TypedColumn[], alias: string): string {
  const keyObject = key.map((k) => `${quoteLiteral(k.name)}, ${alias}.${quoteIdent(k.name)}::text`).join(", ");
  return `pg_catalog.jsonb_build_object('syncXid', ${alias}.${quoteIdent(tracking)}::text, 'key', pg_catalog.jsonb_build_object(${keyObject}))`;
}

/**
 * Every batch of a stream past `after`, from one query: one sort of the rows left, instead of one
 * top-N sort of them per batch (a million rows in batches of 100,000: one sort, not ten). The
 * stream is ordered by (tracking, key), so the rows below the watermark come first, and a batch's
 * last position below it is its last row's, or the stream's last row below the watermark when
 * that falls inside the batch. One pass over the sorted rows finds all of them: a row ends a batch
 * when its number is a multiple of the batch size or no row follows it, and it is the last below
 * the watermark when the row after it is not below it.
 */
async function planBatches(options: {
  reader: TxSql;
  from: string;
  tracking: string;
  key: readonly TypedColumn[];
  after: StreamPosition | null;
  watermark: string;
  batchRows: number;
  /** A further condition on the source's rows (alias `s`). */
  extraWhere?: string;
}): Promise<BatchBounds[]> {
  const { reader, from, tracking, key, after, watermark, batchRows, extraWhere } = options;
  const keyColumns = [tracking, ...key.map((k) => k.name)];
  const trackingColumn = quoteIdent(tracking);
  const belowWatermark = (value: string) => `${value} < ${quoteLiteral(watermark)}::pg_catalog.xid8`;
  const rows: { n: string; position: StreamPosition; below: boolean; boundary: boolean; last_below: boolean }[] = await reader.unsafe(
    `select x.n::text as n, ${positionJson(tracking, key, "x")} as position, ${belowWatermark(`x.${trackingColumn}`)} as below,
            (x.n % ${batchRows} = 0 or x.next_tracking is null) as boundary,
            (${belowWatermark(`x.${trackingColumn}`)} and (x.next_tracking is null or not ${belowWatermark("x.next_tracking")})) as last_below
       from (
         select ${columnList(keyColumns, "s")}, row_number() over w as n, pg_catalog.lead(s.${trackingColumn}) over w as next_tracking
           from ${from} as s
          where ${positionPredicate(tracking, key, after, ">")} ${extraWhere ? `and ${extraWhere}` : ""}
         window w as (order by ${streamOrder(tracking, key)})
       ) as x
      where x.n % ${batchRows} = 0 or x.next_tracking is null
         or (${belowWatermark(`x.${trackingColumn}`)} and not ${belowWatermark("x.next_tracking")})`,
  );
  const lastBelow = rows.find((r) => r.last_below);
  const boundaries = rows.filter((r) => r.boundary).sort((a, b) => Number(a.n) - Number(b.n));
  let previous = 0;
  return boundaries.map((r) => {
    const n = Number(r.n);
    const inside = lastBelow && Number(lastBelow.n) > previous && Number(lastBelow.n) <= n;
    const bounds = { rows: n - previous, last: r.position, lastBelow: r.below ? r.position : inside ? lastBelow.position : null };
    previous = n;
    return bounds;
  });
}

/** The rows of the stream in (after, upTo], as text values, for a transform. */
async function readRowsAsText(reader: TxSql, plan: PushPlan, after: StreamPosition | null, upTo: StreamPosition): Promise<SyncRow[]> {
  const selected = plan.columns.map((c) => `s.${quoteIdent(c.name)}::text as ${quoteIdent(c.name)}`).join(", ");
  return await reader.unsafe(
    `select ${selected} from ${qualified(plan.source.schema, plan.source.table)} as s
      where ${positionPredicate(plan.tracking, plan.key, after, ">")} and ${positionPredicate(plan.tracking, plan.key, upTo, "<=")}
      order by ${streamOrder(plan.tracking, plan.key)}`,
  );
}

/** The rows of the stream in (after, upTo] as one JSON array (`to_jsonb` of each row's moved columns). */
async function readRowsAsDocument(reader: TxSql, plan: PushPlan, after: StreamPosition | null, upTo: StreamPosition): Promise<string> {
  const [row] = await reader.unsafe(
    `select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(r)), '[]')::text as document from (
       select ${columnList(plan.columns.map((c) => c.name), "s")} from ${qualified(plan.source.schema, plan.source.table)} as s
        where ${positionPredicate(plan.tracking, plan.key, after, ">")} and ${positionPredicate(plan.tracking, plan.key, upTo, "<=")}
     ) as r`,
  );
  return row.document;
}

/** Batches of at most this many rows go as one JSON document (one round trip) instead of a COPY (two). */
const documentBatchRows = 1000;

function copyOutStatement(plan: PushPlan, after: StreamPosition | null, upTo: StreamPosition): string {
  return `copy (select ${columnList(plan.columns.map((c) => c.name), "s")} from ${qualified(plan.source.schema, plan.source.table)} as s
    where ${positionPredicate(plan.tracking, plan.key, after, ">")} and ${positionPredicate(plan.tracking, plan.key, upTo, "<=")}) to stdout`;
}

function transformed(plan: PushPlan, rows: readonly SyncRow[]): SyncRow[] {
  const transform = plan.definition.transform!;
  const out: SyncRow[] = [];
  for (const row of rows) {
    const result = transform(row);
    if (result === null) continue;
    const picked: SyncRow = {};
    for (const column of plan.written) picked[column] = result[column] ?? null;
    out.push(picked);
  }
  return out;
}

export interface PushContext {
  home: Sql;
  production: Sql;
  control: RunControl;
  /** Every definition known, to tell whether another one still needs a table's tombstones. */
  allDefinitions: readonly SyncDefinition[];
}

/** A batch sent to production and not yet settled (its transaction may still be applying). */
interface BatchInFlight {
  plan: PushPlan;
  tally: DefinitionTally;
  batch: number;
  after: StreamPosition | null;
  bounds: BatchBounds;
  written: Promise<WriteCounts>;
}

/**
 * Whether a batch of `next` may be sent while one of `waiting` still applies on the other
 * production connection. Not when either references the other (a child row's parent may be in the
 * batch still applying, invisible to the next transaction), a destination references itself, two
 * definitions write one table, either of two tables has triggers or rules of its own (they may
 * read the other), or in a dry run (its batches share one transaction).
 */
function mayOverlap(waiting: PushPlan, next: PushPlan, dryRun: boolean): boolean {
  if (dryRun) return false;
  if (waiting === next) return !next.referencedTables.has(next.destinationTable);
  if (waiting.destinationTable === next.destinationTable) return false;
  if (waiting.destinationHasTriggersOrRules || next.destinationHasTriggersOrRules) return false;
  return !next.referencedTables.has(waiting.destinationTable) && !waiting.referencedTables.has(next.destinationTable);
}

/**
 * The batches sent to production and not yet settled, across definitions, in the order sent. A
 * batch goes as soon as a production connection is free (the pool's two), unless one still
 * unsettled may not overlap it (`mayOverlap`): that one and all before it settle first. They
 * settle in the order sent: a batch's cursor is saved only after every batch before it has
 * committed, so a failure leaves each cursor at the last batch applied with all before it (a later
 * batch that committed anyway is sent again by the next run, unchanged rows unwritten).
 */
class BatchesInFlight {
  readonly #queue: { batch: BatchInFlight; done: boolean }[] = [];
  /**
   * Aborted when a batch fails: it ends the next one's wait for a connection (with the destination
   * down that wait would last its whole deadline), so the first failure is the one reported.
   */
  readonly #failure = new AbortController();

  constructor(private readonly context: PushContext) {}

  async #settle(sent: BatchInFlight): Promise<void> {
    const { plan, tally } = sent;
    const name = plan.definition.name;
    let counts: WriteCounts;
    try {
      counts = await sent.written;
    } catch (error) {
      throw new SyncBatchError(name, "rows", sent.batch, sent.after, error);
    }
    if (!this.context.control.dryRun && sent.bounds.lastBelow) await saveCursor(this.context.home, name, "rows", sent.bounds.lastBelow);
    tally.inserted += counts.inserted;
    tally.updated += counts.updated;
    tally.bytes += counts.bytes;
    tally.rowsRead += sent.bounds.rows;
    await this.context.control.afterBatch(name);
  }

  /** Settles the first `count` batches, in order (one that fails stays, for `abandon`). */
  async #settleFirst(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      await this.#settle(this.#queue[0].batch);
      this.#queue.shift();
    }
  }

  /** Settles the leading batches whose transactions have ended. */
  async #settleEnded(): Promise<void> {
    let ended = 0;
    while (ended < this.#queue.length && this.#queue[ended].done) ended += 1;
    await this.#settleFirst(ended);
  }

  /** Settles every batch sent. */
  async settleAll(): Promise<void> {
    await this.#settleFirst(this.#queue.length);
  }

  /** Before a batch of `plan` is sent: settles the ended ones, and every one up to the last it may not overlap. */
  async makeWayFor(plan: PushPlan): Promise<void> {
    await this.#settleEnded();
    let through = 0;
    this.#queue.forEach((entry, index) => {
      if (!mayOverlap(entry.batch.plan, plan, this.context.control.dryRun)) through = index + 1;
    });
    await this.#settleFirst(through);
  }

  /** What a batch's wait for its connection listens to: an earlier batch's failure. */
  get failure(): AbortSignal {
    return this.#failure.signal;
  }

  /** A batch sent, once its rows have left the working database (`failed`: or it failed first). */
  async sent(batch: BatchInFlight, failed: boolean): Promise<void> {
    const entry = { batch, done: false };
    const ended = () => entry.done = true;
    batch.written.then(ended, () => {
      ended();
      this.#failure.abort();
    });
    this.#queue.push(entry);
    if (failed) await this.settleAll();
    else await this.#settleEnded();
  }

  /** After a failure: batches still applying end before the run does (bounded: each commits or fails with its connection). */
  async abandon(): Promise<void> {
    const left = this.#queue.splice(0);
    await Promise.all(left.map((entry) => entry.batch.written.catch(() => {})));
  }
}

/**
 * Upserts of one definition, batch after batch, until the stream is drained or the run must stop.
 * Once a batch's rows have left the working database (its COPY drained), the next batch, of this
 * definition or the next one's, is read and staged while production still applies the one before
 * (`inFlight`); this definition's bounds are planned at home meanwhile too.
 */
async function pushRows(
  context: PushContext,
  reader: TxSql,
  watermark: string,
  plan: PushPlan,
  tally: DefinitionTally,
  inFlight: BatchesInFlight,
): Promise<boolean> {
  const { home, control } = context;
  const name = plan.definition.name;
  const target = {
    table: plan.destination,
    columns: plan.written,
    conflictColumns: plan.definition.destination.conflictColumns,
    dropStage: control.dryRun,
    referenceChecks: plan.referenceChecks,
    name: `${plan.definition.destination.schema}.${plan.definition.destination.table}`,
  };
  let after = control.full ? null : await loadCursor(home, name, "rows");
  let batches: BatchBounds[];
  try {
    batches = await planBatches({
      reader,
      from: qualified(plan.source.schema, plan.source.table),
      tracking: plan.tracking,
      key: plan.key,
      after,
      watermark,
      batchRows: control.batchRows,
    });
  } catch (error) {
    throw new SyncBatchError(name, "rows", 1, after, error);
  }
  for (const [index, bounds] of batches.entries()) {
    const batch = index + 1;
    if (control.shouldStop()) return false;
    await inFlight.makeWayFor(plan);
    const from = after;
    const upTo = bounds.last!;
    let readerFree!: () => void;
    const sourceRead = new Promise<void>((resolve) => readerFree = resolve);
    const written: Promise<WriteCounts> = control.inDestination(async (tx) => {
      if (plan.definition.transform) {
        const rows = transformed(plan, await readRowsAsText(reader, plan, from, upTo));
        readerFree();
        if (rows.length === 0) return { inserted: 0, updated: 0, bytes: 0 };
        return await writeRowsBatch(tx, target, rows);
      }
      if (bounds.rows <= documentBatchRows && plan.documentSafe) {
        const document = await readRowsAsDocument(reader, plan, from, upTo);
        readerFree();
        return await writeDocumentBatch(tx, target, document);
      }
      return await writeCopyBatch(tx, target, () => copyOutStream(reader.unsafe(copyOutStatement(plan, from, upTo))), { onSourceRead: readerFree });
    }, inFlight.failure);
    // The working database's reader is needed for the next batch: wait until this one has read
    // it, or has failed (then its source may be cut short: it is settled, and the run ends).
    const outcome = await Promise.race([sourceRead.then(() => "read"), written.then(() => "written", () => "failed")]);
    await inFlight.sent({ plan, tally, batch, after: from, bounds, written }, outcome === "failed");
    after = upTo;
  }
  return true;
}

const tombstoneKey: TypedColumn[] = [{ name: "id", type: "bigint" }];

/** Deletes of one definition from its tombstones; a key alive again in the source is not deleted. */
async function pushDeletes(context: PushContext, reader: TxSql, watermark: string, plan: PushPlan, tally: DefinitionTally): Promise<boolean> {
  const { home, control } = context;
  const name = plan.definition.name;
  const tableName = `${plan.source.schema}.${plan.source.table}`;
  const alive = plan.key.map((k) => `s.${quoteIdent(k.name)} = r.${quoteIdent(k.name)}`).join(" and ");
  let after = control.full ? null : await loadCursor(home, name, "tombstones");
  let batches: BatchBounds[];
  try {
    batches = await planBatches({
      reader,
      from: "conveyor.sync_tombstones",
      tracking: "sync_xid",
      key: tombstoneKey,
      after,
      watermark,
      batchRows: control.batchRows,
      extraWhere: `s.table_name = ${quoteLiteral(tableName)}`,
    });
  } catch (error) {
    throw new SyncBatchError(name, "tombstones", 1, after, error);
  }
  const where = `t.table_name = ${quoteLiteral(tableName)}`;
  for (const [index, bounds] of batches.entries()) {
    const batch = index + 1;
    if (control.shouldStop()) return false;
    try {
      // The old rows in the source's types, then as text: the same form the rows' path gives a transform.
      const source = qualified(plan.source.schema, plan.source.table);
      const tombstones: SyncRow[] = await reader.unsafe(
        `select ${plan.columns.map((c) => `r.${quoteIdent(c.name)}::text as ${quoteIdent(c.name)}`).join(", ")}
           from conveyor.sync_tombstones as t
           cross join lateral pg_catalog.jsonb_populate_record(null::${source}, t.old_row) as r
          where ${where} and ${positionPredicate("sync_xid", tombstoneKey, after, ">", "t")}
            and ${positionPredicate("sync_xid", tombstoneKey, bounds.last!, "<=", "t")}
            and not exists (select from ${source} as s where ${alive})`,
      );
      const keys: SyncRow[] = [];
      for (const oldRow of tombstones) {
        const row = plan.definition.transform ? plan.definition.transform(oldRow) : oldRow;
        if (row === null) continue;
        keys.push(Object.fromEntries(plan.destinationKey.map((k) => [k.name, row[k.name] ?? null])));
      }
      if (keys.length > 0) {
        const document = JSON.stringify(keys);
        const deleted = await control.inDestination(async (tx) => {
          const removed = tx.sql.unsafe(deleteByKeysStatement(plan.destination, plan.destinationKey, document)).execute();
          if (tx.ownsCommit) tx.commit = tx.sql.unsafe("commit").execute(); // pipelined behind the delete
          tx.commit?.catch(() => {});
          const [row] = await removed;
          return Number(row.deleted);
        });
        tally.deleted += deleted;
        tally.bytes += new TextEncoder().encode(document).length;
      }
      if (!control.dryRun && bounds.lastBelow) await saveCursor(home, name, "tombstones", bounds.lastBelow);
      tally.rowsRead += bounds.rows;
      after = bounds.last;
      await control.afterBatch(name);
    } catch (error) {
      throw error instanceof SyncBatchError ? error : new SyncBatchError(name, "tombstones", batch, after, error);
    }
  }
  return true;
}

/**
 * Tombstones every reader of the table has passed are purged. Only when no other definition
 * pushes the same source table (each keeps its own cursor).
 */
async function purgeTombstones(context: PushContext, plan: PushPlan): Promise<void> {
  const sharing = context.allDefinitions.filter((d) =>
    d.direction === "push" && d.source.schema === plan.source.schema && d.source.table === plan.source.table
  );
  if (sharing.length !== 1) return;
  const cursor = await loadCursor(context.home, plan.definition.name, "tombstones");
  if (!cursor) return;
  await context.home.unsafe(
    `delete from conveyor.sync_tombstones as t
      where t.table_name = $1 and ${positionPredicate("sync_xid", tombstoneKey, cursor, "<=", "t")}`,
    [`${plan.source.schema}.${plan.source.table}`],
  );
}

/**
 * Runs the push of `definitions` (in dependency order) in one home snapshot: drift checks for
 * all first, then upserts parents first, then deletes children first. Returns whether everything
 * was drained (false: the run stopped for its budget; the next run resumes from the cursors).
 */
export async function pushDefinitions(
  context: PushContext,
  definitions: readonly SyncDefinition[],
  tallies: Map<string, DefinitionTally>,
): Promise<boolean> {
  const reader = await context.home.reserve();
  let open = false;
  let readerPid: number | undefined;
  try {
    await reader.unsafe("begin isolation level repeatable read, read only");
    open = true;
    const [snapshot] = await reader.unsafe(
      "select pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())::text as watermark, pg_catalog.pg_backend_pid() as pid",
    );
    const watermark: string = snapshot.watermark;
    readerPid = snapshot.pid;
    const plans: PushPlan[] = [];
    let destinations: DestinationCatalog;
    try {
      destinations = await describeDestinations(context.production, definitions);
    } catch (error) {
      if (definitions.length > 0) tallies.get(definitions[0].name)!.failedHere = true;
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`push ${definitions[0]?.name}: reading the destination's columns failed: ${reason}`, { cause: error });
    }
    for (const definition of definitions) {
      try {
        plans.push(await planPush(reader, context.production, definition, destinations));
      } catch (error) {
        tallies.get(definition.name)!.failedHere = true;
        if (error instanceof SyncDriftError) throw error;
        const reason = error instanceof Error ? error.message : String(error);
        throw new Error(`push ${definition.name}: reading the destination's columns failed: ${reason}`, { cause: error });
      }
    }
    const inFlight = new BatchesInFlight(context);
    let current: PushPlan | undefined;
    try {
      for (const plan of plans) {
        current = plan;
        if (!(await pushRows(context, reader, watermark, plan, tallies.get(plan.definition.name)!, inFlight))) {
          await inFlight.settleAll();
          return false;
        }
      }
      await inFlight.settleAll();
    } catch (error) {
      // The batch that failed may be an earlier definition's, settled while the next one's was sent.
      const failed = error instanceof SyncBatchError ? error.definition : current?.definition.name;
      if (failed !== undefined) tallies.get(failed)!.failedHere = true;
      throw error;
    } finally {
      await inFlight.abandon();
    }
    for (const plan of [...plans].reverse()) {
      const tally = tallies.get(plan.definition.name)!;
      try {
        if (!(await pushDeletes(context, reader, watermark, plan, tally))) return false;
        if (!context.control.dryRun) await purgeTombstones(context, plan);
      } catch (error) {
        tally.failedHere = true;
        throw error;
      }
    }
    return true;
  } finally {
    // A COPY out cut short (production gone mid-batch) leaves the connection unable to answer,
    // its server still sending and holding the snapshot's locks: its backend is ended from
    // another connection, and it is not handed back to the pool, where the next query would wait.
    if (!open || await settlesWithin(reader.unsafe("rollback"), rollbackDeadlineMs)) reader.release();
    else if (readerPid !== undefined) {
      await context.home`select pg_catalog.pg_terminate_backend(${readerPid}::integer)`.catch(() => {});
    }
  }
}

const rollbackDeadlineMs = 2000;
