/**
 * The import benchmark (issue 16 item 7), on the local stack: a generated CSV file of N sales
 * records, served on loopback with Range support (lib/file_server.ts), imported by an import job
 * into `operations`, next to the same records sent through the ingest API, in the same run.
 *
 *   1. the files (N rows, and a smaller one for the memory comparison) are written to a temporary
 *      directory, and the ingest path's request bodies encoded, before any clock starts;
 *   2. the ingest path: the records through the ingest API (chunks of 10,000, 2 at a time), from
 *      the first request until the pipeline has drained them;
 *   3. process-import's memory on the smaller file: its function process is restarted first, so
 *      its VmHWM is this import's peak;
 *   4. the import path: process-import restarted, then from the job's creation until the job has
 *      succeeded, the sales queue is drained and every record of the file processed; its VmHWM.
 *
 * Both paths get the same records (the same generator seed; only the external ids' prefix
 * differs, so each path writes new operations), all of one shop, as a shop's feed file is. The
 * import path goes last, on the tables the ingest path has grown.
 */
import { join } from "node:path";
import {
  createImportJob,
  finishedStatuses,
  importProgress,
  type ImportProgress,
  lastStagingId,
  stagingBatchesAfter,
} from "../../lib/import_job.ts";
import { serveLocalFile } from "../../lib/file_server.ts";
import {
  type BatchProgress,
  encodeBatches,
  type EncodedBatch,
  type IngestTarget,
  sendBatches,
  type Sql,
  unprocessedProblem,
  waitUntilDrained,
} from "../../lib/sales_client.ts";
import { writeSalesCsv } from "../../lib/sales_csv.ts";
import { generateSalesSample } from "../../lib/sales_sample.ts";

export const importTargets = {
  /** The import path's rate at least this share of the ingest path's. */
  ratioPercent: 80,
  /** process-import's peak RSS. */
  peakMemoryMb: 150,
  /** The larger file's peak at most this much above (or below) the smaller file's. */
  memorySpreadPercent: 20,
};

/** Records generated per call of the sample generator, so a million never stand in memory at once. */
const generationChunk = 50_000;
const ingestChunk = 10_000;

export interface ImportBenchOptions {
  /** Rows of the file imported end to end (and records through the ingest API). */
  rows: number;
  /** Rows of the smaller file for the memory comparison (at most a tenth of `rows`). */
  memoryRows: number;
  shop: string;
  runId: string;
  startAt?: Date;
  target: IngestTarget;
  /** The process-import function processes of this stack's functions server. */
  importPids: () => number[];
  /** VmHWM of a process in MB, or null when it is gone. */
  peakMemoryMb: (pid: number) => number | null;
  /** Waits until the queue is empty and no worker holds a slot. */
  waitForQuiet: () => Promise<void>;
  /** VACUUM (ANALYZE) of the pipeline's tables, before each timed path; its milliseconds. */
  vacuum: () => Promise<number>;
  say: (line: string) => void;
  /** Where the files go (default: a new temporary directory, removed afterwards). */
  directory?: string;
}

export interface PathFigures {
  records: number;
  /** From the first request (the job's creation) until the pipeline had drained the records. */
  totalMs: number;
  /** The ingest requests alone; the import job alone (creation until succeeded). */
  feedMs: number;
  recordsPerSecond: number;
  progress: BatchProgress;
}

export interface ImportMemory {
  rows: number;
  fileBytes: number;
  pids: number[];
  /** VmHWM of the freshly started process-import process after the job. */
  peakMb: number | null;
  job: ImportProgress;
  jobMs: number;
}

export interface ImportBenchFigures {
  rows: number;
  fileBytes: number;
  /** Writing the files and encoding the ingest bodies, before any clock. */
  preparationMs: number;
  ingest: PathFigures;
  import: PathFigures & { job: ImportProgress };
  /** import rate / ingest rate, in percent. */
  ratioPercent: number;
  memory: { small: ImportMemory; large: ImportMemory };
  /** (large - small) / small, in percent. */
  memorySpreadPercent: number | null;
  deliberatelyBad: number;
  targets: typeof importTargets;
  missed: string[];
  /** Why a path did not process its records, or null. */
  unprocessed: string | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The same sample for both paths, in chunks: chunk i has its own seed and start, and its external
 * ids carry `${prefix}-${i}`, so two prefixes give the same records under different ids.
 */
function* sampleChunks(
  rows: number,
  prefix: string,
  options: { shop: string; startAt?: Date; seed: number },
  bad?: { count: number },
): Generator<Record<string, unknown>[]> {
  const start = options.startAt?.getTime() ?? Date.parse("2026-11-01T06:00:00Z");
  for (let i = 0, from = 0; from < rows; i++, from += generationChunk) {
    const sample = generateSalesSample({
      count: Math.min(generationChunk, rows - from),
      runId: `${prefix}-${i}`,
      seed: options.seed + i,
      badShare: 0.01,
      shops: [options.shop],
      startAt: new Date(start + from * 1000),
    });
    if (bad) bad.count += sample.deliberatelyBad.filter(Boolean).length;
    yield sample.records;
  }
}

async function warnIfImportWakesPaused(sql: Sql, say: (line: string) => void): Promise<void> {
  const [row] = await sql<{ paused: boolean }[]>`
    select paused from conveyor.function_wakes where function_name = 'process-import'`;
  if (row?.paused) say("  warning: automatic wakes of process-import are paused (conveyor.function_wakes); the jobs will wait for the upkeep's backlog wake");
}

/** Stops the process-import function process(es), so the next wake starts a fresh one. */
async function restartImportProcess(options: ImportBenchOptions): Promise<void> {
  for (const pid of options.importPids()) {
    options.say(`  stopping the process-import function process (pid ${pid}); the job's wake starts a fresh one`);
    try {
      Deno.kill(pid, "SIGTERM");
    } catch {
      continue; // gone meanwhile
    }
    // Gone from /proc, not just exited: until the functions server reaps it (a zombie has no
    // command line, so it no longer counts as a process-import process), the server still
    // routes a wake to its closed port and answers 502, and the job would wait for the
    // upkeep's backlog wake (a minute) instead.
    const deadline = Date.now() + 10_000;
    while (processExists(pid) && Date.now() < deadline) await sleep(50);
    await sleep(250); // the server's handling of the exit
  }
}

function processExists(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * One import job of the file at `url`, from its creation until it has ended and (with `drain`)
 * the pipeline has drained its records. Throws when the job does not succeed.
 */
async function importFile(
  sql: Sql,
  options: ImportBenchOptions,
  url: string,
  rows: number,
): Promise<{ job: ImportProgress; jobMs: number; totalMs: number; progress: BatchProgress }> {
  const mark = await lastStagingId(sql);
  const started = performance.now();
  const id = await createImportJob(sql, {
    shop: options.shop,
    source_url: url,
    format: "csv",
    mapping: null,
    delimiter: ",",
    header: true,
    encoding: "utf-8",
    decimal_comma: false,
  });
  let job = await importProgress(sql, id);
  let lastSaid = performance.now();
  const deadline = Date.now() + 1_800_000;
  while (!finishedStatuses.has(job.status)) {
    if (Date.now() > deadline) throw new Error(`import job ${id} not finished after 30 minutes: ${JSON.stringify(job)}`);
    await sleep(100);
    job = await importProgress(sql, id);
    if (performance.now() - lastSaid > 5000) {
      lastSaid = performance.now();
      options.say(`  import job ${id}: ${job.status}, ${job.rowsRead}/${rows} rows read`);
    }
  }
  const jobMs = performance.now() - started;
  if (job.status !== "succeeded") throw new Error(`import job ${id} ${job.status}: ${job.lastError}`);
  const batchIds = await stagingBatchesAfter(sql, mark);
  const { drainedAt, ...progress } = await waitUntilDrained(sql, batchIds, {
    timeoutMs: 900_000,
    progressMs: 5000,
    onProgress: (p) => options.say(`  ${p.total - p.received}/${p.total} done`),
  });
  return { job, jobMs, totalMs: drainedAt - started, progress };
}

function peakOf(options: ImportBenchOptions, pids: number[]): number | null {
  const peaks = pids.map((pid) => options.peakMemoryMb(pid)).filter((mb): mb is number => mb !== null);
  return peaks.length > 0 ? Math.max(...peaks) : null;
}

export async function measureImport(sql: Sql, options: ImportBenchOptions): Promise<ImportBenchFigures> {
  const rows = options.rows;
  const smallRows = Math.max(1, Math.min(options.memoryRows, Math.floor(rows / 10)));
  const directory = options.directory ?? await Deno.makeTempDir({ prefix: "conveyor-import-bench-" });
  const say = options.say;
  await warnIfImportWakesPaused(sql, say);
  say(`\nimport: writing a ${rows}-row and a ${smallRows}-row CSV file to ${directory} and encoding the ingest bodies (not timed)`);
  const preparationStarted = performance.now();
  const generator = { shop: options.shop, startAt: options.startAt, seed: 4242 };
  const bad = { count: 0 };
  const largePath = join(directory, "sales-large.csv");
  const smallPath = join(directory, "sales-small.csv");
  const large = await writeSalesCsv(largePath, sampleChunks(rows, `${options.runId}-import`, generator, bad));
  const small = await writeSalesCsv(smallPath, sampleChunks(smallRows, `${options.runId}-import-small`, { ...generator, seed: 777 }));
  const batches: EncodedBatch[] = [];
  for (const records of sampleChunks(rows, `${options.runId}-api`, generator)) batches.push(...encodeBatches(records, ingestChunk));
  const preparationMs = performance.now() - preparationStarted;
  const largeServed = await serveLocalFile(largePath);
  const smallServed = await serveLocalFile(smallPath);
  const freshImportProcess = async (what: string) => {
    await options.waitForQuiet();
    await restartImportProcess(options);
    say(what);
  };
  try {
    // the ingest path
    await options.waitForQuiet();
    await options.vacuum();
    say(`\nimport bench, the ingest path: ${rows} records through the ingest API (chunks of ${ingestChunk}, 2 at a time)`);
    const ingestStarted = performance.now();
    const batchIds = await sendBatches(options.target, batches, { concurrency: 2 });
    const ingestFeedMs = performance.now() - ingestStarted;
    batches.length = 0;
    const { drainedAt, ...ingestProgress } = await waitUntilDrained(sql, batchIds, {
      timeoutMs: 900_000,
      progressMs: 5000,
      onProgress: (p) => say(`  ${p.total - p.received}/${p.total} done`),
    });
    const ingestMs = drainedAt - ingestStarted;

    // process-import's memory on the smaller file
    await freshImportProcess(`\nimport bench, memory: a ${smallRows}-row file (${(small.bytes / 1e6).toFixed(1)} MB) through a fresh process-import`);
    const smallRun = await importFile(sql, options, smallServed.url, smallRows);
    const smallPids = options.importPids();
    const smallMemory: ImportMemory = {
      rows: smallRows,
      fileBytes: small.bytes,
      pids: smallPids,
      peakMb: peakOf(options, smallPids),
      job: smallRun.job,
      jobMs: smallRun.jobMs,
    };

    // the import path, end to end
    await options.waitForQuiet();
    await options.vacuum();
    await freshImportProcess(`\nimport bench, the import path: a ${rows}-row file (${(large.bytes / 1e6).toFixed(1)} MB) through an import job, from its creation until drained`);
    const importRun = await importFile(sql, options, largeServed.url, rows);
    const largePids = options.importPids();
    const largeMemory: ImportMemory = {
      rows,
      fileBytes: large.bytes,
      pids: largePids,
      peakMb: peakOf(options, largePids),
      job: importRun.job,
      jobMs: importRun.jobMs,
    };

    const ingest: PathFigures = {
      records: rows,
      totalMs: ingestMs,
      feedMs: ingestFeedMs,
      recordsPerSecond: rows / (ingestMs / 1000),
      progress: ingestProgress,
    };
    const imported: PathFigures & { job: ImportProgress } = {
      records: rows,
      totalMs: importRun.totalMs,
      feedMs: importRun.jobMs,
      recordsPerSecond: rows / (importRun.totalMs / 1000),
      progress: importRun.progress,
      job: importRun.job,
    };
    const ratioPercent = 100 * imported.recordsPerSecond / ingest.recordsPerSecond;
    const memorySpreadPercent = smallMemory.peakMb && largeMemory.peakMb
      ? 100 * (largeMemory.peakMb - smallMemory.peakMb) / smallMemory.peakMb
      : null;
    const missed: string[] = [];
    if (ratioPercent < importTargets.ratioPercent) missed.push("ratio");
    if (smallMemory.peakMb === null || largeMemory.peakMb === null ||
      Math.max(smallMemory.peakMb, largeMemory.peakMb) >= importTargets.peakMemoryMb) missed.push("memory");
    if (memorySpreadPercent === null || Math.abs(memorySpreadPercent) > importTargets.memorySpreadPercent) missed.push("spread");
    const unprocessed = [
      unprocessedProblem(ingest.progress, rows, bad.count) && `ingest path: ${unprocessedProblem(ingest.progress, rows, bad.count)}`,
      unprocessedProblem(imported.progress, rows, bad.count) && `import path: ${unprocessedProblem(imported.progress, rows, bad.count)}`,
    ].filter(Boolean).join("; ") || null;
    return {
      rows,
      fileBytes: large.bytes,
      preparationMs,
      ingest,
      import: imported,
      ratioPercent,
      memory: { small: smallMemory, large: largeMemory },
      memorySpreadPercent,
      deliberatelyBad: bad.count,
      targets: importTargets,
      missed,
      unprocessed,
    };
  } finally {
    await largeServed.close();
    await smallServed.close();
    if (!options.directory) await Deno.remove(directory, { recursive: true }).catch(() => {});
  }
}

const integer = (n: number) => Math.round(n).toLocaleString("en-US");
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mb = (n: number | null) => (n === null ? "?" : `${Math.round(n)} MB`);
const met = (ok: boolean) => (ok ? "" : "  MISSED");

/** The import phase's figures next to their targets, as the other phases print theirs. */
export function importTable(f: ImportBenchFigures): string {
  const { small, large } = f.memory;
  const rows: string[][] = [
    ["", "import job", "ingest API", "ratio", "target"],
    [
      "end-to-end records/s",
      integer(f.import.recordsPerSecond),
      integer(f.ingest.recordsPerSecond),
      `${f.ratioPercent.toFixed(0)}%`,
      `>= ${f.targets.ratioPercent}% of the ingest API` + met(!f.missed.includes("ratio")),
    ],
    ["records / seconds", `${integer(f.import.records)} / ${seconds(f.import.totalMs)}`, `${integer(f.ingest.records)} / ${seconds(f.ingest.totalMs)}`, "", ""],
    ["the job / the requests alone", seconds(f.import.feedMs), seconds(f.ingest.feedMs), "", ""],
    [
      "process-import peak memory",
      `${mb(small.peakMb)} (${integer(small.rows)} rows), ${mb(large.peakMb)} (${integer(large.rows)} rows)`,
      "-",
      f.memorySpreadPercent === null ? "?" : `${f.memorySpreadPercent >= 0 ? "+" : ""}${f.memorySpreadPercent.toFixed(0)}%`,
      `< ${f.targets.peakMemoryMb} MB` + met(!f.missed.includes("memory")) + `, within ${f.targets.memorySpreadPercent}%` +
      met(!f.missed.includes("spread")),
    ],
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] + 3)).join("").trimEnd());
  const notes = [
    `Import: a ${(f.fileBytes / 1e6).toFixed(1)} MB CSV file served on loopback with Range support; the job read ${integer(f.import.job.rowsRead)} rows ` +
    `(${integer(f.import.job.rowsAccepted)} accepted, ${integer(f.import.job.rowsRejected)} rejected at import), ${f.import.job.attempts} failed attempt(s); ` +
    `pipeline: ${f.import.progress.processed} processed, ${f.import.progress.rejected} rejected, ${f.import.progress.failed} failed. ` +
    `Ingest API: ${f.ingest.progress.processed} processed, ${f.ingest.progress.rejected} rejected, ${f.ingest.progress.failed} failed ` +
    `(${f.deliberatelyBad} records of each path made to break a rule).`,
    `Memory: VmHWM of the process-import function process (pid ${small.pids.join(", ") || "?"}; ${large.pids.join(", ") || "?"}), ` +
    `restarted before each file, so the peak is that import's; the ${integer(small.rows)}-row job took ${seconds(small.jobMs)}.`,
    `Writing the files and encoding the ingest bodies took ${seconds(f.preparationMs)}, outside the measured time; ` +
    `both paths start after VACUUM (ANALYZE) of the pipeline's tables, the import path last.`,
  ];
  return [...lines, "", ...notes].join("\n");
}

