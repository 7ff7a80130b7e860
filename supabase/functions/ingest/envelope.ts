/**
 * The ingest envelope: what the API checks before it stores anything. Only the envelope is
 * checked here (an array of objects, each with a non-empty string `source` and `external_id`);
 * every other rule is the worker's, so a record with bad fields is stored, flagged and kept.
 */
import { z } from "zod";

export type BodyFormat = "json" | "ndjson";

export type EnvelopeResult =
  | { ok: true; records: Record<string, unknown>[] }
  | { ok: false; status: 400 | 413; error: string };

/** application/json or application/x-ndjson (parameters such as charset allowed); else null. */
export function bodyFormat(contentType: string | null): BodyFormat | null {
  const mediaType = (contentType ?? "").split(";")[0].trim().toLowerCase();
  if (mediaType === "application/json") return "json";
  if (mediaType === "application/x-ndjson" || mediaType === "application/ndjson") return "ndjson";
  return null;
}

const nonEmptyString = z.string().refine((s) => s.trim().length > 0);

function envelopeError(record: unknown, index: number): string | null {
  if (record === null || typeof record !== "object" || Array.isArray(record)) {
    return `records[${index}]: must be an object`;
  }
  const fields = record as Record<string, unknown>;
  for (const field of ["source", "external_id"] as const) {
    if (!nonEmptyString.safeParse(fields[field]).success) {
      return `records[${index}].${field}: must be a non-empty string`;
    }
  }
  return null;
}

function parseLines(text: string): { ok: true; values: unknown[] } | { ok: false; error: string } {
  const values: unknown[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    try {
      values.push(JSON.parse(line));
    } catch {
      return { ok: false, error: `records[${values.length}]: line ${i + 1} is not valid JSON` };
    }
  }
  return { ok: true, values };
}

/** Parses and checks a request body; never throws. */
export function parseEnvelope(text: string, format: BodyFormat, maxRecords: number): EnvelopeResult {
  let values: unknown[];
  if (format === "ndjson") {
    const parsed = parseLines(text);
    if (!parsed.ok) return { ok: false, status: 400, error: parsed.error };
    values = parsed.values;
  } else {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { ok: false, status: 400, error: "body: not valid JSON" };
    }
    if (!Array.isArray(parsed)) {
      return { ok: false, status: 400, error: "body: must be a JSON array of records" };
    }
    values = parsed;
  }
  if (values.length === 0) return { ok: false, status: 400, error: "body: must hold at least one record" };
  if (values.length > maxRecords) {
    return { ok: false, status: 413, error: `body: ${values.length} records is more than the limit of ${maxRecords}` };
  }
  for (let i = 0; i < values.length; i++) {
    const error = envelopeError(values[i], i);
    if (error) return { ok: false, status: 400, error };
  }
  return { ok: true, records: values as Record<string, unknown>[] };
}
