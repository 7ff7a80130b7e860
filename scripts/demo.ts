/**
 * The main job, end to end on the local stack: bring the stack up, seed shops, send a generated
 * messy sample (50,000 records by default) through the ingest API, wait until the pipeline has
 * drained, and print a summary.
 *
 *   deno task demo [--records 50000] [--chunk 5000]
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

const program = commandLine("demo", "Brings the local stack up, sends a generated messy sample through the ingest API, waits until the pipeline has drained and prints a summary. Exits 1 when records were left unprocessed, failed, or rejected beyond the deliberately bad ones.")
  .option("--records <n>", "how many records to send", "50000")
  .option("--chunk <n>", "records per ingest request (at most 10000)", "5000")
  .option("--seed <n>", "the sample generator's seed, for a reproducible sample (default: from the clock)")
  .option("--run-id <id>", "the prefix of the records' external ids (default: demo-<timestamp>)");
const { options } = parseCommandLine(
  "demo",
  program,
  z.object({
    records: z.coerce.number().int().positive(),
    chunk: z.coerce.number().int().positive().max(10_000),
    seed: z.coerce.number().int().nonnegative().optional(),
    runId: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/, "letters, digits, - and _ only").optional(),
  }),
);

const say = (line: string) => console.error(line);

await bringUp(say);
console.log((await describeStack()).text);
const env = await stackEnvLines();
const sql = postgres(env.DB_URL, { max: 2, onnotice: () => {} });
let problem: string | null = null;
try {
  await seedShops(sql);
  const runId = options.runId ?? `demo-${new Date().toISOString().replace(/[-:.TZ]/g, "").slice(0, 14)}`;
  const { records, deliberatelyBad } = generateSalesSample({
    count: options.records,
    runId,
    seed: options.seed ?? Date.now() % 100000,
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
  console.log(
    `\nThe rate above includes this client encoding the records and, on a stack just started, the\n` +
      `function processes booting; deno task bench measures the running pipeline.`,
  );
  console.log(`Replay rejected records after a fix with: deno task requeue --status rejected`);
  console.log(`The stack keeps running; stop it with: deno task stack down`);
  problem = unprocessedProblem(progress, records.length, deliberatelyBad.filter(Boolean).length);
} finally {
  await sql.end();
}
if (problem) {
  console.error(`\ndemo: FAILED: ${problem} (see the rejections above)`);
  Deno.exit(1);
}
