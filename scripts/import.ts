/**
 * Imports a shop's feed file through an import job:
 *
 *   deno task import <url | local file> --shop <code> [--format csv|ndjson|json] [--map col=field,...]
 *     [--delimiter ;] [--encoding windows-1251] [--decimal-comma] [--no-header] [--wait] [--db-url <url>]
 *
 * It creates the job with one insert (the database wakes process-import). A local file is served
 * by this command on 127.0.0.1 (with Range support) until the job ends, so it always waits. With
 * --wait it shows a progress bar (rows, bytes, rate, ETA) on stderr until the job ends, then a
 * summary; it exits 1 when the job failed or was cancelled, 2 on a bad command line.
 */
import postgres from "postgres";
import { z } from "zod";
import { serveLocalFile, type ServedLocalFile } from "../lib/file_server.ts";
import { createImportJob, formatFromName, importSummary, parseMapping } from "../lib/import_job.ts";
import { followImportJob } from "../lib/import_progress_bar.ts";
import { commandLine, parseCommandLine, USAGE_ERROR } from "./command_line.ts";
import { stackEnvLines } from "./local-stack/stack.ts";

const program = commandLine("import", "Imports a feed file (URL or local file) into the sales pipeline through an import job.")
  .argument("<source>", "an http(s) URL, or a local file (served by this command while the job runs)")
  .option("--shop <code>", "the shop the file comes from (an active public.shops code)")
  .option("--format <format>", "csv, ndjson or json (default: from the file name, else csv)")
  .option("--map <list>", "column=field pairs, comma-separated (e.g. Артикул=product.sku,Цена=unit_price)")
  .option("--delimiter <char>", "CSV delimiter", ",")
  .option("--encoding <name>", "the file's encoding (utf-8, windows-1251, ...)", "utf-8")
  .option("--decimal-comma", "quantity and unit_price use a decimal comma (1.499,50)", false)
  .option("--no-header", "the CSV file has no header row (map columns by number: 1=external_id,...)")
  .option("--wait", "show progress until the job ends, then a summary", false)
  .option("--db-url <url>", "database URL (default: DB_URL, else the local stack's)");

const optionsSchema = z.object({
  shop: z.string({ error: "is required (the code of an active shop)" }).min(1),
  format: z.enum(["csv", "ndjson", "json"]).optional(),
  map: z.string().optional(),
  delimiter: z.string().length(1, "must be one character"),
  encoding: z.string().min(1),
  decimalComma: z.boolean(),
  header: z.boolean(),
  wait: z.boolean(),
  dbUrl: z.string().optional(),
});

const { options, args } = parseCommandLine("import", program, optionsSchema);
const source = args[0];
let mapping: Record<string, string> | null = null;
if (options.map !== undefined) {
  try {
    mapping = parseMapping(options.map);
  } catch (error) {
    console.error(`import: --map: ${(error as Error).message} (see deno task import --help)`);
    Deno.exit(USAGE_ERROR);
  }
}
const isUrl = /^https?:\/\//i.test(source);
if (!isUrl) {
  try {
    if (!(await Deno.stat(source)).isFile) throw new Error("not a file");
  } catch (error) {
    console.error(`import: <source>: ${source}: neither an http(s) URL nor a readable file (${(error as Error).message})`);
    Deno.exit(USAGE_ERROR);
  }
}

const dbUrl = options.dbUrl ?? Deno.env.get("DB_URL") ?? (await stackEnvLines()).DB_URL;
const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
let served: ServedLocalFile | undefined;
let exitCode = 0;
try {
  served = isUrl ? undefined : await serveLocalFile(source);
  const sourceUrl = served?.url ?? source;
  let id: number;
  try {
    id = await createImportJob(sql, {
      shop: options.shop,
      source_url: sourceUrl,
      format: options.format ?? formatFromName(source),
      mapping,
      delimiter: options.delimiter,
      header: options.header,
      encoding: options.encoding,
      decimal_comma: options.decimalComma,
    });
  } catch (error) {
    // the database names the field: import_jobs.shop: "x" is not an active shop
    console.error(`import: ${(error as Error).message}`);
    Deno.exit(1);
  }
  console.log(`import job ${id} created (${sourceUrl})`);
  if (options.wait || served) {
    const { progress, seconds } = await followImportJob(sql, id, { bar: options.wait });
    console.log(importSummary(progress, seconds));
    exitCode = progress.status === "succeeded" ? 0 : 1;
  }
} finally {
  await served?.close();
  await sql.end({ timeout: 5 });
}
Deno.exit(exitCode);
