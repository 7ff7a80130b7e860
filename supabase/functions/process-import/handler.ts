/**
 * POST /functions/v1/process-import: runs import jobs. Woken by pg_net when a job becomes pending
 * (created, handed over, reaped) and by the pg_cron safety net, with the worker key. It answers
 * 202 at once and works in the background (EdgeRuntime.waitUntil); with {"wait": true} it answers
 * 200 with the run's summary when it is done.
 */
import { z } from "zod";
import { workerCallerCheck } from "../_shared/auth.ts";
import { importConfig, type ImportConfig } from "../_shared/config.ts";
import { database } from "../_shared/db.ts";
import { errorResponse, jsonResponse } from "../_shared/http.ts";
import { errorMessage, logger } from "../_shared/log.ts";
import { readWakeRequest, runInBackground } from "../_shared/worker/wake_request.ts";
import { importOptions, runImports, workerName } from "./import_run.ts";

const wakeSchema = z.object({
  reason: z.string().max(100).optional(),
  wait: z.boolean().optional(),
}).passthrough();

export function createProcessImportHandler(config: ImportConfig = importConfig()) {
  const isWorkerCaller = workerCallerCheck(config);
  return async function handleProcessImport(request: Request): Promise<Response> {
    const wakeBody = await readWakeRequest(request, isWorkerCaller);
    if (!wakeBody.ok) return wakeBody.response;
    const wake = wakeSchema.safeParse(wakeBody.body);
    if (!wake.success) {
      const issue = wake.error.issues[0];
      return errorResponse(400, `${issue.path.join(".") || "body"}: ${issue.message}`);
    }
    const log = logger({ function: workerName });
    const run = runImports(database(config), importOptions(config), log).then((summary) => {
      log("info", "run finished", { reason: wake.data.reason, ...summary });
      return summary;
    });
    if (wake.data.wait) {
      try {
        return jsonResponse(200, await run);
      } catch (error) {
        log("error", "run failed", { error: errorMessage(error) });
        return errorResponse(500, `run failed: ${errorMessage(error)}`);
      }
    }
    runInBackground(run.catch((error) => log("error", "run failed", { error: errorMessage(error) })));
    return jsonResponse(202, { accepted: true });
  };
}
