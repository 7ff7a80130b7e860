/**
 * /functions/v1/import: POST creates an import job (201 {id, status}); the database's trigger
 * wakes process-import. GET ?id=N answers the job's status and progress. A bad body is a 400
 * naming the field, from zod or from the database's own checks (an inactive shop, a mapping
 * naming no record field).
 */
import { serviceCallerCheck } from "../_shared/auth.ts";
import { type BaseConfig, importApiConfig } from "../_shared/config.ts";
import { database, isTransientDbError } from "../_shared/db.ts";
import { errorResponse, jsonResponse, readBodyCapped } from "../_shared/http.ts";
import { errorMessage, log } from "../_shared/log.ts";
import { parseImportJobRequest } from "./job_request.ts";

const maxBodyBytes = 64 * 1024;

export function createImportHandler(config: BaseConfig = importApiConfig()) {
  const isServiceCaller = serviceCallerCheck(config);
  return async function handleImport(request: Request): Promise<Response> {
    if (!isServiceCaller(request)) {
      return errorResponse(401, "authorization: a service key is required (Authorization: Bearer <key>)");
    }
    const sql = database(config);
    if (request.method === "GET") {
      const id = new URL(request.url).searchParams.get("id") ?? "";
      if (!/^[1-9][0-9]{0,17}$/.test(id)) return errorResponse(400, "id: a job id is required (?id=N)");
      const [job] = await sql`
        select id, shop, format, status, bytes_total, bytes_read, rows_read, rows_accepted, rows_rejected,
               attempts, last_error, created_at, started_at, finished_at
          from conveyor.import_jobs where id = ${id}`;
      return job ? jsonResponse(200, job) : errorResponse(404, `id: import job ${id} does not exist`);
    }
    if (request.method !== "POST") {
      return errorResponse(405, `method ${request.method} is not allowed; use POST or GET`, { allow: "POST, GET" });
    }
    const bytes = await readBodyCapped(request, maxBodyBytes);
    if (bytes === null) return errorResponse(413, `body: larger than ${maxBodyBytes} bytes`);
    let body: unknown;
    try {
      body = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return errorResponse(400, "body: not valid JSON");
    }
    const parsed = parseImportJobRequest(body);
    if (!parsed.ok) return errorResponse(400, parsed.error);
    const job = parsed.job;
    try {
      const [row] = await sql<{ id: string; status: string }[]>`
        insert into conveyor.import_jobs (shop, source_url, format, mapping, delimiter, header, encoding, decimal_comma)
        values (${job.shop}, ${job.source_url}, ${job.format}, ${job.mapping ? sql.json(job.mapping) : null},
                ${job.delimiter}, ${job.header}, ${job.encoding}, ${job.decimal_comma})
        returning id, status`;
      return jsonResponse(201, { id: Number(row.id), status: row.status });
    } catch (error) {
      const code = (error as { code?: unknown })?.code;
      const message = errorMessage(error);
      if (code === "23514" && message.startsWith("import_jobs.")) {
        return errorResponse(400, message.replace(/^import_jobs\./, ""));
      }
      log("error", "creating an import job failed", { error: message });
      return errorResponse(isTransientDbError(error) ? 503 : 500, `creating the job failed: ${message}`);
    }
  };
}
