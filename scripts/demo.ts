/**
 * The main job, end to end on the local stack: bring the stack up, seed the shops in the
 * production project (the stack's cloud cluster) and pull them into the working database with
 * the sync engine, send a generated messy sample (50,000 records by default) through the ingest
 * API, wait until the pipeline has drained, import a generated CSV file (20,000 rows by default)
 * through an import job with its progress bar and wait until the pipeline has drained it too,
 * push the final tables to the production project, verify both sides, print a summary and end
 * with `deno task status`'s report. The sync goes through the stack's cloud link (pgbouncer
 * in transaction mode behind an 80 ms round-trip latency proxy). Exits 1 when records were left
 * unprocessed (sent or imported), or the import job or a sync run failed, or verify finds the two
 * sides different; an unhealthy status report is printed, and does not fail the demo by itself.
 *
 *   deno task demo [--records 50000] [--chunk 5000] [--import-rows 20000] [--seed N] [--run-id ID]
 */
import postgres from "postgres";
import { z } from "zod";
import { commandLine, parseCommandLine } from "./command_line.ts";
import { bringUp, describeStack, stackEnvLines } from "./local-stack/stack.ts";
import {
  ingestAll,
  nextSalesStart,
  pipelineTotals,
  seedShops,
  topRejections,
  unprocessedProblem,
  waitUntilDrained,
} from "../lib/sales_client.ts";
import { generateSalesSample } from "../lib/sales_sample.ts";
import { writeSalesCsv } from "../lib/sales_csv.ts";
import { serveLocalFile } from "../lib/file_server.ts";
import { createImportJob, importSummary, lastStagingId, stagingBatchesAfter } from "../lib/import_job.ts";
import { followImportJob } from "../lib/import_progress_bar.ts";
import { readHealthReport, renderHealth } from "../lib/pipeline_health.ts";
import { selectDefinitions, syncDefinitions, type SyncDirection } from "../supabase/functions/_shared/sync/definitions.ts";
import { runSync, type SyncRunSummary } from "../supabase/functions/_shared/sync/run.ts";
import { connectProduction } from "../supabase/functions/_shared/sync/production_database.ts";
import { verifyDefinitions } from "../supabase/functions/_shared/sync/verify.ts";

const program = commandLine("demo", "Brings the local stack up, pulls the shops from the production project, sends a generated messy sample through the ingest API, waits until the pipeline has drained, imports a generated CSV file through an import job (with its progress bar) and waits for it too, pushes the final tables to the production project, verifies both sides, prints a summary and ends with the status report (deno task status). Exits 1 when records were left unprocessed, failed, or rejected beyond the deliberately bad ones, when the import job or a sync run failed, or when verify finds the two sides different.")
  .option("--records <n>", "how many records to send", "50000")
  .option("--chunk <n>", "records per ingest request (at most 10000)", "5000")
  .option("--import-rows <n>", "rows of the generated CSV file imported through an import job (0: no import)", "20000")
  .option("--seed <n>", "the sample generator's seed, for a reproducible sample (default: from the clock)")
  .option("--run-id <id>", "the prefix of the records' external ids (default: demo-<timestamp>)");
const { options } = parseCommandLine(
  "demo",
  program,
  z.object({
    records: z.coerce.number().int().positive(),
    chunk: z.coerce.number().int().positive().max(10_000),
    importRows: z.coerce.number().int().nonnegative(),
    seed: z.coerce.number().int().nonnegative().optional(),
    runId: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, "letters, digits, - and _ only").optional(),
  }),
);

const say = (line: string) => console.error(line);

type Sql = ReturnType<typeof postgres>;

/** The shop whose feed file the demo imports. */
const importShop = "moba";

/**
 * A generated feed file of one shop (`rows` records), written to a temporary file, served on
 * loopback and imported through an import job with its progress bar; then the pipeline's drain of
 * its records. Returns why its records were not all processed, or null.
 */
async function importFeedFile(sql: Sql, rows: number, runId: string, seed: number): Promise<string | null> {
  const directory = await Deno.makeTempDir({ prefix: "conveyor-demo-" });
  const path = `${directory}/${importShop}-feed.csv`;
  const sample = generateSalesSample({ count: rows, runId: `${runId}-file`, seed: seed + 1, shops: [importShop], startAt: await nextSalesStart(sql) });
  const file = await writeSalesCsv(path, [sample.records]);
  const served = await serveLocalFile(path);
  try {
    console.log(`
importing a generated feed file of ${importShop}: ${file.rows} rows, ${(file.bytes / 1e6).toFixed(1)} MB CSV, served at ${served.url} (deno task import does the same)`);
    const mark = await lastStagingId(sql);
    const started = performance.now();
    const id = await createImportJob(sql, {
      shop: importShop,
      source_url: served.url,
      format: "csv",
      mapping: null,
      delimiter: ",",
      header: true,
      encoding: "utf-8",
      decimal_comma: false,
    });
    console.log(`import job ${id} created`);
    const { progress: job, seconds } = await followImportJob(sql, id, { bar: true, timeoutMs: 600_000 });
    console.log(importSummary(job, seconds));
    if (job.status !== "succeeded") return `import job ${id} ${job.status}: ${job.lastError}`;
    const batchIds = await stagingBatchesAfter(sql, mark);
    const { drainedAt, ...progress } = await waitUntilDrained(sql, batchIds, {
      timeoutMs: 600_000,
      progressMs: 2000,
      onProgress: (p) => say(`  ${p.total - p.received}/${p.total} done (${p.processed} processed, ${p.rejected} rejected)`),
    });
    const drainedSeconds = (drainedAt - started) / 1000;
    console.log(`the file's records through the pipeline: ${progress.processed} processed, ${progress.rejected} rejected ` +
      `(${job.rowsRejected} of them at import), ${progress.failed} failed; ${drainedSeconds.toFixed(2)} s from the job's creation ` +
      `(${Math.round(file.rows / drainedSeconds)} rows/s end to end)`);
    return unprocessedProblem(progress, file.rows, sample.deliberatelyBad.filter(Boolean).length);
  } finally {
    await served.close();
    await Deno.remove(directory, { recursive: true }).catch(() => {});
  }
}

/** One sync run of every definition of `direction`, timed, with its table printed. */
async function syncAndReport(home: Sql, production: Sql, direction: SyncDirection, what: string): Promise<SyncRunSummary> {
  const started = performance.now();
  const summary = await runSync({
    home,
    production,
    direction,
    definitions: selectDefinitions(syncDefinitions, direction),
    allDefinitions: syncDefinitions,
  });
  const seconds = (performance.now() - started) / 1000;
  const moved = summary.tables.reduce((n, t) => n + t.inserted + t.updated + t.deleted, 0);
  const bytes = summary.tables.reduce((n, t) => n + t.bytes, 0);
  console.log(`\n${what}: ${summary.status} in ${seconds.toFixed(2)} s, ${moved} rows written` +
    (moved > 0 ? ` (${Math.round(moved / seconds)} rows/s, ${(bytes / 1e6).toFixed(1)} MB sent)` : ""));
  for (const t of summary.tables) {
    console.log(`  ${t.definition.padEnd(16)} ${String(t.inserted).padStart(8)} inserted ${String(t.updated).padStart(8)} updated ${String(t.deleted).padStart(6)} deleted`);
  }
  if (summary.error) console.error(`  ${summary.error}`);
  return summary;
}

await bringUp(say);
console.log((await describeStack()).text);
const env = await stackEnvLines();
const sql = postgres(env.DB_URL, { max: 3, onnotice: () => {} });
const productionUrl = env.CLOUD_LINK_URL ?? env.CLOUD_DB_URL;
// the production project as the sync reaches it: through the pooler (transaction mode) and the slow link
const production = connectProduction(productionUrl);
const cloud = postgres(env.CLOUD_DB_URL, { max: 1, onnotice: () => {} });
let problem: string | null = null;
try {
  // shops are mastered in the production project: seeded there, then pulled
  await seedShops(cloud);
  console.log(`\nthe sync engine reaches the production project at ${productionUrl} (pgbouncer behind the latency proxy)`);
  const pulled = await syncAndReport(sql, production, "pull", "pull shops from the production project");
  if (pulled.status !== "succeeded") throw new Error(`the pull of shops ${pulled.status}: ${pulled.error}`);
  const runId = options.runId ?? `demo-${new Date().toISOString().replace(/[-:.TZ]/g, "").slice(0, 14)}`;
  const seed = options.seed ?? Date.now() % 100000;
  const { records, deliberatelyBad } = generateSalesSample({
    count: options.records,
    runId,
    seed,
    startAt: await nextSalesStart(sql),
  });
  console.log(`\nsending ${records.length} generated records through ${env.FUNCTIONS_URL}/ingest (supabase-js functions.invoke) ...`);
  const before = await pipelineTotals(sql);
  const started = performance.now();
  const batchIds = await ingestAll(
    { apiUrl: env.API_URL, serviceRoleKey: env.SERVICE_ROLE_KEY },
    records,
    { chunkSize: options.chunk, concurrency: 2 },
  );
  const ingestedMs = performance.now() - started;
  const { drainedAt, ...progress } = await waitUntilDrained(sql, batchIds, {
    timeoutMs: 600_000,
    progressMs: 2000,
    onProgress: (p) => say(`  ${p.total - p.received}/${p.total} done (${p.processed} processed, ${p.rejected} rejected)`),
  });
  const drainedMs = drainedAt - started;
  const after = await pipelineTotals(sql);
  const rejections = await topRejections(sql, batchIds);
  const rate = Math.round(progress.total / (drainedMs / 1000));
  console.log(`
Conveyor demo: ${progress.total} records
  ingest API accepted all      ${(ingestedMs / 1000).toFixed(2)} s
  pipeline drained             ${(drainedMs / 1000).toFixed(2)} s  (${rate} records/s end to end)
  processed                    ${progress.processed}
  rejected (kept, replayable)  ${progress.rejected}
  failed (dead letter)         ${progress.failed}
  operations                   ${after.operations} (+${after.operations - before.operations}; replays and corrections share one row)
  products                     ${after.products}
  manufacturers                ${after.manufacturers}
  categories                   ${after.categories}
  product groups               ${after.product_groups}
  product kinds                ${after.product_kinds}
  suppliers                    ${after.suppliers}
  locations                    ${after.locations}`);
  if (rejections.length > 0) {
    console.log("  most common rejections:");
    for (const r of rejections) console.log(`    ${String(r.records).padStart(6)}  ${r.error}`);
  }
  problem = unprocessedProblem(progress, records.length, deliberatelyBad.filter(Boolean).length);
  if (options.importRows > 0) {
    const imported = await importFeedFile(sql, options.importRows, runId, seed);
    if (imported) problem ??= `the imported file: ${imported}`;
  }

  const pushed = await syncAndReport(sql, production, "push", "push the final tables to the production project");
  if (pushed.status !== "succeeded") problem ??= `the push ${pushed.status}: ${pushed.error}`;
  const verifyStarted = performance.now();
  const verified = await verifyDefinitions(sql, production, selectDefinitions(syncDefinitions, undefined));
  const equal = verified.every((r) => r.equal);
  console.log(`\nverify (counts and row hashes computed in each database), ${((performance.now() - verifyStarted) / 1000).toFixed(2)} s:`);
  for (const r of verified) {
    console.log(`  ${r.definition.padEnd(16)} ${r.equal ? "equal    " : "DIFFERENT"} ${String(r.sourceRows).padStart(8)} rows here, ${String(r.destinationRows).padStart(8)} there`);
    for (const d of r.differences.slice(0, 5)) console.log(`    ${d.difference}: key ${d.key}`);
  }
  console.log(equal ? "both sides are equal" : "the two sides DIFFER");
  if (!equal) problem ??= `verify found differences in ${verified.filter((r) => !r.equal).map((r) => r.definition).join(", ")}`;
  console.log(`\nthe pipeline's health (deno task status):`);
  const health = await readHealthReport(sql);
  console.log(renderHealth(health));
  console.log(
    `\nThe rates above include this client encoding the records and, on a stack just started, the\n` +
      `function processes booting; deno task bench measures the running pipeline.`,
  );
  console.log(`Replay rejected records after a fix with: deno task requeue --status rejected`);
  console.log(`The stack keeps running; stop it with: deno task stack down`);
} catch (error) {
  problem = error instanceof Error ? error.message : String(error);
} finally {
  await Promise.all([sql.end({ timeout: 5 }), production.end({ timeout: 5 }), cloud.end({ timeout: 5 })]);
}
if (problem) {
  console.error(`\ndemo: FAILED: ${problem}`);
  Deno.exit(1);
}
