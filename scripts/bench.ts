/**
 * The pipeline benchmark, on the local stack, next to a naive baseline on the same database:
 *
 *   1. throughput: N generated records (1% breaking a rule) through the ingest API, timed from
 *      the first request until the pipeline has drained them (and the ingest requests alone); the
 *      request bodies are encoded before the clock starts, as the records are generated before
 *      it, and the CPU each process of the stack spent meanwhile is reported per record;
 *   2. wake latency: single records, each its own ingest request, sent at a steady pace; for each,
 *      the time from just before its POST until its operation exists (through the wake path);
 *   3. the worker's peak memory: the process-sales function process, read from /proc;
 *   4. the naive baseline (scripts/bench/naive_baseline.ts): one job and one transaction per
 *      record, with the same concurrency as Conveyor's workers, on a smaller sample.
 *   5. crash recovery (scripts/bench/crash_recovery.ts; --crash-recovery-records, 0 skips it): N records drained
 *      undisturbed, then as many with the process-sales process killed (SIGKILL) mid-drain.
 *   6. sync (scripts/bench/sync_bench.ts; --sync-rows, 0 skips it): the sync engine's push of N
 *      generated operations and their dictionaries through pgbouncer and an 80 ms link, against
 *      the seed's design; `deno task bench sync` runs this phase alone. It replaces the final
 *      tables' rows on both sides with the generated ones.
 *   7. import (scripts/bench/import_bench.ts; --import-rows, 0 skips it): a generated CSV file of N
 *      records served on loopback, imported by an import job to `operations`, against the same
 *      records through the ingest API, and process-import's peak memory on a smaller and this
 *      file; `deno task bench import` runs this phase alone.
 *
 *   deno task bench [sync|import] [--records 100000] [--warm-up 10000] [--baseline-records 10000]
 *                   [--latency-samples 200] [--latency-interval-ms 50] [--restart-worker] [--json]
 *                   [--import-rows 1000000] [--import-memory-rows 100000]
 *
 * Before the throughput phase, --warm-up records (the start of the same live feed) go through the
 * pipeline unmeasured: they start the function processes and let V8 compile the hot paths, so the
 * phase measures the pipeline running, not a process booting (0 measures from cold).
 *
 * Progress goes to stderr; the table (or with --json, a JSON object) to stdout. Exits 0 when a
 * target is missed (it is a benchmark, not a test) and prints MISSED next to it; exits 1 when the
 * throughput phase's records were not all processed (left waiting, failed, or rejected beyond the
 * deliberately bad ones), and 2 on a command line it cannot read.
 * --restart-worker stops the process-sales function process first (the functions server starts
 * a fresh one on the next request), so its VmHWM is this run's peak; without it the peak RSS is
 * sampled during the throughput phase and VmHWM is the peak since that process started.
 */
import postgres from "postgres";
import { z } from "zod";
import { crashRecoveryNote, measureCrashRecovery } from "./bench/crash_recovery.ts";
import { importTable, measureImport, type ImportBenchFigures } from "./bench/import_bench.ts";
import { engineRuns, measureSync, type SyncBenchFigures, syncTable } from "./bench/sync_bench.ts";
import { type NaiveResult, runNaiveBaseline } from "./bench/naive_baseline.ts";
import { cpuSpent, snapshotStackCpu } from "./bench/stack_cpu.ts";
import { isAlive, serviceState } from "./local-stack/processes.ts";
import { repoRoot } from "./local-stack/settings.ts";
import { bringUp, describeStack, stackEnvLines } from "./local-stack/stack.ts";
import {
  type BatchProgress,
  encodeBatches,
  ingestAll,
  ingestBatch,
  type IngestTarget,
  nextSalesStart,
  seedShops,
  sendBatches,
  type Sql,
  unprocessedProblem,
  waitUntilDrained,
} from "../lib/sales_client.ts";
import { generateSales, generateSalesSample } from "../lib/sales_sample.ts";
import { commandLine, parseCommandLine } from "./command_line.ts";

const targets = {
  recordsPerSecond: 20_000,
  ratio: 20,
  latencyP95Ms: 2_000,
  /** Supabase's edge function memory limit. */
  workerMemoryMb: 256,
};
/** Conveyor's worker concurrency (PROCESS_SALES_MAX_WORKERS); the baseline gets as many loops. */
const workerConcurrency = 2;
const ingestChunk = 10_000;

const program = commandLine(
  "bench",
  "Measures throughput, wake latency and worker memory on the local stack against a naive baseline. Exits 0 when a target is missed (it prints MISSED), 1 when the measured records were not all processed (left waiting, failed, or rejected beyond the deliberately bad ones).",
)
  .option("--records <n>", "records in the throughput phase", "100000")
  .option("--warm-up <n>", "records sent unmeasured first (0: measure from cold)", "10000")
  .option("--baseline-records <n>", "records through the naive baseline", "10000")
  .option("--latency-samples <n>", "single-record requests in the wake-latency phase", "200")
  .option("--latency-interval-ms <n>", "milliseconds between them", "50")
  .option("--crash-recovery-records <n>", "records in the crash-recovery phase (0: skip it)", "60000")
  .option("--sync-rows <n>", "operations rows in the sync phase (0: skip it)", "1000000")
  .option("--sync-seed-rows <n>", "operations sent with the seed's design in the sync phase", "20000")
  .option("--import-rows <n>", "rows of the CSV file in the import phase, and records through the ingest API next to it (0: skip it)", "1000000")
  .option("--import-memory-rows <n>", "rows of the smaller file whose process-import peak memory is compared (at most a tenth of --import-rows)", "100000")
  .argument("[phase]", "sync or import: only that phase (default: all phases)")
  .option("--restart-worker", "restart the process-sales function process first", false)
  .option("--json", "print the figures as JSON", false);
const parsedCommandLine = parseCommandLine(
  "bench",
  program,
  z.object({
    records: z.coerce.number().int().positive(),
    warmUp: z.coerce.number().int().nonnegative(),
    baselineRecords: z.coerce.number().int().positive(),
    latencySamples: z.coerce.number().int().positive(),
    latencyIntervalMs: z.coerce.number().int().positive(),
    crashRecoveryRecords: z.coerce.number().int().nonnegative(),
    syncRows: z.coerce.number().int().nonnegative(),
    syncSeedRows: z.coerce.number().int().positive(),
    importRows: z.coerce.number().int().nonnegative(),
    importMemoryRows: z.coerce.number().int().positive(),
    restartWorker: z.boolean(),
    json: z.boolean(),
  }),
);
const parsedOptions = parsedCommandLine.options;
const phase = parsedCommandLine.args[0] ?? "all";
if (phase !== "all" && phase !== "sync" && phase !== "import") {
  console.error(`bench: unknown phase "${phase}": sync, import, or none for all phases (see deno task bench --help)`);
  Deno.exit(2);
}
if (phase === "sync" && parsedOptions.syncRows === 0) {
  console.error("bench: --sync-rows: 0 skips the sync phase, which is the only one asked for");
  Deno.exit(2);
}
if (phase === "import" && parsedOptions.importRows === 0) {
  console.error("bench: --import-rows: 0 skips the import phase, which is the only one asked for");
  Deno.exit(2);
}
if (phase === "import" && parsedOptions.importRows < 10) {
  console.error("bench: --import-rows: at least 10 (the memory comparison imports a tenth of it)");
  Deno.exit(2);
}
const options = {
  records: parsedOptions.records,
  "warm-up": parsedOptions.warmUp,
  "baseline-records": parsedOptions.baselineRecords,
  "latency-samples": parsedOptions.latencySamples,
  "latency-interval-ms": parsedOptions.latencyIntervalMs,
  "restart-worker": parsedOptions.restartWorker,
  json: parsedOptions.json,
};

const say = (line: string) => console.error(line);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Waiting for a quiet pipeline

async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      say(
        `  warning: ${what} not reached after ${
          timeoutMs / 1000
        } s; carrying on (figures may be noisy)`,
      );
      return;
    }
    await sleep(100);
  }
}

async function queueIsEmpty(sql: Sql): Promise<boolean> {
  const [row] = await sql<
    { queued: number }[]
  >`select queue_length::int as queued from pgmq.metrics('sales_input'::text)`;
  return row.queued === 0;
}

async function workersAreIdle(sql: Sql): Promise<boolean> {
  const [row] = await sql<{ busy: number }[]>`
    select count(*)::int as busy from conveyor.worker_leases
     where worker = 'process-sales' and expires_at > clock_timestamp()`;
  return row.busy === 0;
}

/** The tables the pipeline writes, vacuumed before the throughput phase. */
const pipelineTables = [
  "conveyor.sales_input",
  "pgmq.q_sales_input",
  "pgmq.a_sales_input",
  "public.operations",
  "public.products",
  "public.manufacturers",
  "public.categories",
  "public.product_groups",
  "public.product_kinds",
  "public.suppliers",
  "public.locations",
];

/**
 * VACUUM (ANALYZE) of the pipeline's tables before the throughput phase, as pgbench vacuums its
 * tables before a run: what earlier runs left (a VACUUM of the staging table takes seconds of a
 * core) is cleaned now and timed, instead of landing on a core in the middle of the measurement.
 * What this run leaves is vacuumed after it; the time this takes is printed with the figures.
 */
async function vacuumPipelineTables(sql: Sql): Promise<number> {
  const started = performance.now();
  await sql.unsafe(`vacuum (analyze) ${pipelineTables.join(", ")}`);
  return performance.now() - started;
}

/** An empty sales queue and no worker holding a slot, so a phase starts from rest. */
async function waitForQuietPipeline(sql: Sql): Promise<void> {
  await waitFor("an empty sales queue", () => queueIsEmpty(sql), 120_000);
  await waitFor("idle process-sales workers", () => workersAreIdle(sql), 30_000);
}

async function warnIfWakesPaused(sql: Sql): Promise<void> {
  const [row] = await sql<{ paused: boolean }[]>`
    select paused from conveyor.function_wakes where function_name = 'process-sales'`;
  if (row?.paused) {
    say(
      "  warning: automatic wakes of process-sales are paused (conveyor.function_wakes); figures will suffer",
    );
  }
}

// ---------------------------------------------------------------------------------------------
// The worker's memory, from /proc

interface WorkerMemory {
  pids: number[];
  /** Highest VmRSS seen while sampling, this run. */
  sampledPeakMb: number | null;
  /** VmHWM: the peak since the process started. */
  hwmMb: number | null;
}

function procStatus(pid: number): Record<string, string> | undefined {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Object.fromEntries(
      text.split("\n").map((line) => line.split(/:\s*/, 2) as [string, string]),
    );
  } catch {
    return undefined; // gone meanwhile
  }
}

const kbToMb = (field?: string) => (field ? Number.parseInt(field, 10) / 1024 : 0);

/** The VmHWM of a process (its peak RSS since it started), or null when it is gone. */
function peakMemoryMb(pid: number): number | null {
  const status = procStatus(pid);
  return status?.VmHWM ? kbToMb(status.VmHWM) : null;
}

/** The process-sales function process(es) of this stack's functions server. */
function workerPids(): number[] {
  return functionPids("process-sales");
}

/** The function process(es) of this stack's functions server that run the named edge function. */
function functionPids(name: string): number[] {
  const server = serviceState("functions-server").pid;
  const entry = `${repoRoot}/supabase/functions/${name}/index.ts`;
  const pids: number[] = [];
  for (const dir of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(dir.name)) continue;
    let argv: string[];
    try {
      argv = Deno.readTextFileSync(`/proc/${dir.name}/cmdline`).split("\0");
    } catch {
      continue;
    }
    if (!argv.some((a) => a.endsWith("function-host.ts")) || !argv.includes(entry)) continue;
    if (server !== undefined && procStatus(Number(dir.name))?.PPid !== String(server)) continue;
    pids.push(Number(dir.name));
  }
  return pids;
}

/**
 * Samples the worker's RSS every `intervalMs` until stopped. The processes are looked for (a scan
 * of /proc) every tenth sample, as the process may start meanwhile, so sampling costs the
 * pipeline it measures next to nothing.
 */
function sampleWorkerMemory(intervalMs = 100): { stop(): WorkerMemory } {
  const seen = new Set<number>();
  let peak = 0;
  let samples = 0;
  const sample = () => {
    if (samples++ % 10 === 0) {
      for (const pid of workerPids()) seen.add(pid);
    }
    for (const pid of seen) peak = Math.max(peak, kbToMb(procStatus(pid)?.VmRSS));
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      samples = 0; // look for the processes once more
      sample();
      const hwm = [...seen].map((pid) => kbToMb(procStatus(pid)?.VmHWM)).filter((mb) => mb > 0);
      return {
        pids: [...seen],
        sampledPeakMb: peak > 0 ? peak : null,
        hwmMb: hwm.length > 0 ? Math.max(...hwm) : null,
      };
    },
  };
}

/** Stops the idle worker process so the next request starts a fresh one (--restart-worker). */
async function restartWorkerProcess(sql: Sql): Promise<void> {
  await waitForQuietPipeline(sql);
  for (const pid of workerPids()) {
    say(
      `  stopping the process-sales function process (pid ${pid}); the next wake starts a fresh one`,
    );
    Deno.kill(pid, "SIGTERM");
    await waitFor(`pid ${pid} to exit`, () => Promise.resolve(!isAlive(pid)), 10_000);
  }
}

// ---------------------------------------------------------------------------------------------
// Phase 1: throughput

interface WarmUp {
  records: number;
  ms: number;
}

/** The first records of the feed through the pipeline, unmeasured (see --warm-up). */
async function warmUp(sql: Sql, target: IngestTarget, records: unknown[]): Promise<WarmUp> {
  const started = performance.now();
  if (records.length > 0) {
    say(`\nwarm-up: ${records.length} records through the ingest API (not measured)`);
    const batchIds = await ingestAll(target, records, { chunkSize: ingestChunk, concurrency: 2 });
    await waitUntilDrained(sql, batchIds, { timeoutMs: 300_000 });
  }
  return { records: records.length, ms: performance.now() - started };
}

interface Throughput {
  records: number;
  ingestMs: number;
  totalMs: number;
  recordsPerSecond: number;
  progress: BatchProgress;
  memory: WorkerMemory;
  /** CPU seconds each kind of process spent from the first request until the drain was confirmed. */
  cpu: [kind: string, seconds: number][];
}

async function measureThroughput(
  sql: Sql,
  target: IngestTarget,
  records: unknown[],
): Promise<Throughput> {
  say(
    `\nthroughput: ${records.length} records through the ingest API (chunks of ${ingestChunk}, 2 at a time)`,
  );
  // encoded before the clock starts: the client's JSON encoding is not the pipeline's work
  const batches = encodeBatches(records, ingestChunk);
  const memory = sampleWorkerMemory();
  const cpuBefore = snapshotStackCpu();
  const started = performance.now();
  const batchIds = await sendBatches(target, batches, { concurrency: 2 });
  const ingestMs = performance.now() - started;
  const { drainedAt, ...progress } = await waitUntilDrained(sql, batchIds, {
    timeoutMs: 900_000,
    progressMs: 5000, // the progress query counts the run's staging rows (about 70 ms of CPU): keep it rare
    onProgress: (p) => say(`  ${p.total - p.received}/${p.total} done`),
  });
  const totalMs = drainedAt - started;
  const cpu = cpuSpent(cpuBefore, snapshotStackCpu());
  return {
    records: records.length,
    ingestMs,
    totalMs,
    recordsPerSecond: records.length / (totalMs / 1000),
    progress,
    memory: memory.stop(),
    cpu,
  };
}

// ---------------------------------------------------------------------------------------------
// Phase 2: wake latency

interface Latency {
  samples: number;
  seen: number;
  /** Records whose operation did not appear within `lostAfterMs` of the last request. */
  lost: number;
  intervalMs: number;
  /** The first record, sent to an idle pipeline (no worker running). */
  firstMs: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  maxMs: number | null;
}

type SaleKey = { source: string; external_id: string };
const keyOf = (r: SaleKey) => `${r.source}\u0000${r.external_id}`;

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * Polls public.operations every `pollMs` for all outstanding records in one query; a record's
 * latency is taken when the poll that finds it answers (an upper bound by up to one poll).
 */
async function pollOperations(
  sql: Sql,
  sentAt: Map<string, number>,
  latencies: Map<string, number>,
  expected: number,
  deadline: () => number,
  pollMs = 10,
): Promise<void> {
  while (latencies.size < expected && performance.now() < deadline()) {
    const began = performance.now();
    const outstanding = [...sentAt.keys()].filter((key) => !latencies.has(key)).map((key) =>
      key.split("\u0000")
    );
    if (outstanding.length > 0) {
      const rows = await sql<SaleKey[]>`
        select o.source, o.external_id
          from unnest(${outstanding.map((k) => k[0])}::text[], ${
        outstanding.map((k) => k[1])
      }::text[]) as k(source, external_id)
          join public.operations as o on o.source = k.source and o.external_id = k.external_id`;
      const answeredAt = performance.now();
      for (const row of rows) latencies.set(keyOf(row), answeredAt - sentAt.get(keyOf(row))!);
    }
    await sleep(Math.max(0, pollMs - (performance.now() - began)));
  }
}

/** Sends one record per request every `intervalMs`, without waiting for earlier ones to finish. */
async function sendAtPace(
  target: IngestTarget,
  records: SaleKey[],
  intervalMs: number,
  sentAt: Map<string, number>,
): Promise<void> {
  const started = performance.now();
  const requests: Promise<unknown>[] = [];
  for (const [i, record] of records.entries()) {
    await sleep(Math.max(0, started + i * intervalMs - performance.now()));
    sentAt.set(keyOf(record), performance.now());
    requests.push(ingestBatch(target, [record]));
  }
  await Promise.all(requests);
}

const lostAfterMs = 30_000;

async function measureWakeLatency(sql: Sql, target: IngestTarget, runId: string): Promise<Latency> {
  const samples = options["latency-samples"];
  const intervalMs = options["latency-interval-ms"];
  say(`\nwake latency: ${samples} single-record requests, one every ${intervalMs} ms`);
  const records = generateSales({
    count: samples,
    runId: `${runId}-latency`,
    seed: 7,
    badShare: 0,
    replayShare: 0,
    correctionShare: 0,
    startAt: await nextSalesStart(sql),
  }) as unknown as SaleKey[];
  await waitForQuietPipeline(sql);
  const sentAt = new Map<string, number>();
  const latencies = new Map<string, number>();
  let sendingDoneAt = Infinity;
  await Promise.all([
    sendAtPace(target, records, intervalMs, sentAt).then(() => (sendingDoneAt = performance.now())),
    pollOperations(sql, sentAt, latencies, samples, () => sendingDoneAt + lostAfterMs),
  ]);
  const lost = samples - latencies.size;
  if (lost > 0) {
    say(
      `  warning: ${lost} records had no operation ${lostAfterMs / 1000} s after the last request`,
    );
  }
  // A lost record counts as an infinite latency, so it can only push the percentiles up.
  const sorted = [...latencies.values(), ...Array(lost).fill(Infinity)].sort((a, b) => a - b);
  return {
    samples,
    seen: latencies.size,
    lost,
    intervalMs,
    firstMs: latencies.get(keyOf(records[0])) ?? null,
    p50Ms: percentile(sorted, 0.5),
    p95Ms: percentile(sorted, 0.95),
    maxMs: sorted.at(-1) ?? null,
  };
}

// ---------------------------------------------------------------------------------------------
// Phase 3: the naive baseline

async function measureBaseline(sql: Sql, dbUrl: string, runId: string): Promise<NaiveResult> {
  const count = options["baseline-records"];
  say(
    `\nnaive baseline: ${count} records, one job and one transaction each, ${workerConcurrency} worker loops`,
  );
  const records = generateSales({ count, runId: `${runId}-naive`, seed: 11, badShare: 0.01 });
  await waitForQuietPipeline(sql);
  return await runNaiveBaseline(dbUrl, records, { concurrency: workerConcurrency });
}

// ---------------------------------------------------------------------------------------------
// Report

interface Figures {
  stack: Record<string, Record<string, string>>;
  /** Records sent through the pipeline before the throughput phase, unmeasured. */
  warmUp: WarmUp;
  /** VACUUM (ANALYZE) of what earlier runs left, before the throughput phase (not in its time). */
  vacuumBeforeMs: number;
  conveyor: Throughput;
  latency: Latency;
  baseline: NaiveResult;
  ratio: number;
  targets: typeof targets;
  missed: string[];
}

const integer = (n: number) => Math.round(n).toLocaleString("en-US");
function ms(n: number | null): string {
  if (n === null) return "?";
  return n === Infinity ? "never" : String(Math.round(n));
}
const mb = (n: number | null) => (n === null ? "?" : `${Math.round(n)} MB`);
const met = (ok: boolean) => (ok ? "" : "  MISSED");

function missedTargets(f: Omit<Figures, "missed">): string[] {
  const missed: string[] = [];
  if (f.conveyor.recordsPerSecond < targets.recordsPerSecond) missed.push("throughput");
  if (f.ratio < targets.ratio) missed.push("ratio");
  if (f.latency.p95Ms === null || f.latency.p95Ms >= targets.latencyP95Ms) missed.push("latency");
  if (f.latency.lost > 0) missed.push("lost");
  const memory = f.conveyor.memory.sampledPeakMb;
  if (memory === null || memory >= targets.workerMemoryMb) missed.push("memory");
  return missed;
}

/** Where the throughput phase's CPU went, per record, and how busy the cores were. */
function cpuNote(c: Throughput): string {
  const perRecord = (seconds: number) => (seconds * 1e6 / c.records).toFixed(1);
  const spent = c.cpu.reduce((sum, [, seconds]) => sum + seconds, 0);
  const cores = navigator.hardwareConcurrency;
  const available = cores * c.totalMs / 1000;
  const kinds = c.cpu.map(([kind, seconds]) => `${kind} ${perRecord(seconds)}`).join(", ");
  const busy = Math.round(100 * spent / available);
  return `CPU in the throughput phase, µs a record: ${kinds}; in all ${perRecord(spent)} µs a record, ` +
    `${spent.toFixed(1)} of ${available.toFixed(1)} core-seconds (${busy}% of ${cores} cores; ` +
    `the count that confirms the drain included).`;
}

function table(f: Figures): string {
  const { conveyor: c, latency: l, baseline: b, missed } = f;
  const rows: string[][] = [
    ["", "Conveyor", "naive baseline", "ratio", "target"],
    [
      "end-to-end records/s",
      integer(c.recordsPerSecond),
      integer(b.recordsPerSecond),
      `${f.ratio.toFixed(1)}x`,
      `>= ${integer(targets.recordsPerSecond)} and >= ${targets.ratio}x` +
      met(!missed.includes("throughput") && !missed.includes("ratio")),
    ],
    [
      "records / seconds",
      `${integer(c.records)} / ${(c.totalMs / 1000).toFixed(2)} s`,
      `${integer(b.records)} / ${(b.ms / 1000).toFixed(2)} s`,
      "",
      "",
    ],
    [
      "ingest requests alone",
      `${(c.ingestMs / 1000).toFixed(2)} s`,
      `${(b.enqueueMs / 1000).toFixed(2)} s`,
      "",
      "",
    ],
    [
      "wake latency p50/p95",
      `${ms(l.p50Ms)}/${ms(l.p95Ms)} ms`,
      "-",
      "",
      `p95 < ${targets.latencyP95Ms} ms` + met(!missed.includes("latency")),
    ],
    ["wake latency first/max", `${ms(l.firstMs)}/${ms(l.maxMs)} ms`, "-", "", ""],
    [
      "records never processed",
      `${l.lost} of ${l.samples}`,
      "-",
      "",
      "0" + met(!missed.includes("lost")),
    ],
    [
      "worker peak memory",
      mb(c.memory.sampledPeakMb),
      "-",
      "",
      `< ${targets.workerMemoryMb} MB` + met(!missed.includes("memory")),
    ],
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] + 3)).join("").trimEnd());
  const notes = [
    cpuNote(c),
    `Conveyor: ${c.progress.processed} processed, ${c.progress.rejected} rejected, ${c.progress.failed} failed; ` +
    `baseline: ${b.processed} processed, ${b.rejected} rejected.`,
    `Wake latency: one request every ${l.intervalMs} ms; "first" is a record sent while no worker was running; ` +
    `a record is "never processed" when its operation had not appeared ${
      lostAfterMs / 1000
    } s after the last request.`,
    `Worker memory: highest RSS sampled during the throughput phase (pid ${
      c.memory.pids.join(", ") || "?"
    }); ` +
    `VmHWM since that process started: ${mb(c.memory.hwmMb)}.`,
    (f.warmUp.records > 0
      ? `Before the throughput phase, ${integer(f.warmUp.records)} earlier records of the same feed went through the pipeline unmeasured (warm-up, ${
        (f.warmUp.ms / 1000).toFixed(1)
      } s); then `
      : "Measured from cold (no warm-up); before the throughput phase, ") +
    `VACUUM (ANALYZE) of the pipeline's tables (what earlier runs left) took ${
      (f.vacuumBeforeMs / 1000).toFixed(1)
    } s, outside the measured time.`,
  ];
  return [...lines, "", ...notes].join("\n");
}

// ---------------------------------------------------------------------------------------------

/** Phase 6: the sync engine against the seed's design (scripts/bench/sync_bench.ts). */
async function measureSyncPhase(env: Record<string, string>): Promise<SyncBenchFigures> {
  if (!env.CLOUD_POOLER_URL) throw new Error("bench: the stack has no cloud pooler (CLOUD_POOLER_URL); is pgbouncer installed?");
  const engine = engineRuns(env.DB_URL);
  try {
    return await measureSync({
    homeUrl: env.DB_URL,
    cloudUrl: env.CLOUD_DB_URL,
    poolerUrl: env.CLOUD_POOLER_URL,
    operations: parsedOptions.syncRows,
    seedSampleRows: parsedOptions.syncSeedRows,
    push: engine.push,
    verify: engine.verify,
    seedShops,
    say,
  });
  } finally {
    await engine.end();
  }
}

function printSync(figures: SyncBenchFigures): void {
  console.log(`\nSync benchmark, local stack\n`);
  console.log(syncTable(figures));
}

/** Phase 7: a CSV file through an import job against the ingest API (scripts/bench/import_bench.ts). */
async function measureImportPhase(sql: Sql, runId: string): Promise<ImportBenchFigures> {
  return await measureImport(sql, {
    rows: parsedOptions.importRows,
    memoryRows: parsedOptions.importMemoryRows,
    shop: "moba",
    runId,
    startAt: await nextSalesStart(sql),
    target,
    importPids: () => functionPids("process-import"),
    peakMemoryMb,
    waitForQuiet: () => waitForQuietPipeline(sql),
    vacuum: () => vacuumPipelineTables(sql),
    say,
  });
}

function printImport(figures: ImportBenchFigures): void {
  console.log(`\nImport benchmark, local stack\n`);
  console.log(importTable(figures));
}

await bringUp(say);
const stack = await describeStack();
if (options.json) say(stack.text);
else console.log(stack.text);
const env = await stackEnvLines();
const target: IngestTarget = {
  apiUrl: env.API_URL,
  serviceRoleKey: env.SERVICE_ROLE_KEY,
};
if (phase === "sync") {
  const figures = await measureSyncPhase(env);
  if (options.json) console.log(JSON.stringify({ sync: figures }, null, 2));
  else printSync(figures);
  Deno.exit(0);
}
const sql = postgres(env.DB_URL, { max: 4, onnotice: () => {} });
let unprocessed: string | null = null;
if (phase === "import") {
  try {
    await seedShops(sql);
    await warnIfWakesPaused(sql);
    const figures = await measureImportPhase(sql, `bench-${Date.now().toString(36)}`);
    if (options.json) console.log(JSON.stringify({ import: figures }, null, 2));
    else printImport(figures);
    unprocessed = figures.unprocessed;
  } finally {
    await sql.end();
  }
  if (unprocessed) {
    console.error(`\nbench: FAILED: the import phase's records were not all processed: ${unprocessed}`);
    Deno.exit(1);
  }
  Deno.exit(0);
}
try {
  await seedShops(sql);
  await warnIfWakesPaused(sql);
  const runId = `bench-${Date.now().toString(36)}`;
  // One live feed: the warm-up takes its start, the throughput phase the (later) rest.
  const sample = generateSalesSample({
    count: options["warm-up"] + options.records,
    runId,
    seed: 42,
    badShare: 0.01,
    startAt: await nextSalesStart(sql),
  });
  const feed = sample.records;
  const records = feed.slice(options["warm-up"]);
  if (options["restart-worker"]) await restartWorkerProcess(sql);
  await waitForQuietPipeline(sql);
  const warmUpRun = await warmUp(sql, target, feed.slice(0, options["warm-up"]));
  await waitForQuietPipeline(sql);
  say(`\nvacuum (analyze) of the pipeline's tables before measuring, as pgbench does`);
  const vacuumBeforeMs = await vacuumPipelineTables(sql);
  const conveyor = await measureThroughput(sql, target, records);
  const latency = await measureWakeLatency(sql, target, runId);
  const baseline = await measureBaseline(sql, env.DB_URL, runId);
  // last: the kill must not disturb the other phases
  const crashRecovery = parsedOptions.crashRecoveryRecords === 0 ? null : await measureCrashRecovery(sql, target, {
    records: parsedOptions.crashRecoveryRecords,
    runId,
    workerPids,
    waitForQuiet: () => waitForQuietPipeline(sql),
    say,
  });
  const imported = parsedOptions.importRows === 0 ? null : await measureImportPhase(sql, runId);
  // after the pipeline's phases: it replaces the final tables' rows on both sides
  const sync = parsedOptions.syncRows === 0 ? null : await measureSyncPhase(env);
  const partial = {
    stack: stack.extensions,
    warmUp: warmUpRun,
    vacuumBeforeMs,
    conveyor,
    latency,
    baseline,
    ratio: conveyor.recordsPerSecond / baseline.recordsPerSecond,
    targets,
  };
  const figures: Figures = { ...partial, missed: missedTargets(partial) };
  if (options.json) {
    console.log(JSON.stringify({ ...figures, crashRecovery, import: imported, sync }, null, 2));
  } else {
    console.log(`\nConveyor benchmark, local stack\n`);
    console.log(table(figures));
    if (crashRecovery) console.log(crashRecoveryNote(crashRecovery));
    if (imported) printImport(imported);
    if (sync) printSync(sync);
  }
  const deliberatelyBad = sample.deliberatelyBad.slice(options["warm-up"]).filter(Boolean).length;
  unprocessed = unprocessedProblem(conveyor.progress, records.length, deliberatelyBad) ??
    (imported?.unprocessed ? `import phase: ${imported.unprocessed}` : null);
} finally {
  await sql.end();
}
if (unprocessed) {
  console.error(`\nbench: FAILED: the throughput phase's records were not all processed: ${unprocessed}`);
  Deno.exit(1);
}
