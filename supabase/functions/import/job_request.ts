/**
 * The body of POST /functions/v1/import: an import job's fields, checked with zod before the
 * database checks them again (the shop, the mapping's fields) at insert.
 */
import { z } from "zod";

export const importJobRequestSchema = z.object({
  shop: z.string().min(1, "is required (the code of an active shop)"),
  source_url: z.string().regex(/^https?:\/\/[^/\s]+/i, "must be an http or https URL (a Storage object: a signed URL)"),
  format: z.enum(["csv", "ndjson", "json"]).default("csv"),
  mapping: z.record(z.string(), z.string()).nullable().default(null),
  delimiter: z.string().length(1, "must be one character").default(","),
  header: z.boolean().default(true),
  encoding: z.string().min(1).default("utf-8"),
  decimal_comma: z.boolean().default(false),
}).strict();

export type ImportJobRequest = z.infer<typeof importJobRequestSchema>;

/** The first problem of a body, naming its field: `source_url: must be an http or https URL`. */
export function parseImportJobRequest(body: unknown): { ok: true; job: ImportJobRequest } | { ok: false; error: string } {
  const parsed = importJobRequestSchema.safeParse(body);
  if (parsed.success) return { ok: true, job: parsed.data };
  const issue = parsed.error.issues[0];
  const field = issue.code === "unrecognized_keys" ? issue.keys.join(", ") : issue.path.join(".");
  return { ok: false, error: `${field || "body"}: ${issue.message}` };
}
