/**
 * One run of process-import: it claims the oldest pending job its shop's limit allows, streams
 * the file, and stores its records in chunks: each chunk's rows, streamed into
 * conveyor.sales_input by one COPY as they are read (staging_copy.ts), and the job's progress and
 * checkpoint in one transaction, so a crash never stores a chunk twice or skips one. It stops at
 * the next chunk when the job is cancelled (or was reaped and taken by another run), retries
 * transient errors with backoff up to the attempts, and when its wall or CPU budget is spent it
 * sets the job back to pending, which wakes a fresh invocation that resumes at the checkpoint.
 * Then it claims the next job, until none may start.
 */
import type { ImportConfig } from "../_shared/config.ts";
import type { Sql } from "../_shared/db.ts";
import { errorMessage, type Logger } from "../_shared/log.ts";
import { backoffSeconds } from "../_shared/worker/backoff.ts";
import { measuredCpu, RunBudget } from "../_shared/worker/budgets.ts";
import { CsvRowReader } from "./csv_rows.ts";
import { type FileItem, type FileReader, maxRawChars, NdjsonReader } from "./file_items.ts";
import { JsonArrayReader } from "./json_array.ts";
import { type ImportJob, importJobSchema } from "./job.ts";
import { type ColumnPlan, mapCsvRow, mapObject, type MappedRow, planColumns } from "./record_mapping.ts";
import { isTransientImportError, openSource, readWithTimeout, TransientSourceError } from "./source.ts";
import { copyLine, type StagedRow, StagingChunk } from "./staging_copy.ts";

export const workerName = "process-import";

export interface ImportOptions {
  chunkRows: number;
  maxRunningPerShop: number;
  maxAttempts: number;
  wallBudgetMs: number;
  cpuBudgetMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  heartbeatMs: number;
  readTimeoutMs: number;
}

export function importOptions(config: ImportConfig): ImportOptions {
  return {
    chunkRows: config.IMPORT_CHUNK_ROWS,
    maxRunningPerShop: config.IMPORT_MAX_RUNNING_PER_SHOP,
    maxAttempts: config.IMPORT_MAX_ATTEMPTS,
    wallBudgetMs: config.IMPORT_WALL_BUDGET_MS,
    cpuBudgetMs: config.IMPORT_CPU_BUDGET_MS,
    backoffBaseMs: config.IMPORT_BACKOFF_BASE_MS,
    backoffMaxMs: config.IMPORT_BACKOFF_MAX_MS,
    heartbeatMs: config.IMPORT_HEARTBEAT_MS,
    readTimeoutMs: config.IMPORT_READ_TIMEOUT_MS,
  };
}

export type JobOutcome = "succeeded" | "failed" | "handed_over" | "stopped";

export interface ImportRunSummary {
  run_id: string;
  jobs: { id: number; outcome: JobOutcome; rows: number }[];
  stopped: "no_job" | "wall_budget" | "cpu_budget";
  handed_over: boolean;
  ms: number;
}

/** The job was cancelled, or reaped and taken by another run: this run stops touching it. */
class JobTakenAway extends Error {
  override name = "JobTakenAway";
}

/** Where the stored part of the file ends, as the job row records it. */
interface Checkpoint {
  offset: number;
  row: number;
  line: number;
  columns: string[] | null;
  acceptsRanges: boolean | null;
  totalBytes: number | null;
}

/** The most bytes of the file parsed before their rows are sent to the chunk's COPY. */
const maxPieceBytes = 64 * 1024;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The job format's reader; `resumed`: it starts at a checkpoint (a Range request), not at byte 0. */
function readerFor(job: ImportJob, resumed: boolean): FileReader {
  if (job.format === "csv") return new CsvRowReader({ delimiter: job.delimiter, encoding: job.encoding, atFileStart: !resumed });
  if (job.format === "ndjson") return new NdjsonReader(job.encoding);
  return new JsonArrayReader(job.encoding, resumed);
}

export async function claimImportJob(sql: Sql, runId: string, maxRunningPerShop: number): Promise<ImportJob | null> {
  const rows = await sql`select * from conveyor.claim_import_job(${runId}::uuid, ${maxRunningPerShop}::integer)`;
  return rows.length ? importJobSchema.parse(rows[0]) : null;
}

/** Runs jobs until none may start or the budget is spent. */
export async function runImports(sql: Sql, options: ImportOptions, log: Logger): Promise<ImportRunSummary> {
  const budget = new RunBudget(options.wallBudgetMs, options.cpuBudgetMs);
  const summary: ImportRunSummary = { run_id: crypto.randomUUID(), jobs: [], stopped: "no_job", handed_over: false, ms: 0 };
  try {
    for (;;) {
      // a run takes at least one job, however small its budget
      const spent = summary.jobs.length > 0 ? budget.spent() : null;
      if (spent) {
        summary.stopped = spent;
        const [row] = await sql<{ request_id: string | null }[]>`select conveyor.wake_if_imports_pending() as request_id`;
        summary.handed_over = row.request_id !== null;
        break;
      }
      const job = await claimImportJob(sql, summary.run_id, options.maxRunningPerShop);
      if (!job) break;
      const run = new JobRun(sql, job, summary.run_id, options, budget, log);
      const outcome = await run.execute();
      summary.jobs.push({ id: job.id, outcome, rows: run.rowsThisRun });
      if (outcome === "handed_over") {
        summary.stopped = budget.spent() ?? "wall_budget";
        summary.handed_over = true;
        break;
      }
    }
    return summary;
  } finally {
    summary.ms = Math.round(budget.elapsedMs());
  }
}

class JobRun {
  rowsThisRun = 0;
  private committed: Checkpoint;
  private readonly log: Logger;
  private takenAway = false;
  private abort = new AbortController();

  constructor(
    private readonly sql: Sql,
    private readonly job: ImportJob,
    private readonly runId: string,
    private readonly options: ImportOptions,
    private readonly budget: RunBudget,
    log: Logger,
  ) {
    this.log = (level, msg, fields = {}) => log(level, msg, { job_id: job.id, ...fields });
    this.committed = {
      offset: job.checkpoint_offset,
      row: job.checkpoint_row,
      line: job.checkpoint_line,
      columns: job.columns,
      acceptsRanges: job.accepts_ranges,
      totalBytes: job.bytes_total,
    };
  }

  async execute(): Promise<JobOutcome> {
    this.log("info", "job start", { shop: this.job.shop, format: this.job.format, from_offset: this.committed.offset, attempts: this.job.attempts });
    const heartbeat = setInterval(() => this.beat(), this.options.heartbeatMs);
    try {
      let attempts = this.job.attempts;
      for (;;) {
        if (this.takenAway) return "stopped";
        try {
          const outcome = await this.streamOnce();
          this.log("info", "job " + outcome, { rows: this.rowsThisRun, offset: this.committed.offset });
          return outcome;
        } catch (error) {
          if (this.takenAway || error instanceof JobTakenAway) {
            this.log("info", "job stopped: cancelled, or taken over by another run", { offset: this.committed.offset });
            return "stopped";
          }
          const message = errorMessage(error);
          if (!isTransientImportError(error)) {
            await this.finish("failed", message);
            this.log("warn", "job failed", { error: message });
            return "failed";
          }
          try {
            attempts = await this.recordAttempt(message);
          } catch (recordError) {
            if (recordError instanceof JobTakenAway) return "stopped";
            throw recordError;
          }
          if (attempts >= this.options.maxAttempts) {
            await this.finish("failed", `${message} (attempt ${attempts} of ${this.options.maxAttempts})`);
            this.log("warn", "job failed after its attempts", { error: message, attempts });
            return "failed";
          }
          const delayMs = Math.min(
            this.options.backoffMaxMs,
            backoffSeconds(attempts, this.options.backoffBaseMs / 1000, this.options.backoffMaxMs / 1000, Math.random) * 1000,
            this.options.backoffBaseMs * 2 ** (attempts - 1),
          );
          this.log("warn", "transient error; retrying from the checkpoint", { error: message, attempts, delay_ms: delayMs });
          if (this.budget.elapsedMs() + delayMs > this.options.wallBudgetMs) {
            await this.handOver();
            return "handed_over";
          }
          await sleep(delayMs);
          this.abort = new AbortController();
        }
      }
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** Renews heartbeat_at; a job no longer this run's (cancelled, reaped) aborts the download. */
  private beat(): void {
    this.sql<{ id: string }[]>`
      update conveyor.import_jobs set heartbeat_at = clock_timestamp()
       where id = ${this.job.id} and run_id = ${this.runId}::uuid and status = 'running'
      returning id`.then((rows) => {
      if (rows.length === 0) {
        this.takenAway = true;
        this.abort.abort(new JobTakenAway("the job is no longer this run's"));
      }
    }).catch((error) => this.log("warn", "heartbeat failed; retried at the next beat", { error: errorMessage(error) }));
  }

  private async streamOnce(): Promise<JobOutcome> {
    const start = this.committed;
    const source = await openSource(
      this.job.source_url,
      start.offset,
      start.acceptsRanges !== false,
      this.abort.signal,
      this.options.readTimeoutMs,
    );
    const resumedByRange = source.startOffset > 0;
    const fileReader = readerFor(this.job, resumedByRange);
    const state = {
      columns: resumedByRange ? start.columns : null,
      plan: null as ColumnPlan | null,
      // data items seen from the file's start (the header is not one)
      seen: resumedByRange ? start.row : 0,
      skip: resumedByRange ? 0 : start.row,
      lineBase: resumedByRange ? start.line : 0,
      bytes: source.startOffset,
      // known after the first answer: a 206 says yes, a 200 to a Range request no
      acceptsRanges: resumedByRange ? true : start.offset > 0 ? false : source.acceptsRanges,
      totalBytes: source.totalBytes ?? start.totalBytes,
    };
    if (start.offset > 0 && !resumedByRange) {
      this.log("info", "the server sent the whole file; skipping the stored rows", { rows: start.row });
    }
    // The chunk in flight (its rows already sent to the database), and the COPY lines of the
    // piece of the file read last, sent before the next piece is read.
    let chunk = new StagingChunk(this.sql);
    let lines: string[] = [];
    let pieceRows = 0;
    let pieceAccepted = 0;
    let position = { offset: start.offset, line: start.line, row: start.row };
    const handle = (item: FileItem): void => {
      if (this.job.format === "csv" && item.kind === "row" && state.columns === null) {
        state.columns = this.job.header ? item.fields : item.fields.map((_, i) => String(i + 1));
        if (this.job.header) return;
      }
      state.seen++;
      if (state.seen <= state.skip) return;
      const line = state.lineBase + item.line;
      const staged = this.stage(item, line, state);
      lines.push(copyLine(staged));
      pieceRows++;
      if (staged.status === "received") pieceAccepted++;
      position = { offset: source.startOffset + item.endOffset, line: state.lineBase + item.endLine, row: state.seen };
    };
    const sendPiece = async () => {
      const text = lines.join("");
      const rows = pieceRows;
      const accepted = pieceAccepted;
      lines = [];
      pieceRows = 0;
      pieceAccepted = 0;
      await chunk.write(text, rows, accepted);
    };
    const commitChunk = async (final: boolean) => {
      const committing = chunk;
      chunk = new StagingChunk(this.sql);
      const end = final ? { ...position, offset: Math.max(position.offset, state.bytes) } : position;
      await this.commit(committing, end, state.columns, state.acceptsRanges, state.totalBytes, final);
      this.rowsThisRun += committing.rows;
    };
    try {
      for (;;) {
        const { value, done } = await readWithTimeout(source.reader, this.options.readTimeoutMs);
        if (done) break;
        state.bytes += value.byteLength;
        // a bounded piece's rows in hand at a time, whatever size of pieces the server sends
        for (let at = 0; at < value.byteLength; at += maxPieceBytes) {
          const piece = value.subarray(at, at + maxPieceBytes);
          measuredCpu(() => {
            for (const item of fileReader.push(piece)) handle(item);
          });
          await sendPiece();
        }
        if (chunk.rows >= this.options.chunkRows) {
          await commitChunk(false);
          if (this.budget.spent()) {
            await this.handOver();
            return "handed_over";
          }
        }
      }
      if (state.totalBytes !== null && state.bytes < state.totalBytes) {
        throw new TransientSourceError(
          `source_url: the connection closed after ${state.bytes} of ${state.totalBytes} bytes`,
        );
      }
      for (const item of await fileReader.end()) handle(item);
      await sendPiece();
      await commitChunk(true);
      return "succeeded";
    } finally {
      // a chunk cut short (an error, a cancel, the job taken away): nothing of it is stored
      await chunk.abandon();
      fileReader.close();
      await source.reader.cancel().catch(() => {});
    }
  }

  /** A file item as a staging row: the mapped record, or a rejected row naming line and reason. */
  private stage(item: FileItem, line: number, state: { columns: string[] | null; plan: ColumnPlan | null }): StagedRow {
    const where = { job: this.job.id, line };
    const context = { shop: this.job.shop, decimalComma: this.job.decimal_comma };
    let mapped: MappedRow;
    let raw: unknown;
    if (item.kind === "malformed") {
      mapped = { ok: false, reason: item.reason };
      raw = item.raw;
    } else if (item.kind === "row") {
      const columns = state.columns ?? [];
      state.plan ??= planColumns(this.job.header ? columns : null, this.job.mapping, columns.length);
      mapped = mapCsvRow(item.fields, state.plan, columns.length, context);
      raw = item.fields;
    } else if (typeof item.value === "object" && item.value !== null && !Array.isArray(item.value)) {
      mapped = mapObject(item.value as Record<string, unknown>, this.job.mapping, context);
      raw = item.value;
    } else {
      mapped = { ok: false, reason: "not a JSON object" };
      raw = item.value;
    }
    if (mapped.ok) {
      return { payload: JSON.stringify({ ...mapped.record, _import: where }), status: "received", error: null };
    }
    const rawText = typeof raw === "string" ? raw : JSON.stringify(raw);
    // storable as PostgreSQL text: a NUL or a lone surrogate (also one left by the cut) becomes U+FFFD
    const storable = rawText.slice(0, maxRawChars).toWellFormed().replaceAll("\u0000", "\ufffd");
    return {
      payload: JSON.stringify({ source: this.job.shop, _import: { ...where, raw: storable } }),
      status: "rejected",
      error: `import job ${this.job.id}, line ${line}: ${mapped.reason}`,
    };
  }

  /** Commits the chunk's transaction: its staging rows (sent), with the job's progress and checkpoint. */
  private async commit(
    chunk: StagingChunk,
    end: { offset: number; line: number; row: number },
    columns: string[] | null,
    acceptsRanges: boolean | null,
    totalBytes: number | null,
    final: boolean,
  ): Promise<void> {
    const rows = chunk.rows;
    const accepted = chunk.accepted;
    const rejected = rows - accepted;
    await chunk.commit(async (tx) => {
      const updated = await tx<{ id: string }[]>`
        update conveyor.import_jobs
           set bytes_read = ${end.offset},
               bytes_total = coalesce(${totalBytes}::bigint, bytes_total),
               rows_read = rows_read + ${rows},
               rows_accepted = rows_accepted + ${accepted},
               rows_rejected = rows_rejected + ${rejected},
               checkpoint_offset = ${end.offset},
               checkpoint_row = checkpoint_row + ${rows},
               checkpoint_line = ${end.line},
               columns = coalesce(columns, ${columns}::text[]),
               accepts_ranges = ${acceptsRanges}::boolean,
               heartbeat_at = clock_timestamp(),
               status = ${final ? "succeeded" : "running"}
         where id = ${this.job.id} and run_id = ${this.runId}::uuid and status = 'running'
           and checkpoint_row + ${rows} = ${end.row}
        returning id`;
      if (updated.length === 0) throw new JobTakenAway("the job is no longer this run's");
    });
    this.committed = { ...this.committed, offset: end.offset, row: end.row, line: end.line, columns, acceptsRanges, totalBytes };
  }

  private async recordAttempt(error: string): Promise<number> {
    const rows = await this.sql<{ attempts: number }[]>`
      update conveyor.import_jobs set attempts = attempts + 1, last_error = ${error}, heartbeat_at = clock_timestamp()
       where id = ${this.job.id} and run_id = ${this.runId}::uuid and status = 'running'
      returning attempts`;
    if (rows.length === 0) throw new JobTakenAway("the job is no longer this run's");
    return rows[0].attempts;
  }

  private async finish(status: "failed", error: string): Promise<void> {
    await this.sql`
      update conveyor.import_jobs set status = ${status}, last_error = ${error}
       where id = ${this.job.id} and run_id = ${this.runId}::uuid and status = 'running'`;
  }

  /** Back to pending: the wake trigger starts a fresh invocation, which resumes at the checkpoint. */
  private async handOver(): Promise<void> {
    await this.sql`
      update conveyor.import_jobs set status = 'pending', run_id = null
       where id = ${this.job.id} and run_id = ${this.runId}::uuid and status = 'running'`;
  }
}
