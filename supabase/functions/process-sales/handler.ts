/**
 * POST /functions/v1/process-sales: drains the sales queue. Woken by pg_net (after inserts) and
 * pg_cron (safety net) with the worker key. By default it answers 202 at once and drains in the
 * background (EdgeRuntime.waitUntil); with {"wait": true} it answers 200 with the run's summary.
 */
import { z } from "zod";
import { workerCallerCheck } from "../_shared/auth.ts";
import { workerConfig, type WorkerConfig } from "../_shared/config.ts";
import { database } from "../_shared/db.ts";
import { errorResponse, jsonResponse } from "../_shared/http.ts";
import { errorMessage, logger } from "../_shared/log.ts";
import { readWakeRequest, runInBackground } from "../_shared/worker/wake_request.ts";
import { drainSalesQueue, workerName } from "./drain.ts";

const wakeSchema = z.object({
  reason: z.string().max(100).optional(),
  wait: z.boolean().optional(),
}).passthrough();

export function createProcessSalesHandler(config: WorkerConfig = workerConfig()) {
  const isWorkerCaller = workerCallerCheck(config);
  return async function handleProcessSales(request: Request): Promise<Response> {
    const wakeBody = await readWakeRequest(request, isWorkerCaller);
    if (!wakeBody.ok) return wakeBody.response;
    const wake = wakeSchema.safeParse(wakeBody.body);
    if (!wake.success) {
      const issue = wake.error.issues[0];
      return errorResponse(400, `${issue.path.join(".") || "body"}: ${issue.message}`);
    }
    const runId = crypto.randomUUID();
    const log = logger({ function: workerName, run_id: runId });
    const run = drainSalesQueue(database(config), config, log).then((summary) => {
      log(summary.stopped === "transient_error" ? "warn" : "info", "run finished", { reason: wake.data.reason, ...summary });
      return summary;
    });
    if (wake.data.wait) {
      try {
        return jsonResponse(200, { run_id: runId, ...(await run) });
      } catch (error) {
        log("error", "run failed", { error: errorMessage(error) });
        return errorResponse(500, `run ${runId} failed: ${errorMessage(error)}`);
      }
    }
    const guarded = run.catch((error) => log("error", "run failed", { error: errorMessage(error) }));
    runInBackground(guarded);
    return jsonResponse(202, { run_id: runId, accepted: true });
  };
}
