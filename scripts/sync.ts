/**
 * The sync engine for people: push the final tables to the production project, pull shops back,
 * verify both sides, show where each table stands.
 *
 *   deno task sync push|pull|verify|status [--table T[,T...]] [--dry-run] [--full] [--json]
 *
 * The working database: DB_URL, else the local stack's. The production project:
 * CONVEYOR_PRODUCTION_DB_URL, else the local stack's CLOUD_LINK_URL (the cloud cluster through
 * pgbouncer and the latency proxy) when it has one, else its CLOUD_DB_URL.
 * On a terminal, without --json, push and pull show a progress bar on stderr: rows read of the
 * rows counted past the cursors before the run (lib/sync_progress.ts), rate, time left.
 * Exits 0 on success (verify: both sides equal), 1 on a failure, a busy table (one line naming
 * it) or a difference, 2 on a command line it cannot read.
 */
import postgres from "postgres";
import { z } from "zod";
import { commandLine, parseCommandLine } from "./command_line.ts";
import { stackEnvFile } from "./local-stack/settings.ts";
import { selectDefinitions, type SyncDefinition, syncDefinitions } from "../supabase/functions/_shared/sync/definitions.ts";
import { defaultBatchRows, runSync, type SyncRunSummary } from "../supabase/functions/_shared/sync/run.ts";
import { connectProduction } from "../supabase/functions/_shared/sync/production_database.ts";
import { verifyDefinitions } from "../supabase/functions/_shared/sync/verify.ts";
import { syncStatus } from "../supabase/functions/_shared/sync/status.ts";
import { expectedRows, syncProgressBar } from "../lib/sync_progress.ts";

const program = commandLine("sync", "Push the final tables to the production project, pull shops, verify, status.")
  .argument("<command>", "push | pull | verify | status")
  .option("--table <names>", "only these definitions (comma-separated), e.g. products,operations")
  .option("--dry-run", "report the rows to insert, update and delete per table; write nothing", false)
  .option("--full", "read from the start instead of the cursors (unchanged rows stay unwritten)", false)
  .option("--batch-rows <n>", "rows per production transaction", String(defaultBatchRows))
  .option("--json", "print one JSON object instead of the table", false);

const optionsSchema = z.object({
  table: z.string().optional().transform((s) => s?.split(",").map((x) => x.trim()).filter(Boolean)),
  dryRun: z.boolean(),
  full: z.boolean(),
  batchRows: z.coerce.number().int().min(1).max(1_000_000),
  json: z.boolean(),
});

const parsed = parseCommandLine("sync", program, optionsSchema);
const command = parsed.args[0];
if (!["push", "pull", "verify", "status"].includes(command)) {
  console.error(`sync: unknown command "${command}": push, pull, verify or status (see deno task sync --help)`);
  Deno.exit(2);
}
const options = parsed.options;

function stackFileValues(): Record<string, string> {
  try {
    const values: Record<string, string> = {};
    for (const line of Deno.readTextFileSync(stackEnvFile).split("\n")) {
      const match = line.match(/^([A-Z0-9_]+)="?(.*?)"?$/);
      if (match) values[match[1]] = match[2];
    }
    return values;
  } catch {
    return {};
  }
}

const stack = stackFileValues();
const homeUrl = Deno.env.get("DB_URL") ?? stack.DB_URL;
const productionUrl = Deno.env.get("CONVEYOR_PRODUCTION_DB_URL") ?? stack.CLOUD_LINK_URL ?? stack.CLOUD_DB_URL;
if (!homeUrl || !productionUrl) {
  console.error("sync: no database: set DB_URL and CONVEYOR_PRODUCTION_DB_URL, or run `deno task stack up`");
  Deno.exit(1);
}

let definitions: SyncDefinition[];
try {
  const direction = command === "push" || command === "pull" ? command : undefined;
  definitions = selectDefinitions(syncDefinitions, direction, options.table);
} catch (error) {
  console.error(`sync: ${error instanceof Error ? error.message : String(error)} (see deno task sync --help)`);
  Deno.exit(2);
}

const home = postgres(homeUrl, { max: 3, onnotice: () => {}, connection: { application_name: "conveyor-sync" } });
const production = connectProduction(productionUrl);

function printRun(summary: SyncRunSummary, seconds: number): void {
  const header = `${summary.direction}${summary.dryRun ? " (dry run: nothing written)" : ""}: ${summary.status}` +
    `${summary.complete || summary.status !== "succeeded" ? "" : " (stopped early; run again to continue)"} in ${seconds.toFixed(2)} s`;
  console.log(header);
  const verbs = summary.dryRun ? ["would insert", "would update", "would delete"] : ["inserted", "updated", "deleted"];
  console.log(["table".padEnd(16), ...verbs.map((v) => v.padStart(13)), "read".padStart(10), "bytes".padStart(12)].join(" "));
  for (const t of summary.tables) {
    console.log([
      t.definition.padEnd(16),
      ...[t.inserted, t.updated, t.deleted].map((n) => String(n).padStart(13)),
      String(t.rowsRead).padStart(10),
      String(t.bytes).padStart(12),
    ].join(" "));
  }
  if (summary.error) console.error(`sync ${summary.direction}: ${summary.error}`);
}

/**
 * The run's progress bar (a terminal, no --json), its total counted first; none when the count
 * fails (the run then says why it cannot work).
 */
async function progressBar(direction: "push" | "pull"): Promise<ReturnType<typeof syncProgressBar> | undefined> {
  try {
    return syncProgressBar(direction, await expectedRows(home, production, definitions, { full: options.full }));
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  if (command === "push" || command === "pull") {
    const started = performance.now();
    const bar = options.json || !Deno.stderr.isTerminal() ? undefined : await progressBar(command);
    let summary: SyncRunSummary;
    try {
      summary = await runSync({
        home,
        production,
        direction: command,
        definitions,
        allDefinitions: syncDefinitions,
        dryRun: options.dryRun,
        full: options.full,
        batchRows: options.batchRows,
        onBatch: bar?.onBatch,
      });
    } finally {
      bar?.stop();
    }
    const seconds = (performance.now() - started) / 1000;
    if (options.json) console.log(JSON.stringify({ ...summary, seconds }));
    else if (summary.status === "busy") console.error(`sync ${command}: ${summary.error}`);
    else printRun(summary, seconds);
    return summary.status === "succeeded" ? 0 : 1;
  }
  if (command === "verify") {
    const results = await verifyDefinitions(home, production, definitions);
    const equal = results.every((r) => r.equal);
    if (options.json) console.log(JSON.stringify({ equal, tables: results }));
    else {
      for (const r of results) {
        console.log(`${r.definition.padEnd(16)} ${r.direction} ${r.equal ? "equal" : "DIFFERENT"}: ${r.sourceRows} source rows, ${r.destinationRows} destination rows`);
        for (const d of r.differences) console.log(`  ${d.difference}: key ${d.key}`);
        if (r.differenceCount > r.differences.length) console.log(`  ... ${r.differenceCount - r.differences.length} more`);
      }
      console.log(equal ? "verify: both sides are equal" : "verify: the two sides differ");
    }
    return equal ? 0 : 1;
  }
  const statuses = await syncStatus(home, definitions);
  if (options.json) console.log(JSON.stringify({ tables: statuses }));
  else {
    console.log(["table".padEnd(16), "direction", "rows behind".padStart(12), "s since ok".padStart(11), "last run"].join(" "));
    for (const s of statuses) {
      const last = s.lastRun ? `${s.lastRun.status} ${s.lastRun.startedAt}${s.lastRun.error ? `: ${s.lastRun.error}` : ""}` : "never";
      console.log([
        s.definition.padEnd(16),
        s.direction.padEnd(9),
        String(s.rowsBehind ?? "-").padStart(12),
        String(s.secondsBehind ?? "-").padStart(11),
        last,
      ].join(" "));
    }
  }
  return statuses.some((s) => s.lastRun?.status === "failed") ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  console.error(`sync ${command}: ${error instanceof Error ? error.message : String(error)}`);
} finally {
  await Promise.all([home.end({ timeout: 5 }), production.end({ timeout: 5 })]);
}
Deno.exit(code);
