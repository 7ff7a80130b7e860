/**
 * What the import tests share: feed files written from generated sales records, a real HTTP
 * server on loopback that serves them (with or without Range support, failing or cutting the
 * connection on demand), and runs of process-import in this process, as the function would run.
 */
import { importConfig } from "../../supabase/functions/_shared/config.ts";
import { log, type Logger } from "../../supabase/functions/_shared/log.ts";
import { type ImportOptions, importOptions, type ImportRunSummary, runImports } from "../../supabase/functions/process-import/import_run.ts";
import { cellText as cell, saleColumns } from "../../lib/sales_csv.ts";
import { env, type Sql } from "./pipeline.ts";

export { csvCell, csvOf, saleColumns } from "../../lib/sales_csv.ts";

/** What a CSV row of this record becomes in staging: every non-empty cell as text, nested by its dots. */
export function expectedPayload(record: Record<string, unknown>, columns = saleColumns): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const column of columns) {
    const text = cell(record, column);
    if (text.trim() === "") continue;
    const parts = column.split(".");
    let target = out;
    for (const part of parts.slice(0, -1)) target = (target[part] ??= {}) as Record<string, unknown>;
    target[parts[parts.length - 1]] = text;
  }
  return out;
}

export interface ServedFile {
  url: string;
  /** Every request: its Range header (or null) and the status answered. */
  requests: { range: string | null; status: number }[];
  close(): Promise<void>;
}

export interface ServeOptions {
  /** Honour `Range: bytes=N-` with 206 and advertise Accept-Ranges (default true). */
  ranges?: boolean;
  /** Answer this many requests with 503 first. */
  failFirst?: number;
  /** The first response sends this many bytes of its body, then drops the connection. */
  dropAfterBytes?: number;
  /** Wait this long before each body chunk (ms), to keep a job running. */
  chunkDelayMs?: number;
}

/** Serves `bytes` on 127.0.0.1 at a random port until `close`. */
export function serveBytes(bytes: Uint8Array, options: ServeOptions = {}): ServedFile {
  const requests: ServedFile["requests"] = [];
  let failuresLeft = options.failFirst ?? 0;
  let dropNext = options.dropAfterBytes;
  const ranges = options.ranges ?? true;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const range = request.headers.get("range");
    if (failuresLeft > 0) {
      failuresLeft--;
      requests.push({ range, status: 503 });
      return new Response("busy", { status: 503 });
    }
    let start = 0;
    let status = 200;
    const headers: Record<string, string> = { "content-type": "text/csv" };
    if (ranges) headers["accept-ranges"] = "bytes";
    const match = range?.match(/^bytes=(\d+)-$/);
    if (ranges && match) {
      start = Number(match[1]);
      status = 206;
      headers["content-range"] = `bytes ${start}-${bytes.length - 1}/${bytes.length}`;
    }
    const body = bytes.subarray(start);
    headers["content-length"] = String(body.length);
    requests.push({ range, status });
    const drop = dropNext;
    dropNext = undefined;
    const piece = 64 * 1024;
    let at = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (options.chunkDelayMs) await new Promise((r) => setTimeout(r, options.chunkDelayMs));
        if (drop !== undefined && at >= drop) {
          controller.error(new Error("connection dropped on purpose"));
          return;
        }
        const end = Math.min(body.length, at + piece, drop ?? Infinity);
        if (at >= body.length) {
          controller.close();
          return;
        }
        controller.enqueue(body.slice(at, end));
        at = end;
      },
    });
    return new Response(stream, { status, headers });
  });
  const address = server.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${address.port}/feed`,
    requests,
    close: async () => {
      await server.shutdown();
    },
  };
}

/** A URL on loopback where nothing listens. */
export function unreachableUrl(): string {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return `http://127.0.0.1:${port}/feed.csv`;
}

export function testImportOptions(overrides: Record<string, string> = {}): ImportOptions {
  return importOptions(importConfig({
    SUPABASE_DB_URL: env.DB_URL,
    IMPORT_BACKOFF_BASE_MS: "50",
    IMPORT_BACKOFF_MAX_MS: "200",
    IMPORT_HEARTBEAT_MS: "200",
    IMPORT_READ_TIMEOUT_MS: "5000",
    ...overrides,
  }));
}

const quiet: Logger = (level, msg, fields = {}) => {
  if (level === "error") log(level, msg, { function: "process-import", test: true, ...fields });
};

/** One run of process-import in this process. */
export async function runImportOnce(sql: Sql, options: ImportOptions): Promise<ImportRunSummary> {
  return await runImports(sql, options, quiet);
}

export interface JobRow {
  id: string;
  status: string;
  attempts: number;
  last_error: string | null;
  rows_read: string;
  rows_accepted: string;
  rows_rejected: string;
  bytes_read: string;
  bytes_total: string | null;
  checkpoint_offset: string;
  accepts_ranges: boolean | null;
}

export async function jobRow(sql: Sql, id: number | string): Promise<JobRow> {
  const [row] = await sql<JobRow[]>`select * from conveyor.import_jobs where id = ${id}`;
  return row;
}

/** Runs process-import in this process until the job ends (at most `maxRuns` runs); the summaries. */
export async function runUntilFinished(sql: Sql, id: number | string, options: ImportOptions, maxRuns = 200): Promise<ImportRunSummary[]> {
  const runs: ImportRunSummary[] = [];
  for (let i = 0; i < maxRuns; i++) {
    runs.push(await runImportOnce(sql, options));
    const job = await jobRow(sql, id);
    if (["succeeded", "failed", "cancelled"].includes(job.status)) return runs;
  }
  throw new Error(`import job ${id} not finished after ${maxRuns} runs: ${JSON.stringify(await jobRow(sql, id))}`);
}

/** Stops triggers and pg_cron from waking process-import, so a test drives the runs itself. */
export async function pauseImportWakes(sql: Sql): Promise<void> {
  await sql`select conveyor.pause_wakes('process-import')`;
}

export async function resumeImportWakes(sql: Sql): Promise<void> {
  await sql`update conveyor.function_wakes set paused = false where function_name = 'process-import'`;
}

/**
 * Runs `body`, then deletes the import jobs it created, so that a test's failed or cancelled jobs
 * do not stay behind for the health check (which counts jobs failed in the last 24 hours).
 */
export async function forgettingImportJobs<T>(sql: Sql, body: () => Promise<T>): Promise<T> {
  const [{ last }] = await sql<{ last: string }[]>`select coalesce(max(id), 0)::text as last from conveyor.import_jobs`;
  try {
    return await body();
  } finally {
    await sql`delete from conveyor.import_jobs where id > ${last}::bigint`;
  }
}
