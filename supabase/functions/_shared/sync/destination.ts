/**
 * Writing one batch into a destination table inside the caller's transaction: stage the rows in
 * an `on commit drop` temporary table (COPY bytes straight through, or one jsonb_to_recordset
 * statement for transformed rows), then one set-based upsert that leaves unchanged rows alone.
 * Nothing here keeps session state beyond the transaction, so it works through a
 * transaction-mode pooler.
 */
import { Transform } from "node:stream";
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { columnList, upsertStatement } from "./sql_text.ts";
import type { SyncRow } from "./definitions.ts";

/** A transaction's query function (postgres.js TransactionSql or ReservedSql). */
// deno-lint-ignore no-explicit-any
export type TxSql = any;

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

function byteCounter(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Uint8Array, _encoding, callback) {
      onBytes(chunk.length);
      callback(null, chunk);
    },
  });
}

/**
 * COPY text from a COPY ... TO STDOUT stream of exactly `columns` into the destination. The source
 * is opened only once the destination's COPY is ready, and piped at once.
 */
export async function writeCopyBatch(
  tx: TxSql,
  target: DestinationTarget,
  openSource: () => Promise<Readable>,
  afterUpsert?: (stage: string) => Promise<void>,
): Promise<WriteCounts> {
  const stage = stageName();
  // The stage's CREATE and the COPY go out together (pipelined): one wait for the COPY to open.
  const created = tx
    .unsafe(`create temp table ${stage} on commit drop as select ${columnList(target.columns)} from ${target.table} with no data`)
    .execute();
  const writable = await tx.unsafe(`copy ${stage} (${columnList(target.columns)}) from stdin`).writable();
  await created;
  let bytes = 0;
  // The upsert goes out right behind the COPY's end (pipelined), not one round trip after it.
  let upsert: Promise<{ inserted: string; updated: string }[]> | undefined;
  const sendUpsert = () => {
    if (!upsert) {
      upsert = tx.unsafe(upsertStatement({ ...target, destination: target.table, stage, dedupe: false })).execute();
      upsert!.catch(() => {}); // after a failed COPY it fails too; the COPY's error is the one thrown
    }
    return upsert!;
  };
  afterCopyEndSent(writable, sendUpsert);
  const source = await openSource();
  try {
    await pipeline(source, byteCounter((n) => bytes += n), writable);
  } finally {
    // After a failure too (pipeline has destroyed the stream), so the rest of the COPY is read off.
    resumeSourceConnection(source);
  }
  const [counts] = await sendUpsert();
  if (afterUpsert) await afterUpsert(stage);
  if (target.dropStage) await tx.unsafe(`drop table ${stage}`);
  return { inserted: Number(counts.inserted), updated: Number(counts.updated), bytes };
}

/** Rows (text values) into the destination in one statement; duplicate keys keep the last row. */
export async function writeRowsBatch(
  tx: TxSql,
  target: DestinationTarget,
  rows: readonly SyncRow[],
  afterUpsert?: (stage: string) => Promise<void>,
): Promise<WriteCounts> {
  const stage = stageName();
  await tx.unsafe(
    `create temp table ${stage} on commit drop as
       select ${columnList(target.columns)}, 0::bigint as sync_stage_ordinal from ${target.table} with no data`,
  );
  const document = JSON.stringify(rows.map((row, index) => ({ ...row, sync_stage_ordinal: index })));
  await tx.unsafe(
    `insert into ${stage} select * from pg_catalog.jsonb_populate_recordset(null::${stage}, $1::text::jsonb)`,
    [document],
  );
  const [counts] = await tx.unsafe(upsertStatement({ ...target, destination: target.table, stage, dedupe: true }));
  if (afterUpsert) await afterUpsert(stage);
  if (target.dropStage) await tx.unsafe(`drop table ${stage}`);
  return { inserted: Number(counts.inserted), updated: Number(counts.updated), bytes: new TextEncoder().encode(document).length };
}
