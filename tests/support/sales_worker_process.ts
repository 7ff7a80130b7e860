/**
 * A process-sales worker in a process of its own, so a test can kill it mid-batch:
 *   deno run -A tests/support/sales_worker_process.ts
 * Reads DB_URL, CONVEYOR_DB_PREPARE and PROCESS_SALES_* from the environment; prints its summary
 * as JSON.
 */
import postgres from "postgres";
import { workerConfig } from "../../supabase/functions/_shared/config.ts";
import { usesPreparedStatements } from "../../supabase/functions/_shared/db.ts";
import { logger } from "../../supabase/functions/_shared/log.ts";
import { drainSalesQueue } from "../../supabase/functions/process-sales/drain.ts";
import { endClient } from "./connections.ts";

const config = workerConfig({ ...Deno.env.toObject(), SUPABASE_DB_URL: Deno.env.get("DB_URL") });
const sql = postgres(config.SUPABASE_DB_URL, {
  prepare: usesPreparedStatements(config.SUPABASE_DB_URL, config.CONVEYOR_DB_PREPARE),
  max: 2, // the heartbeat renews the slot and the batch's visibility while a batch is applied
  onnotice: () => {},
  connection: { application_name: Deno.env.get("WORKER_APPLICATION_NAME") ?? "conveyor-test-worker" },
});
console.log(JSON.stringify(await drainSalesQueue(sql, config, logger({ function: "process-sales", pid: Deno.pid }))));
await endClient(sql);
