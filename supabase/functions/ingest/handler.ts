/**
 * POST /functions/v1/ingest: stores a batch of sales records as received, in one statement, and
 * answers 202 { received, batch_id }. The statement trigger queues them and wakes the worker.
 */
import { serviceCallerCheck } from "../_shared/auth.ts";
import { type IngestConfig, ingestConfig } from "../_shared/config.ts";
import { database, isTransientDbError, type Sql } from "../_shared/db.ts";
import { errorResponse, jsonResponse, readBodyCapped } from "../_shared/http.ts";
import { errorMessage, log } from "../_shared/log.ts";
import { bodyFormat, parseEnvelope } from "./envelope.ts";

/**
 * Stores records in one INSERT (so the statement trigger queues them in one send_batch).
 * `recordsJson` is the JSON array text: for a JSON body the request text itself, unparsed again.
 */
export async function storeSalesBatch(sql: Sql, recordsJson: string): Promise<{ batchId: string; received: number }> {
  const batchId = crypto.randomUUID();
  const [row] = await sql<{ received: number }[]>`
    with stored as (
      insert into conveyor.sales_input (payload, batch_id)
      select r.value, ${batchId}::uuid
        from json_array_elements(${recordsJson}::text::json) with ordinality as r(value, position)
       order by r.position
      returning 1
    )
    select count(*)::int as received from stored`;
  return { batchId, received: row.received };
}

/**
 * The answer when storing fails: 503 (retry later) only for transient trouble (connection lost,
 * overload, timeout, deadlock); 400 when the database refuses the data itself (SQLSTATE class 22
 * data exception, 23 integrity, 54 program limit), which the envelope should have caught; 500 for
 * anything else (a server fault a retry will not cure).
 */
export function storeFailureStatus(error: unknown): 400 | 500 | 503 {
  if (isTransientDbError(error)) return 503;
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string" && /^(22|23|54)/.test(code)) return 400;
  return 500;
}

export function createIngestHandler(config: IngestConfig = ingestConfig()) {
  const isServiceCaller = serviceCallerCheck(config);
  return async function handleIngest(request: Request): Promise<Response> {
    if (request.method !== "POST") {
      return errorResponse(405, `method ${request.method} is not allowed; use POST`, { allow: "POST" });
    }
    if (!isServiceCaller(request)) {
      return errorResponse(401, "authorization: a service key is required (Authorization: Bearer <key>)");
    }
    const format = bodyFormat(request.headers.get("content-type"));
    if (!format) {
      return errorResponse(415, "content-type: must be application/json or application/x-ndjson");
    }
    const body = await readBodyCapped(request, config.INGEST_MAX_BYTES);
    if (body === null) {
      return errorResponse(413, `body: larger than the limit of ${config.INGEST_MAX_BYTES} bytes`);
    }
    let text: string;
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(body);
    } catch {
      return errorResponse(400, "body: not valid UTF-8");
    }
    const envelope = parseEnvelope(text, format, config.INGEST_MAX_RECORDS);
    if (!envelope.ok) return errorResponse(envelope.status, envelope.error);
    const started = performance.now();
    try {
      const recordsJson = format === "json" ? text : JSON.stringify(envelope.records);
      const { batchId, received } = await storeSalesBatch(database(config), recordsJson);
      log("info", "ingest batch stored", {
        function: "ingest",
        batch_id: batchId,
        received,
        ms: Math.round(performance.now() - started),
      });
      return jsonResponse(202, { received, batch_id: batchId });
    } catch (error) {
      const status = storeFailureStatus(error);
      log("error", "ingest batch failed", { function: "ingest", records: envelope.records.length, status, error: errorMessage(error) });
      if (status === 400) return errorResponse(400, `records: the database refused them: ${errorMessage(error)}`);
      return errorResponse(status, `storing the batch failed: ${errorMessage(error)}`);
    }
  };
}
