/**
 * Replays rejected or failed sales records after a fix (a shop added, a rule changed, the
 * database mended): they go back to `received` and onto the queue, and the worker is woken.
 *
 *   deno task requeue [--status rejected,failed] [--ids 12,13] [--batch <uuid>] [--db-url <url>]
 *
 * The database URL defaults to the local stack's (DB_URL from `deno task stack env`).
 */
import postgres from "postgres";
import { z } from "zod";
import { commandLine, parseCommandLine } from "./command_line.ts";
import { stackEnvLines } from "./local-stack/stack.ts";

const program = commandLine("requeue", "Replays rejected or failed sales records: back to received, onto the queue, worker woken.")
  .option("--status <list>", "statuses to replay, comma-separated: rejected, failed, processed", "rejected,failed")
  .option("--ids <list>", "only these staging ids (conveyor.sales_input.id), comma-separated")
  .option("--batch <uuid>", "only the records of this ingest batch")
  .option("--db-url <url>", "database URL (default: DB_URL, else the local stack's)");

const optionsSchema = z.object({
  status: z.string().transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(z.enum(["rejected", "failed", "processed"])).min(1)),
  ids: z.string().optional().transform((s) => s?.split(",").map((x) => Number(x.trim())))
    .pipe(z.array(z.number().int().positive()).optional()),
  batch: z.string().uuid().optional(),
  dbUrl: z.string().optional(),
});

const { options } = parseCommandLine("requeue", program, optionsSchema);
const dbUrl = options.dbUrl ?? Deno.env.get("DB_URL") ?? (await stackEnvLines()).DB_URL;
const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
try {
  const [row] = await sql<{ requeued: string }[]>`
    select conveyor.requeue('sales',
      statuses => ${options.status}::text[],
      only_ids => ${options.ids ?? null}::bigint[],
      only_batch => ${options.batch ?? null}::uuid
    ) as requeued`;
  console.log(`requeued ${row.requeued} record(s) with status ${options.status.join(" or ")}`);
} finally {
  await sql.end();
}
