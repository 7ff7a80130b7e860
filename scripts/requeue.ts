/**
 * Replays rejected or failed sales records after a fix (a shop added, a rule changed, the
 * database mended): they go back to `received` and onto the queue, and the worker is woken.
 *
 *   deno task requeue [--status rejected,failed] [--ids 12,13] [--batch <uuid>] [--db-url <url>]
 *
 * The database URL defaults to the local stack's (DB_URL from `deno task stack env`).
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { z } from "zod";
import { stackEnvLines } from "./local-stack/stack.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    status: { type: "string", default: "rejected,failed" },
    ids: { type: "string" },
    batch: { type: "string" },
    "db-url": { type: "string" },
  },
});

const optionsSchema = z.object({
  status: z.string().transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(z.enum(["rejected", "failed", "processed"])).min(1)),
  ids: z.string().optional().transform((s) => s?.split(",").map((x) => Number(x.trim())))
    .pipe(z.array(z.number().int().positive()).optional()),
  batch: z.string().uuid().optional(),
  "db-url": z.string().optional(),
});

const parsed = optionsSchema.safeParse(values);
if (!parsed.success) {
  const issue = parsed.error.issues[0];
  console.error(`requeue: --${issue.path.join(".")}: ${issue.message}`);
  Deno.exit(2);
}
const options = parsed.data;
const dbUrl = options["db-url"] ?? Deno.env.get("DB_URL") ?? (await stackEnvLines()).DB_URL;
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
