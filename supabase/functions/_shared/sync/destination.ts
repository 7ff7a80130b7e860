/**
 * Writing one batch into a destination table inside a destination transaction: stage the rows in
 * an `on commit drop` temporary table (COPY bytes straight through, or one jsonb_populate_recordset
 * statement for transformed rows), then one set-based upsert that leaves unchanged rows alone.
 * Statements go out pipelined: a batch waits for the link about twice (the COPY's start, then the
 * end of everything behind it: reference check, upsert, COMMIT), not once per statement. Nothing
 * here keeps session state beyond the transaction, so it works through a transaction-mode pooler.
 */
import { Buffer } from "node:buffer";
import { Transform } from "node:stream";
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { columnList, quoteLiteral, upsertStatement } from "./sql_text.ts";
import type { SyncRow } from "./definitions.ts";
import type { ForeignKey } from "./catalog.ts";
import { perRowChecksOff, referenceCheckBlock } from "./reference_checks.ts";
import { lastTypeFetchFailure } from "../postgres_type_fetch.ts";

/** A transaction's query function (postgres.js TransactionSql or ReservedSql). */
// deno-lint-ignore no-explicit-any
export type TxSql = any;
// deno-lint-ignore no-explicit-any
type Pool = any;

/** The transaction a batch writes in. */
export interface DestinationTransaction {
  sql: TxSql;
  /**
   * Whether the batch ends it: then the batch sends COMMIT right behind its last statement. Not in
   * a dry run, whose batches share one transaction rolled back at the end.
   */
  ownsCommit: boolean;
  /** The COMMIT, once sent. */
  commit?: Promise<{ command: string }>;
}

/** How long a batch waits for a connection of the destination's pool before it fails. */
export const defaultConnectionWaitMs = 30_000;

export interface ConnectionWait {
  /** At most this long (default 30 s). */
  connectionWaitMs?: number;
  /** Stops the wait at once: the batch is not needed any more (an earlier one failed). */
  abandon?: AbortSignal;
}

/**
 * A connection reserved from `pool`, or an error after `connectionWaitMs` (or when `abandon`
 * aborts). postgres.js 3.4.7 drops a reserve whose new connection failed while it read the array
 * types (../postgres_type_fetch.ts), and retries a connection that a pooler or proxy accepts and
 * closes at once (the database behind it down) without end, its connect timeout started again
 * each time: the reserve would wait for ever. A connection handed over after the wait goes
 * straight back to the pool.
 */
export async function reserveWithin(pool: Pool, wait: ConnectionWait = {}): Promise<TxSql> {
  const ms = wait.connectionWaitMs ?? defaultConnectionWaitMs;
  const reserving: Promise<TxSql> = pool.reserve();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const given = new Promise<typeof expired | typeof abandoned>((resolve) => {
    timer = setTimeout(() => resolve(expired), ms);
    onAbort = () => resolve(abandoned);
    if (wait.abandon?.aborted) onAbort();
    else wait.abandon?.addEventListener("abort", onAbort, { once: true });
  });
  let outcome: TxSql | typeof expired | typeof abandoned;
  try {
    outcome = await Promise.race([reserving, given]);
  } finally {
    clearTimeout(timer);
    if (onAbort) wait.abandon?.removeEventListener("abort", onAbort);
  }
  if (outcome !== expired && outcome !== abandoned) return outcome;
  reserving.then((late) => late.release(), () => {});
  if (outcome === abandoned) throw new Error("not started: an earlier batch failed");
  const failure = lastTypeFetchFailure();
  const cause = failure && Date.now() - failure.at <= ms + 1000
    ? ` (a new connection failed as it opened: ${failure.message})`
    : " (the database or its pooler does not answer)";
  throw new Error(`no connection to the destination within ${ms / 1000} s${cause}`);
}

const expired = Symbol("expired");
const abandoned = Symbol("abandoned");

/**
 * Runs `work` in a transaction of its own on one connection of `pool`. BEGIN goes out with the
 * first statement instead of a round trip before it; the COMMIT is the batch's (pipelined behind
 * its upsert) or, when the batch did not send it, sent here. A COMMIT answered ROLLBACK (a
 * statement failed) is an error. The connection is waited for as `wait` says (reserveWithin).
 */
export async function inBatchTransaction<T>(
  pool: Pool,
  work: (tx: DestinationTransaction) => Promise<T>,
  wait: ConnectionWait = {},
): Promise<T> {
  const sql = await reserveWithin(pool, wait);
  const tx: DestinationTransaction = { sql, ownsCommit: true };
  let answers = true;
  try {
    const begun = quietly(sql.unsafe("begin").execute());
    const result = await work(tx);
    await begun;
    const { command } = await (tx.commit ??= sql.unsafe("commit").execute() as Promise<{ command: string }>);
    if (command !== "COMMIT") throw new Error(`the destination transaction ended with ${command}, not COMMIT`);
    return result;
  } catch (error) {
    // After a failed statement the queued COMMIT has ended the transaction (as ROLLBACK). Else a
    // ROLLBACK, but only on a connection a statement's error came back on: postgres.js 3.4.7
    // writes a reserved connection's next statement even when its socket has closed, and fails
    // with an uncaught TypeError.
    answers = tx.commit
      ? await answeredWithin(tx.commit, rollbackDeadlineMs)
      : answeredWithStatementError(error) && await answeredWithin(sql.unsafe("rollback").execute(), rollbackDeadlineMs);
    throw error;
  } finally {
    // Only a connection that answered goes back to the pool. A connection cut mid-COPY may look
    // open to postgres.js (under Deno the socket's write error reaches only the COPY stream), its
    // next query waiting for ever; the pool's end closes it. And a connection that has closed
    // is already back among the pool's closed ones: postgres.js 3.4.7's release() would put it
    // among the open ones, and the next statement on it would fail as an uncaught TypeError
    // (writing to its socket, gone).
    if (answers) sql.release();
  }
}

const rollbackDeadlineMs = 2000;

/** An error the server sent about a statement (the session lives on), not a connection's end. */
function answeredWithStatementError(error: unknown): boolean {
  return (error as { severity?: string }).severity === "ERROR";
}

/**
 * Whether `statement` was answered within `ms` on a connection that lives on: it succeeded, or
 * the server refused it with an ERROR. Not when it failed with its connection (a FATAL error,
 * the socket closed), nor when it did not answer.
 */
function answeredWithin(statement: PromiseLike<unknown>, ms: number): Promise<boolean> {
  return trueWithin(Promise.resolve(statement).then(() => true, answeredWithStatementError), ms);
}

/** Whether `work` finished (either way) within `ms`. */
export function settlesWithin(work: PromiseLike<unknown>, ms: number): Promise<boolean> {
  return trueWithin(Promise.resolve(work).then(() => true, () => true), ms);
}

/** What `outcome` gives if it comes within `ms`, otherwise false. */
async function trueWithin(outcome: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([outcome, new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms))]);
  } finally {
    clearTimeout(timer);
  }
}

/** A statement sent ahead whose failure is read later, where it is awaited in order. */
function quietly<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/** Awaits statements sent ahead in the order sent, so the first failure is the one thrown. */
async function inOrder(sent: readonly Promise<unknown>[]): Promise<void> {
  for (const statement of sent) await statement;
}

export interface WriteCounts {
  inserted: number;
  updated: number;
  bytes: number;
}

export interface DestinationTarget {
  /** schema.table, quoted. */
  table: string;
  columns: readonly string[];
  conflictColumns: readonly string[];
  /**
   * Drop the staging table after the upsert: a dry run stages every batch in one transaction.
   * Otherwise `on commit drop` does it, a round trip fewer.
   */
  dropStage?: boolean;
  /**
   * The foreign keys the batch checks itself, set-based, with the destination's per-row checks
   * off for the transaction (reference_checks.ts); absent or null: the per-row checks run.
   */
  referenceChecks?: ForeignKey[] | null;
  /** schema.table as the reference check's error names it. */
  name?: string;
}

/**
 * postgres.js 3.4.7 pauses the connection's socket when a COPY TO stream's buffer is full, and
 * resumes it only from the stream's read hook. When the last data chunk filled the buffer, the
 * stream ends with the socket still paused, the query's completion is never read, and the next
 * query on that connection waits for ever (seen in tests: a push stalled after a batch). Calling
 * the read hook once more resumes the socket; on a running socket it does nothing.
 */
function resumeSourceConnection(source: Readable): void {
  (source as unknown as { _read(size: number): void })._read(0);
}

/**
 * The readable side of a `copy ... to stdout` query. The query's own failure (its backend ended
 * mid-COPY, say) destroys the stream with its error, which the pipe then reports; the query's
 * promise is otherwise nobody's, and its rejection would be an uncaught error.
 */
// deno-lint-ignore no-explicit-any
export async function copyOutStream(query: any): Promise<Readable> {
  const opening: Promise<Readable> = query.readable();
  query.catch(() => {}); // a failure before the stream exists is `opening`'s
  const readable = await opening;
  query.catch((error: Error) => readable.destroy(error));
  return readable;
}

/**
 * Calls `then` just after postgres.js has written the COPY's end to the socket (its stream's
 * final hook), before the server has answered it: a query sent then follows the COPY on the wire.
 */
function afterCopyEndSent(writable: Writable, then: () => void): void {
  const stream = writable as unknown as { _final(callback: (error?: Error | null) => void): void };
  const final = stream._final;
  stream._final = function (callback) {
    final.call(this, callback);
    then();
  };
}

let stages = 0;
/** A temporary table name unique within this process, so a dry run can stage many batches in one transaction. */
function stageName(): string {
  stages += 1;
  return `sync_stage_${stages}`;
}

/** How long a failed pipe waits for the COPY's own failure, the better message. */
const copyFailureWaitMs = 1000;

/** Bytes a piece of COPY data written to production holds, about. */
const copyPieceBytes = 64 * 1024;

/**
 * Counts the COPY's bytes and joins its chunks into pieces of about `copyPieceBytes`: postgres.js
 * reads a COPY out as one chunk a row, and writes each chunk it is given as a CopyData message of
 * its own with a socket write of its own (a million for a million rows, each through the proxy
 * and the pooler too). Joined, a piece is one message and one write.
 */
function copyPieces(onBytes: (n: number) => void): Transform {
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const piece = () => {
    const joined = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return joined;
  };
  return new Transform({
    transform(chunk: Uint8Array, _encoding, callback) {
      onBytes(chunk.length);
      pending.push(chunk);
      pendingBytes += chunk.length;
      callback(null, pendingBytes >= copyPieceBytes ? piece() : undefined);
    },
    flush(callback) {
      callback(null, pendingBytes > 0 ? piece() : undefined);
    },
  });
}

/** The statements after the staged rows: the reference check, the upsert, the COMMIT. */
function sendAfterStaging(
  tx: DestinationTransaction,
  target: DestinationTarget,
  stage: string,
  dedupe: boolean,
  commitToo: boolean,
  sent: Promise<unknown>[],
): Promise<{ inserted: string; updated: string }[]> {
  const check = target.referenceChecks ? referenceCheckBlock(target.name ?? target.table, stage, target.referenceChecks) : null;
  if (check) sent.push(quietly(tx.sql.unsafe(check).execute()));
  const upsert: Promise<{ inserted: string; updated: string }[]> = quietly(
    tx.sql.unsafe(upsertStatement({ ...target, destination: target.table, stage, dedupe })).execute(),
  );
  sent.push(upsert);
  if (commitToo) sent.push(tx.commit = quietly(tx.sql.unsafe("commit").execute()));
  return upsert;
}

/** Whether the batch may send COMMIT behind its upsert (nothing else to do in the transaction). */
function commitsItself(tx: DestinationTransaction, target: DestinationTarget, afterUpsert: unknown): boolean {
  return tx.ownsCommit && !afterUpsert && !target.dropStage;
}

/** The statements before the rows: per-row checks off (when the batch checks references itself), the stage. */
function sendBeforeStaging(tx: DestinationTransaction, target: DestinationTarget, createStage: string, sent: Promise<unknown>[]): void {
  if (target.referenceChecks) sent.push(quietly(tx.sql.unsafe(perRowChecksOff).execute()));
  sent.push(quietly(tx.sql.unsafe(createStage).execute()));
}

/**
 * COPY text from a COPY ... TO STDOUT stream of exactly `columns` into the destination. The source
 * is opened only once the destination's COPY is ready, and piped at once.
 */
export async function writeCopyBatch(
  tx: DestinationTransaction,
  target: DestinationTarget,
  openSource: () => Promise<Readable>,
  options: {
    afterUpsert?: (stage: string) => Promise<void>;
    /** Called once the source has been read to its end (its connection free for the next query); maybe twice. */
    onSourceRead?: () => void;
  } = {},
): Promise<WriteCounts> {
  const { afterUpsert } = options;
  const stage = stageName();
  const sent: Promise<unknown>[] = [];
  // The stage's CREATE and the COPY go out together (pipelined): one wait for the COPY to open.
  sendBeforeStaging(tx, target, `create temp table ${stage} on commit drop as select ${columnList(target.columns)} from ${target.table} with no data`, sent);
  const copy = tx.sql.unsafe(`copy ${stage} (${columnList(target.columns)}) from stdin`);
  const opening: Promise<Writable> = copy.writable();
  copy.catch(() => {}); // a failure before the stream exists is `opening`'s
  let writable: Writable;
  try {
    writable = await opening;
  } finally {
    await inOrder(sent); // a failure before the COPY is the one to report
  }
  // The COPY failing (the server's error, the connection cut) does not end postgres.js's stream:
  // without this, the pipe would wait for ever on a stream nobody reads.
  let copyFailure: unknown;
  copy.catch((error: Error) => {
    copyFailure ??= error;
    writable.destroy(error);
  });
  // An error the stream meets after the pipe has given up on it (the server's FATAL after a cut
  // connection's EPIPE) would otherwise be thrown as uncaught: the pipe has reported the first.
  writable.on("error", () => {});
  sent.length = 0;
  let bytes = 0;
  // The rest goes out right behind the COPY's end (pipelined), not one round trip after it.
  let upsert: Promise<{ inserted: string; updated: string }[]> | undefined;
  const sendRest = () => upsert ??= sendAfterStaging(tx, target, stage, false, commitsItself(tx, target, afterUpsert), sent);
  afterCopyEndSent(writable, sendRest);
  const source = await openSource();
  source.on("error", () => {}); // likewise: the pipe reports the source's first error
  // Read to its end: the source's connection may take its next query (it runs once the COPY's
  // completion is in), one round trip before the pipe finishes (when production has acknowledged).
  if (options.onSourceRead) source.once("end", options.onSourceRead);
  try {
    await pipeline(source, copyPieces((n) => bytes += n), writable);
  } catch (error) {
    // The COPY's own failure says what happened to the destination (the server's FATAL error, its
    // connection closed); the pipe may report a symptom instead: an EPIPE, or even, from Deno's
    // pipeline when it is given a stream already destroyed, "k is not a constructor" (a TypeError
    // of its own). postgres.js destroys the COPY's stream with the server's error when the
    // connection ends (`errored`), which may be before the pipe starts; otherwise the COPY's own
    // failure follows once postgres.js has seen the connection close (a COPY still open for
    // another reason, a failing source, does not end: the pipe's error then).
    const destroyedWith = writable.errored ?? undefined;
    if (copyFailure === undefined && destroyedWith === undefined) await settlesWithin(copy, copyFailureWaitMs);
    throw copyFailure ?? destroyedWith ?? error;
  } finally {
    // After a failure too (pipeline has destroyed the stream), so the rest of the COPY is read off.
    resumeSourceConnection(source);
  }
  options.onSourceRead?.();
  sendRest();
  await inOrder(sent);
  const [counts] = await upsert!;
  if (afterUpsert) await afterUpsert(stage);
  if (target.dropStage) await tx.sql.unsafe(`drop table ${stage}`);
  return { inserted: Number(counts.inserted), updated: Number(counts.updated), bytes };
}

/**
 * Rows (text values) into the destination; duplicate keys keep the last row. The rows travel as
 * one JSON literal in the statement's text (no bind parameter: through `prepare: false` a
 * parameter costs a describe round trip), so the whole batch goes out at once.
 */
export async function writeRowsBatch(
  tx: DestinationTransaction,
  target: DestinationTarget,
  rows: readonly SyncRow[],
  afterUpsert?: (stage: string) => Promise<void>,
): Promise<WriteCounts> {
  const document = JSON.stringify(rows.map((row, index) => ({ ...row, sync_stage_ordinal: index })));
  return await writeJsonBatch(tx, target, document, { ordered: true, afterUpsert });
}

/**
 * A small batch read as one JSON array of rows (`to_jsonb` of each, so every type comes back as
 * it went): one round trip for the whole transaction, where a COPY waits for the link once more
 * (for the COPY to open). Keys are unique in the document (one source snapshot).
 */
export async function writeDocumentBatch(tx: DestinationTransaction, target: DestinationTarget, document: string): Promise<WriteCounts> {
  return await writeJsonBatch(tx, target, document, { ordered: false });
}

async function writeJsonBatch(
  tx: DestinationTransaction,
  target: DestinationTarget,
  document: string,
  options: { ordered: boolean; afterUpsert?: (stage: string) => Promise<void> },
): Promise<WriteCounts> {
  const { ordered, afterUpsert } = options;
  const stage = stageName();
  const sent: Promise<unknown>[] = [];
  sendBeforeStaging(
    tx,
    target,
    `create temp table ${stage} on commit drop as
       select ${columnList(target.columns)}${ordered ? ", 0::bigint as sync_stage_ordinal" : ""} from ${target.table} with no data`,
    sent,
  );
  sent.push(quietly(tx.sql.unsafe(
    `insert into ${stage} select * from pg_catalog.jsonb_populate_recordset(null::${stage}, ${quoteLiteral(document)}::jsonb)`,
  ).execute()));
  const upsert = sendAfterStaging(tx, target, stage, ordered, commitsItself(tx, target, afterUpsert), sent);
  await inOrder(sent);
  const [counts] = await upsert;
  if (afterUpsert) await afterUpsert(stage);
  if (target.dropStage) await tx.sql.unsafe(`drop table ${stage}`);
  return { inserted: Number(counts.inserted), updated: Number(counts.updated), bytes: new TextEncoder().encode(document).length };
}
