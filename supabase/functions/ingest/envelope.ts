/**
 * The ingest envelope: what the API checks before it stores anything. Only the envelope is
 * checked here (an array of objects, each with a non-empty string `source` and `external_id`,
 * nested at most MAX_RECORD_DEPTH levels, and no string or key PostgreSQL text cannot hold);
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

/** A record is level 1, an object or array inside it level 2, and so on. */
export const MAX_RECORD_DEPTH = 32;

// In JSON text a NUL or a surrogate can only be written as a \u escape (raw control characters
// are not JSON, and the body is valid UTF-8, which cannot encode a surrogate). A body without
// such an escape needs no look at its strings; one with it (or with an escaped backslash before
// "u0000") gets the full walk.
const UNREADABLE_ESCAPE = /\\u(?:0000|[dD][89a-fA-F])/;
// A NUL, a high surrogate not followed by a low one, or a low surrogate not after a high one (the
// NUL is what the pattern is for: PostgreSQL's text cannot hold it).
// deno-lint-ignore no-control-regex
const UNREADABLE_CHARACTER = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function memberPath(path: string, key: string): string {
  return IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** Why PostgreSQL text cannot hold `s`, or null when it can. */
function unreadableText(s: string): string | null {
  const m = UNREADABLE_CHARACTER.exec(s);
  if (!m) return null;
  const code = m[0].charCodeAt(0);
  if (code === 0) return "a NUL character (\\u0000)";
  return `a lone surrogate (\\u${code.toString(16).padStart(4, "0")})`;
}

const CANNOT_HOLD = "which PostgreSQL text cannot hold";

/**
 * Walks one record without recursion (a record may be nested 20,000 levels deep): its nesting,
 * and when `checkText`, every string and key. Returns the first problem, naming the field.
 */
function recordContentError(record: object, index: number, checkText: boolean): string | null {
  const root = `records[${index}]`;
  const stack: { value: unknown; path: string; depth: number }[] = [{ value: record, path: root, depth: 1 }];
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === "string") {
      const problem = checkText ? unreadableText(value) : null;
      if (problem) return `${path}: contains ${problem}, ${CANNOT_HOLD}`;
      continue;
    }
    if (value === null || typeof value !== "object") continue;
    if (depth > MAX_RECORD_DEPTH) return `${root}: nested deeper than ${MAX_RECORD_DEPTH} levels`;
    // Only what needs a look goes on the stack: objects and arrays, and strings when checking text.
    const worthALook = (item: unknown) => (item !== null && typeof item === "object") || (checkText && typeof item === "string");
    const children: { value: unknown; path: string; depth: number }[] = [];
    if (Array.isArray(value)) {
      value.forEach((item, i) => {
        if (worthALook(item)) children.push({ value: item, path: `${path}[${i}]`, depth: depth + 1 });
      });
    } else {
      for (const [key, item] of Object.entries(value)) {
        if (checkText) {
          const problem = unreadableText(key);
          if (problem) return `${memberPath(path, key)}: the key contains ${problem}, ${CANNOT_HOLD}`;
        }
        if (worthALook(item)) children.push({ value: item, path: memberPath(path, key), depth: depth + 1 });
      }
    }
    // Pushed in reverse, so fields are looked at in document order.
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
  }
  return null;
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code: number) => code >= 0xdc00 && code <= 0xdfff;

/**
 * The first \u escape PostgreSQL text cannot hold in a JSON array's text, and the index of the
 * record holding it; null when there is none. The parsed records cannot show every escape: of a
 * key written twice, JSON.parse keeps the last value, while the stored text keeps both. Called
 * only for a valid JSON array whose text has such an escape (rare), so a plain character loop.
 */
function unreadableEscape(text: string): { record: number; problem: string } | null {
  let depth = 0;
  let record = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '"') inString = false;
      else if (c === "\\") {
        if (text[i + 1] !== "u") {
          i += 1;
          continue;
        }
        const code = parseInt(text.slice(i + 2, i + 6), 16);
        if (code === 0) return { record, problem: "a NUL character (\\u0000)" };
        if (isHighSurrogate(code) && text[i + 6] === "\\" && text[i + 7] === "u" &&
          isLowSurrogate(parseInt(text.slice(i + 8, i + 12), 16))) {
          i += 11; // a surrogate pair: one character
          continue;
        }
        if (isHighSurrogate(code) || isLowSurrogate(code)) {
          return { record, problem: `a lone surrogate (\\u${code.toString(16).padStart(4, "0")})` };
        }
        i += 5;
      }
    } else if (c === '"') inString = true;
    else if (c === "[" || c === "{") depth++;
    else if (c === "]" || c === "}") depth--;
    else if (c === "," && depth === 1) record++;
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
  const checkText = UNREADABLE_ESCAPE.test(text);
  for (let i = 0; i < values.length; i++) {
    const error = envelopeError(values[i], i) ?? recordContentError(values[i] as object, i, checkText);
    if (error) return { ok: false, status: 400, error };
  }
  // A JSON body is stored as its text: an escape hidden behind a duplicate key is stored too.
  // (NDJSON records are stored re-encoded from the parsed values, which hold no such escape.)
  const hidden = checkText && format === "json" ? unreadableEscape(text) : null;
  if (hidden) {
    return {
      ok: false,
      status: 400,
      error: `records[${hidden.record}]: contains ${hidden.problem} in the value of a key written twice (the last one counts, but the text keeps both), ${CANNOT_HOLD}`,
    };
  }
  return { ok: true, records: values as Record<string, unknown>[] };
}
