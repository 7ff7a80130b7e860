/**
 * A process-sales worker in a process of its own, so a test can kill it mid-batch:
 *   deno run -A tests/support/sales_worker_process.ts
 * Reads DB_URL and PROCESS_SALES_* from the environment; prints its summary as JSON.
 */
import postgres from "postgres";
import { workerConfig } from "../../supabase/functions/_shared/config.ts";
import { logger } from "../../supabase/functions/_shared/log.ts";
import { drainSalesQueue } from "../../supabase/functions/process-sales/drain.ts";
import { endClient } from "./connections.ts";

const config = workerConfig({ ...Deno.env.toObject(), SUPABASE_DB_URL: Deno.env.get("DB_URL") });
const sql = postgres(config.SUPABASE_DB_URL, {
  max: 1,
  onnotice: () => {},
  connection: { application_name: Deno.env.get("WORKER_APPLICATION_NAME") ?? "conveyor-test-worker" },
});
console.log(JSON.stringify(await drainSalesQueue(sql, config, logger({ function: "process-sales", pid: Deno.pid }))));
await endClient(sql);
