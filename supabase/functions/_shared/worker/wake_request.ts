/**
 * The request that wakes a worker function (process-sales, process-import, sync): a POST from
 * pg_net or pg_cron with the worker key and a small JSON body. Each worker answers at once and
 * works in the background (EdgeRuntime.waitUntil on Supabase; locally the process keeps running).
 */
import { errorResponse } from "../http.ts";

type EdgeRuntimeGlobal = { waitUntil(promise: Promise<unknown>): void };

/** Keeps `task` alive after the response where the edge runtime would otherwise stop it. */
export function runInBackground(task: Promise<unknown>): void {
  const edge = (globalThis as { EdgeRuntime?: EdgeRuntimeGlobal }).EdgeRuntime;
  if (edge) edge.waitUntil(task);
}

/** The body a wake request carried, or the answer to give when it is not a valid wake. */
export type WakeBody = { ok: true; body: unknown } | { ok: false; response: Response };

/**
 * Checks a wake request: POST (405 otherwise), from a caller with the worker key (401), with an
 * empty or JSON body (400); returns the parsed body for the worker's own schema.
 */
export async function readWakeRequest(request: Request, isWorkerCaller: (request: Request) => boolean): Promise<WakeBody> {
  if (request.method !== "POST") {
    return { ok: false, response: errorResponse(405, `method ${request.method} is not allowed; use POST`, { allow: "POST" }) };
  }
  if (!isWorkerCaller(request)) {
    return { ok: false, response: errorResponse(401, "authorization: the worker key or a service key is required") };
  }
  const text = await request.text();
  if (!text.trim()) return { ok: true, body: {} };
  try {
    return { ok: true, body: JSON.parse(text) };
  } catch {
    return { ok: false, response: errorResponse(400, "body: not valid JSON") };
  }
}
