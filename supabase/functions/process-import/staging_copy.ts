/**
 * A chunk's staging rows streamed into conveyor.sales_input as the file is read: one transaction
 * per chunk, opened at the chunk's first row, holding a `COPY ... FROM STDIN` that takes each
 * piece of the file's rows as soon as they are mapped, then the job's progress and checkpoint,
 * then COMMIT. The chunk is never held whole, nor encoded as one statement: the function's
 * memory does not grow with the chunk (docs/decisions/import-chunks-streamed-by-copy.md).
 *
 * A COPY fires the staging table's statement trigger as an INSERT does (its transition table
 * holds the chunk's rows), and the rows share the transaction's batch_id.
 */
import type { Writable } from "node:stream";
import { finished } from "node:stream/promises";
import type postgres from "postgres";
import type { Sql } from "../_shared/db.ts";

/** A file item as the staging row it becomes. */
export interface StagedRow {
  payload: string;
  status: "received" | "rejected";
  error: string | null;
}

const copySpecial = /[\\\n\r\t]/g;
const copyEscapes: Record<string, string> = { "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** A value in COPY's text format: backslash, newline, carriage return and tab escaped; null is \N. */
export function copyValue(value: string | null): string {
  if (value === null) return "\\N";
  return value.replace(copySpecial, (c) => copyEscapes[c]);
}

/** One staging row as a line of `COPY conveyor.sales_input (payload, status, error)`. */
export function copyLine(row: StagedRow): string {
  return `${copyValue(row.payload)}\t${row.status}\t${copyValue(row.error)}\n`;
}

/** Until the stream has room again (its buffer went out to the socket), or it ended in an error. */
function drained(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off("drain", done).off("close", done).off("error", done);
      resolve();
    };
    stream.on("drain", done).on("close", done).on("error", done);
  });
}

const copyStatement = "copy conveyor.sales_input (payload, status, error) from stdin";

/**
 * The chunk in flight: its transaction and COPY, opened by the first `write`. `commit` ends the
 * COPY, runs the caller's statements (the job's progress) in the same transaction and commits;
 * `abandon` rolls back whatever was sent. Either releases the connection.
 */
export class StagingChunk {
  rows = 0;
  accepted = 0;
  private connection: postgres.ReservedSql | null = null;
  private copy: Writable | null = null;
  private copyError: Error | null = null;

  constructor(private readonly sql: Sql) {}

  /** Sends the COPY lines of `rows` rows (`accepted` of them received, the rest rejected). */
  async write(lines: string, rows: number, accepted: number): Promise<void> {
    if (rows === 0) return;
    const copy = this.copy ?? await this.open();
    if (this.copyError || copy.destroyed) throw this.copyError ?? new Error("the chunk's COPY was closed");
    this.rows += rows;
    this.accepted += accepted;
    if (!copy.write(lines)) await drained(copy);
    if (this.copyError) throw this.copyError;
  }

  /**
   * Ends the COPY and runs `finish` in the chunk's transaction, then commits. A chunk without
   * rows runs `finish` in a transaction of its own. When `finish` throws, nothing is stored.
   */
  async commit<T>(finish: (tx: Sql) => Promise<T>): Promise<T> {
    if (!this.connection || !this.copy) return await this.sql.begin((tx) => finish(tx)) as T;
    try {
      this.copy.end();
      await finished(this.copy);
      const result = await finish(this.connection);
      await this.connection`commit`;
      this.release();
      return result;
    } catch (error) {
      await this.abandon();
      throw error;
    }
  }

  /** Rolls back the chunk's transaction (nothing of it is stored) and releases its connection. */
  async abandon(): Promise<void> {
    const connection = this.connection;
    if (!connection) return;
    if (this.copy && !this.copy.destroyed) this.copy.destroy(new Error("the import stopped before the chunk's end"));
    try {
      await connection`rollback`;
    } catch {
      // the connection is gone: the server rolls the transaction back itself
    }
    this.release();
  }

  private async open(): Promise<Writable> {
    const connection = await this.sql.reserve();
    try {
      await connection`begin`;
      const copy: Writable = await connection.unsafe(copyStatement).writable();
      copy.on("error", (error: Error) => this.copyError ??= error);
      this.connection = connection;
      this.copy = copy;
      return copy;
    } catch (error) {
      await connection`rollback`.catch(() => {});
      connection.release();
      throw error;
    }
  }

  private release(): void {
    this.connection?.release();
    this.connection = null;
    this.copy = null;
  }
}
