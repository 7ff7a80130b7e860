/**
 * Import jobs from a client's side (the CLI, the demo, tests): the job's fields from command-line
 * values, creating it with one insert (the database refuses bad input naming the field), and
 * following its progress.
 */
import type postgres from "postgres";
import { formatBytes } from "./progress_bar.ts";

export type Sql = postgres.Sql;

export type ImportFormat = "csv" | "ndjson" | "json";

export interface ImportJobInput {
  shop: string;
  source_url: string;
  format: ImportFormat;
  mapping: Record<string, string> | null;
  delimiter: string;
  header: boolean;
  encoding: string;
  decimal_comma: boolean;
}

/** `col=field,col2=field2` as a mapping; throws naming the entry it cannot read. */
export function parseMapping(text: string): Record<string, string> {
  const mapping: Record<string, string> = {};
  for (const entry of text.split(",").map((e) => e.trim()).filter(Boolean)) {
    const at = entry.lastIndexOf("=");
    if (at <= 0 || at === entry.length - 1) throw new Error(`"${entry}" is not column=field`);
    mapping[entry.slice(0, at).trim()] = entry.slice(at + 1).trim();
  }
  if (Object.keys(mapping).length === 0) throw new Error("names no column");
  return mapping;
}

/** The format a file's name suggests: .ndjson/.jsonl, .json, else csv. */
export function formatFromName(name: string): ImportFormat {
  const lower = name.toLowerCase().replace(/[?#].*$/, "");
  if (lower.endsWith(".ndjson") || lower.endsWith(".jsonl")) return "ndjson";
  if (lower.endsWith(".json")) return "json";
  return "csv";
}

export async function createImportJob(sql: Sql, input: ImportJobInput): Promise<number> {
  const [row] = await sql<{ id: string }[]>`
    insert into conveyor.import_jobs (shop, source_url, format, mapping, delimiter, header, encoding, decimal_comma)
    values (${input.shop}, ${input.source_url}, ${input.format}, ${input.mapping ? sql.json(input.mapping) : null},
            ${input.delimiter}, ${input.header}, ${input.encoding}, ${input.decimal_comma})
    returning id`;
  return Number(row.id);
}

export interface ImportProgress {
  id: number;
  status: "pending" | "running" | "succeeded" | "failed" | "cancelled";
  bytesRead: number;
  bytesTotal: number | null;
  rowsRead: number;
  rowsAccepted: number;
  rowsRejected: number;
  attempts: number;
  lastError: string | null;
}

export async function importProgress(sql: Sql, id: number): Promise<ImportProgress> {
  const [row] = await sql<Record<string, string | number | null>[]>`
    select id, status, bytes_read, bytes_total, rows_read, rows_accepted, rows_rejected, attempts, last_error
      from conveyor.import_jobs where id = ${id}`;
  if (!row) throw new Error(`import job ${id} does not exist`);
  return {
    id,
    status: row.status as ImportProgress["status"],
    bytesRead: Number(row.bytes_read),
    bytesTotal: row.bytes_total === null ? null : Number(row.bytes_total),
    rowsRead: Number(row.rows_read),
    rowsAccepted: Number(row.rows_accepted),
    rowsRejected: Number(row.rows_rejected),
    attempts: Number(row.attempts),
    lastError: row.last_error as string | null,
  };
}

export const finishedStatuses = new Set(["succeeded", "failed", "cancelled"]);

/** The closing summary of a job, one line. */
export function importSummary(progress: ImportProgress, seconds: number): string {
  const rate = seconds > 0 ? Math.round(progress.rowsRead / seconds) : progress.rowsRead;
  const parts = [
    `import job ${progress.id} ${progress.status}`,
    `${progress.rowsRead} rows read (${progress.rowsAccepted} accepted, ${progress.rowsRejected} rejected)`,
    `${formatBytes(progress.bytesRead)}`,
    `${seconds.toFixed(1)} s, ${rate} rows/s`,
  ];
  if (progress.attempts > 0) parts.push(`${progress.attempts} failed attempt(s)`);
  if (progress.status !== "succeeded" && progress.lastError) parts.push(`last error: ${progress.lastError}`);
  return parts.join("; ");
}

/** The newest conveyor.sales_input id, a mark before a job stores its rows ("0" when empty). */
export async function lastStagingId(sql: Sql): Promise<string> {
  const [row] = await sql<{ id: string }[]>`select coalesce(max(id), 0)::text as id from conveyor.sales_input`;
  return row.id;
}

/**
 * The batches of the staging rows stored after `mark` (process-import stores each chunk in one
 * transaction, so one batch a chunk), to follow them through the pipeline as an ingest client
 * follows its batches. Everything stored meanwhile counts: call it when nothing else feeds.
 */
export async function stagingBatchesAfter(sql: Sql, mark: string): Promise<string[]> {
  const [row] = await sql<{ ids: string[] | null }[]>`
    select array_agg(distinct batch_id)::text[] as ids from conveyor.sales_input where id > ${mark}::bigint`;
  return row.ids ?? [];
}
