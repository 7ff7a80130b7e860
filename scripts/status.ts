/**
 * The pipeline's health for people and for monitoring: reads `conveyor.pipeline_health` and
 * prints every check, then each unhealthy reason on its own line (or, with --json, one JSON
 * object). Exits 0 when healthy, 1 when something is unhealthy, 2 when the database cannot be
 * reached (or the health view read), saying so in one line.
 *
 *   deno task status [--json] [--db-url <url>]
 *
 * The database URL: --db-url, else DB_URL, else the local stack's.
 */
import postgres from "postgres";
import { z } from "zod";
import { commandLine, parseCommandLine } from "./command_line.ts";
import { stackEnvLines } from "./local-stack/stack.ts";
import { exitStatus, healthReport, parseHealthRows, readHealthRows, redactedUrl, renderHealth, UNREADABLE } from "../lib/pipeline_health.ts";

const program = commandLine(
  "status",
  "The pipeline's health (conveyor.pipeline_health): exit 0 healthy, 1 unhealthy (each reason printed), 2 database unreachable.",
)
  .option("--json", "print one JSON object {healthy, checked_at, unhealthy, checks} instead of the table")
  .option("--db-url <url>", "database URL (default: DB_URL, else the local stack's)")
  .option("--connect-timeout <seconds>", "give up reaching the database after this long", "5");

const optionsSchema = z.object({
  json: z.boolean().default(false),
  dbUrl: z.string().min(1).optional(),
  connectTimeout: z.coerce.number().positive().max(300),
});

const { options } = parseCommandLine("status", program, optionsSchema);
const dbUrl = options.dbUrl ?? Deno.env.get("DB_URL") ?? (await stackEnvLines()).DB_URL;

const sql = postgres(dbUrl, { max: 1, onnotice: () => {}, connect_timeout: options.connectTimeout, idle_timeout: 1 });
let rows: readonly unknown[];
try {
  rows = await readHealthRows(sql);
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string }).code;
  // A SQLSTATE from the server, other than a refused connection, login or database (classes 08,
  // 28, 3D, 57P0x), means the database was reached but the view could not be read.
  const reached = typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) && !/^(08|28|3D|57P0)/.test(code);
  console.error(
    reached
      ? `status: cannot read conveyor.pipeline_health at ${redactedUrl(dbUrl)}: ${message}`
      : `status: cannot reach the database at ${redactedUrl(dbUrl)}: ${message}`,
  );
  await sql.end({ timeout: 1 }).catch(() => {});
  Deno.exit(UNREADABLE);
}
await sql.end({ timeout: 5 });

const report = healthReport(parseHealthRows(rows), new Date());
console.log(options.json ? JSON.stringify(report, null, 2) : renderHealth(report));
Deno.exit(exitStatus(report));
