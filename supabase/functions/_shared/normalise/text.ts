/**
 * Text rules of ingest format v1: every text field is Unicode NFKC, trimmed,
 * with runs of white space collapsed to one space. Matching is case-insensitive
 * on that cleaned form. Pure functions, standard web APIs only.
 */

import { ok, reject, type Result } from "./result.ts";

/** Longest text field accepted, in characters (Unicode code points) after cleaning. */
export const MAX_TEXT_LENGTH = 500;

// Invisible format characters that only get in the way of matching: soft hyphen,
// zero-width space, word joiner, byte-order mark. They are removed outright.
const INVISIBLE = /[\u00AD\u200B\u2060\uFEFF]/gu;
// Any Unicode white space (\s covers tab, newline, NBSP, U+2000..U+200A, narrow NBSP,
// U+3000 …) and any control character counts as white space.
const SPACE_RUN = /[\s\p{Cc}]+/gu;

// Text that cleaning leaves unchanged: words of printable ASCII and basic Cyrillic
// (А-я, Ё, ё) separated by single spaces, no space at either end. Every one of these
// characters is NFKC-stable on its own and next to any other (they all have
// NFKC_Quick_Check=Yes and combining class 0), none is invisible, a control or white
// space other than U+0020, and their upper and lower case forms stay inside the set.
// Most real text is like this, so the Unicode work below can be skipped for it.
const SIMPLE = /^(?:[!-~\u0410-\u044f\u0401\u0451]+(?: [!-~\u0410-\u044f\u0401\u0451]+)*)?$/;

/** NFKC, drop invisible format characters, collapse white space and controls to one space, trim. */
export function cleanText(s: string): string {
  if (SIMPLE.test(s)) return s;
  return s.normalize("NFKC").replace(INVISIBLE, "").replace(SPACE_RUN, " ").trim();
}

/**
 * The case-insensitive matching form of a text: cleaned, then case-folded
 * (upper then lower, so "ß"/"SS" and final/medial sigma also meet). " APPLE " and
 * "Apple" give one key. Idempotent: matchKey(matchKey(s)) === matchKey(s).
 */
export function matchKey(s: string): string {
  // Simple text is already clean, and upper then lower case is plain lower case in it.
  if (SIMPLE.test(s)) return s.toLowerCase();
  return cleanText(s).toUpperCase().toLowerCase().normalize("NFKC");
}

/**
 * A SKU: an identifier (see readIdentifier), upper-cased, so product identity is
 * case-insensitive ("ip13-lcd " → "IP13-LCD"); width and inner spaces are kept as sent.
 */
export function cleanSku(s: string): string {
  return s.trim().toUpperCase();
}

const SURROGATE = /[\uD800-\uDFFF]/;

/** Length in characters (code points), the way PostgreSQL counts text. */
export function textLength(s: string): number {
  // Without surrogates every UTF-16 code unit is one code point.
  if (!SURROGATE.test(s)) return s.length;
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/**
 * Read one text field of a record: `undefined`, `null` and a string that is empty
 * after cleaning all mean "absent" (value `undefined`). A non-string, or a text
 * longer than MAX_TEXT_LENGTH after cleaning, is an error.
 */
export function readText(input: unknown): Result<string | undefined> {
  if (input === undefined || input === null) return ok(undefined);
  if (typeof input !== "string") return reject("must be a string");
  const cleaned = cleanText(input);
  if (cleaned === "") return ok(undefined);
  if (textLength(cleaned) > MAX_TEXT_LENGTH) {
    return reject(`longer than ${MAX_TEXT_LENGTH} characters`);
  }
  return ok(cleaned);
}

/**
 * Read one identifier field of a record (external_id, product.sku, supplier.tax_id): compared as
 * the source sent it, so it is only trimmed (String.prototype.trim: Unicode white space and line
 * terminators at either end). No NFKC, no case folding, inner white space kept: `T21-ABC`,
 * `T21-ＡＢＣ` and `T21  ABC` are three identifiers. `undefined`, `null` and a string that is
 * empty after trimming mean "absent"; a non-string, or more than MAX_TEXT_LENGTH characters
 * after trimming, is an error.
 */
export function readIdentifier(input: unknown): Result<string | undefined> {
  if (input === undefined || input === null) return ok(undefined);
  if (typeof input !== "string") return reject("must be a string");
  const trimmed = input.trim();
  if (trimmed === "") return ok(undefined);
  if (textLength(trimmed) > MAX_TEXT_LENGTH) {
    return reject(`longer than ${MAX_TEXT_LENGTH} characters`);
  }
  return ok(trimmed);
}
