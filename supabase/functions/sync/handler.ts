/**
 * POST /functions/v1/sync: runs the sync engine (supabase/functions/_shared/sync/) from the
 * working project. Woken by pg_cron (supabase/migrations/*_sync_cron_jobs.sql) through
 * conveyor.wake_function with the worker key, or called by hand:
 *
 *   { "direction"?: "push" | "pull", "tables"?: ["operations", ...], "dry_run"?: bool,
 *     "full"?: bool, "verify"?: bool }
 *
 * No direction: pull (shops) first, then push, as the schedule of the working database wants
 * them. It answers 202 at once and works in the background (EdgeRuntime.waitUntil), in slices:
 * a slice stops before its next batch when its wall-clock budget (SYNC_WALL_BUDGET_MS) or its
 * bytes budget (SYNC_BYTES_BUDGET: the COPY bytes pass through this isolate, so they stand for
 * its CPU) is spent, and wakes its next invocation with the same body (`full` dropped: the
 * cursors carry on from where the slice stopped). A dry run is one slice (its report must be
 * whole). `verify` compares both sides after a complete run and logs the differences.
 * The production database's URL comes from the function's env (CONVEYOR_PRODUCTION_DB_URL, a
 * secret: `supabase secrets set`, or supabase/functions/.env locally), never from git.
 */
import { z } from "zod";
import { workerCallerCheck } from "../_shared/auth.ts";
import { syncConfig, type SyncConfig } from "../_shared/config.ts";
import { database, logDatabaseWarning, type Sql } from "../_shared/db.ts";
import { errorResponse, jsonResponse } from "../_shared/http.ts";
import { errorMessage, logger } from "../_shared/log.ts";
import { readWakeRequest, runInBackground } from "../_shared/worker/wake_request.ts";
import { selectDefinitions, type SyncDefinition, syncDefinitions, type SyncDirection } from "../_shared/sync/definitions.ts";
import { runSync, type SyncRunSummary } from "../_shared/sync/run.ts";
import { connectProduction } from "../_shared/sync/production_database.ts";
import { verifyDefinitions } from "../_shared/sync/verify.ts";

export const functionName = "sync";

const definitionNames = syncDefinitions.map((d) => d.name);

export const syncRequestSchema = z.object({
  direction: z.enum(["push", "pull"]).optional(),
  tables: z.array(z.string().refine((name) => definitionNames.includes(name), {
    message: `must name sync definitions (${definitionNames.join(", ")})`,
  })).min(1).optional(),
  dry_run: z.boolean().optional(),
  full: z.boolean().optional(),
  verify: z.boolean().optional(),
  /** Set by a slice that hands over: how many hand-overs came before. */
  continued: z.number().int().nonnegative().optional(),
  reason: z.string().max(100).optional(),
}).strict();

export type SyncRequest = z.infer<typeof syncRequestSchema>;

/** The request's problem as one line naming the field, or the request. */
export function parseSyncRequest(body: unknown): { ok: true; request: SyncRequest } | { ok: false; error: string } {
  const parsed = syncRequestSchema.safeParse(body);
  if (parsed.success) return { ok: true, request: parsed.data };
  const issue = parsed.error.issues[0];
  if (issue.code === "unrecognized_keys") {
    return { ok: false, error: `${issue.keys.join(", ")}: not a field of a sync request (direction, tables, dry_run, full, verify)` };
  }
  return { ok: false, error: `${issue.path.join(".") || "body"}: ${issue.message}` };
}

/** The runs a request asks for, in order: pull before push; each with its definitions. */
export function plannedRuns(request: SyncRequest): { direction: SyncDirection; definitions: SyncDefinition[] }[] {
  const directions: SyncDirection[] = request.direction ? [request.direction] : ["pull", "push"];
  return directions
    .map((direction) => ({ direction, definitions: selectDefinitions(syncDefinitions, direction, request.tables) }))
    .filter((run) => run.definitions.length > 0);
}

/** The body of the next slice's wake: the same work, from the cursors. */
export function handOverBody(request: SyncRequest, direction: SyncDirection): SyncRequest {
  const { full: _full, reason: _reason, ...rest } = request;
  // a pull already done is not repeated: the next slice carries on with the direction it stopped in
  return { ...rest, direction, continued: (request.continued ?? 0) + 1, reason: "continue" };
}

export interface SyncSliceResult {
  runs: SyncRunSummary[];
  handedOver: boolean;
  verified?: { equal: boolean; differing: string[] };
}

/** One slice: the planned runs until a budget is spent; then the hand-over or the verify. */
export async function runSyncSlice(
  home: Sql,
  config: SyncConfig,
  request: SyncRequest,
  log: ReturnType<typeof logger>,
): Promise<SyncSliceResult> {
  const production = connectProduction(config.CONVEYOR_PRODUCTION_DB_URL, { onnotice: logDatabaseWarning, idleTimeoutSeconds: 20 });
  const started = performance.now();
  let bytes = 0;
  const shouldStop = () => performance.now() - started > config.SYNC_WALL_BUDGET_MS || bytes > config.SYNC_BYTES_BUDGET;
  const runs: SyncRunSummary[] = [];
  try {
    for (const planned of plannedRuns(request)) {
      const seen = new Map<string, number>();
      const summary = await runSync({
        home,
        production,
        direction: planned.direction,
        definitions: planned.definitions,
        allDefinitions: syncDefinitions,
        dryRun: request.dry_run ?? false,
        full: request.full ?? false,
        batchRows: config.SYNC_BATCH_ROWS,
        shouldStop: request.dry_run ? undefined : shouldStop,
        onBatch: (tally) => {
          bytes += tally.bytes - (seen.get(tally.definition) ?? 0);
          seen.set(tally.definition, tally.bytes);
        },
      });
      runs.push(summary);
      log(summary.status === "failed" ? "error" : summary.status === "busy" ? "warn" : "info", `${planned.direction} finished`, {
        status: summary.status,
        complete: summary.complete,
        dry_run: summary.dryRun,
        sync_run_id: summary.runId,
        ...(summary.error ? { error: summary.error } : {}),
        tables: summary.tables.map((t) => ({
          definition: t.definition,
          inserted: t.inserted,
          updated: t.updated,
          deleted: t.deleted,
          bytes: t.bytes,
        })),
      });
      if (summary.status !== "succeeded") return { runs, handedOver: false };
      if (!summary.complete) {
        if ((request.continued ?? 0) >= config.SYNC_MAX_HANDOVERS) {
          log("warn", "hand-over limit reached; the next scheduled run carries on", { continued: request.continued });
          return { runs, handedOver: false };
        }
        await home`select conveyor.wake_function(${functionName}, ${JSON.stringify(handOverBody(request, planned.direction))}::jsonb)`;
        return { runs, handedOver: true };
      }
    }
    if (request.verify && !request.dry_run) {
      const definitions = plannedRuns(request).flatMap((run) => run.definitions);
      const results = await verifyDefinitions(home, production, definitions);
      const differing = results.filter((r) => !r.equal).map((r) => r.definition);
      log(differing.length === 0 ? "info" : "error", differing.length === 0 ? "verify: both sides are equal" : "verify: the two sides differ", {
        tables: results.map((r) => ({
          definition: r.definition,
          equal: r.equal,
          source_rows: r.sourceRows,
          destination_rows: r.destinationRows,
          differences: r.differenceCount,
          first_keys: r.differences.slice(0, 5).map((d) => `${d.difference}: ${d.key}`),
        })),
      });
      return { runs, handedOver: false, verified: { equal: differing.length === 0, differing } };
    }
    return { runs, handedOver: false };
  } finally {
    await production.end({ timeout: 5 });
  }
}

export function createSyncHandler(env: Record<string, string | undefined> = Deno.env.toObject()) {
  let config: SyncConfig | undefined;
  let configError: string | undefined;
  try {
    config = syncConfig(env);
  } catch (error) {
    configError = errorMessage(error);
  }
  const isWorkerCaller = config ? workerCallerCheck(config) : () => false;
  return async function handleSync(request: Request): Promise<Response> {
    if (request.method === "POST" && !config) {
      return errorResponse(500, `the sync function is not configured: ${configError}`);
    }
    const wakeBody = await readWakeRequest(request, isWorkerCaller);
    if (!wakeBody.ok) return wakeBody.response;
    if (!config) return errorResponse(500, `the sync function is not configured: ${configError}`);
    const parsed = parseSyncRequest(wakeBody.body);
    if (!parsed.ok) return errorResponse(400, parsed.error);
    const runId = crypto.randomUUID();
    const log = logger({ function: functionName, run_id: runId });
    const work = runSyncSlice(database(config), config, parsed.request, log)
      .then((result) => log("info", "slice finished", { handed_over: result.handedOver, reason: parsed.request.reason }))
      .catch((error) => log("error", "sync failed", { error: errorMessage(error) }));
    runInBackground(work);
    return jsonResponse(202, { run_id: runId, accepted: true, request: parsed.request });
  };
}
