/**
 * Number rules of ingest format v1. Values are kept as exact decimal STRINGS
 * (they go to PostgreSQL numeric); arithmetic is BigInt on scaled integers, so
 * no binary floating point error ever reaches an amount.
 *
 * Accepted spellings (JSON number, or string after NFKC/white-space cleaning):
 *   1499   1499.5   1499,5   1 499,50   1 499.50   1,499.50   1.499,50   １２
 * Thousands separators may be any white space (space, NBSP, narrow NBSP, thin
 * space) in groups of three, or the other one of "." / "," when both appear.
 * "1,500" (one comma, three digits, no other separator) is ambiguous and rejected.
 */

import { ok, reject, type Result } from "./result.ts";
import { cleanText } from "./text.ts";

/** quantity is numeric(18,3). */
export const QUANTITY_SCALE = 3;
export const QUANTITY_MAX_INTEGER_DIGITS = 15;
/** unit_price is numeric(18,2). */
export const UNIT_PRICE_SCALE = 2;
export const UNIT_PRICE_MAX_INTEGER_DIGITS = 16;
/** amount is numeric(20,2) (public.operations.amount). */
export const AMOUNT_MAX_INTEGER_DIGITS = 18;

/** A parsed decimal: digits without leading zeros ("0" at least) / trailing fraction zeros. */
type Decimal = { negative: boolean; int: string; frac: string };
type Parsed = { kind: "number"; value: Decimal } | { kind: "ambiguous"; text: string } | {
  kind: "invalid";
};

const PLAIN = /^(\d+)(?:[.,](\d+))?$/;
const SPACE_GROUPED = /^(\d{1,3}(?: \d{3})+)(?:[.,](\d+))?$/;
const COMMA_GROUPED = /^(\d{1,3}(?:,\d{3})+)\.(\d+)$/;
const DOT_GROUPED = /^(\d{1,3}(?:\.\d{3})+),(\d+)$/;
const AMBIGUOUS = /^[1-9]\d{0,2},\d{3}$/;
const NUMBER_PATTERNS = [PLAIN, SPACE_GROUPED, COMMA_GROUPED, DOT_GROUPED];

function makeDecimal(negative: boolean, intDigits: string, fracDigits: string): Decimal {
  const int = intDigits.replace(/^0+(?=\d)/, "");
  const frac = fracDigits.replace(/0+$/, "");
  return { negative, int, frac };
}

/** Expand a JavaScript number's shortest round-trip text ("1e-7", "1.5e+21") to plain digits. */
function numberToPlain(n: number): string {
  const s = String(n);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const digits = m[2] + (m[3] ?? "");
  const point = 1 + Number(m[4]);
  let body: string;
  if (point <= 0) body = "0." + "0".repeat(-point) + digits;
  else if (point >= digits.length) body = digits + "0".repeat(point - digits.length);
  else body = digits.slice(0, point) + "." + digits.slice(point);
  return m[1] + body;
}

function parseText(raw: string): Parsed {
  const text = cleanText(raw).replace(/\u2212/g, "-");
  const signMatch = /^([+-]?)(.*)$/s.exec(text);
  const negative = signMatch?.[1] === "-";
  const body = signMatch?.[2] ?? "";
  if (AMBIGUOUS.test(body)) return { kind: "ambiguous", text };
  for (const pattern of NUMBER_PATTERNS) {
    const m = pattern.exec(body);
    if (m) {
      const intDigits = m[1].replace(/[ ,.]/g, "");
      return { kind: "number", value: makeDecimal(negative, intDigits, m[2] ?? "") };
    }
  }
  return { kind: "invalid" };
}

function parseInput(input: unknown): Parsed | "missing" {
  if (input === undefined || input === null) return "missing";
  if (typeof input === "number") {
    if (!Number.isFinite(input)) return { kind: "invalid" };
    const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(numberToPlain(input));
    if (!m) return { kind: "invalid" };
    return { kind: "number", value: makeDecimal(m[1] === "-", m[2], m[3] ?? "") };
  }
  if (typeof input === "string") {
    if (cleanText(input) === "") return "missing";
    return parseText(input);
  }
  return { kind: "invalid" };
}

function isZero(d: Decimal): boolean {
  return d.int === "0" && d.frac === "";
}

function ambiguityMessage(text: string): string {
  const [before, after] = text.replace(/^[+-]/, "").split(",");
  const sign = text.startsWith("-") ? "-" : "";
  const asDecimal = `${before}.${after}`.replace(/0+$/, "").replace(/\.$/, "");
  return `"${text}" is ambiguous: write ${sign}${before}${after} or ${sign}${asDecimal}`;
}

/**
 * quantity: required, > 0, a number or numeric string, at most 3 decimal places,
 * at most 15 digits before the point. Returns the shortest exact decimal string
 * ("2", "1.5", "0.125").
 */
export function parseQuantity(input: unknown): Result<string> {
  const parsed = parseInput(input);
  if (parsed === "missing") return reject("is required");
  if (parsed.kind === "ambiguous") return reject(ambiguityMessage(parsed.text));
  if (parsed.kind === "invalid") return reject("must be a number such as 2 or 1.5");
  const d = parsed.value;
  if (d.negative || isZero(d)) return reject("must be greater than 0");
  if (d.frac.length > QUANTITY_SCALE) {
    return reject(`must have at most ${QUANTITY_SCALE} decimal places`);
  }
  if (d.int.length > QUANTITY_MAX_INTEGER_DIGITS) {
    return reject(`is too large (at most ${QUANTITY_MAX_INTEGER_DIGITS} digits before the point)`);
  }
  return ok(d.frac === "" ? d.int : `${d.int}.${d.frac}`);
}

/**
 * unit_price: required, >= 0, a number or a string such as "1499.5", "1 499,50",
 * "1499,50", at most 2 decimal places, at most 16 digits before the point.
 * Returns an exact decimal string with exactly 2 decimals ("1499.50").
 */
export function parseUnitPrice(input: unknown): Result<string> {
  const parsed = parseInput(input);
  if (parsed === "missing") return reject("is required");
  if (parsed.kind === "ambiguous") return reject(ambiguityMessage(parsed.text));
  if (parsed.kind === "invalid") return reject("must be a number such as 1499.50");
  const d = parsed.value;
  if (d.negative && !isZero(d)) return reject("must be 0 or greater");
  if (d.frac.length > UNIT_PRICE_SCALE) {
    return reject(`must have at most ${UNIT_PRICE_SCALE} decimal places`);
  }
  if (d.int.length > UNIT_PRICE_MAX_INTEGER_DIGITS) {
    return reject(
      `is too large (at most ${UNIT_PRICE_MAX_INTEGER_DIGITS} digits before the point)`,
    );
  }
  return ok(`${d.int}.${d.frac.padEnd(UNIT_PRICE_SCALE, "0")}`);
}

const CANONICAL = /^(-?)(\d+)(?:\.(\d+))?$/;

function toScaled(decimal: string): { units: bigint; scale: number } {
  const m = CANONICAL.exec(decimal);
  if (!m) throw new TypeError(`not a plain decimal string: ${JSON.stringify(decimal)}`);
  const frac = m[3] ?? "";
  const units = BigInt(m[2] + frac);
  return { units: m[1] === "-" ? -units : units, scale: frac.length };
}

/**
 * amount = round(quantity * unit_price, 2), exact, rounding half away from zero.
 * Takes plain decimal strings ("2", "1499.50", "-1.5"); returns exactly 2 decimals
 * ("2999.00"). Throws TypeError on anything that is not a plain decimal string.
 */
export function computeAmount(quantity: string, unitPrice: string): string {
  const q = toScaled(quantity);
  const p = toScaled(unitPrice);
  let units = q.units * p.units;
  const scale = q.scale + p.scale;
  const negative = units < 0n;
  if (negative) units = -units;
  if (scale <= 2) {
    units *= 10n ** BigInt(2 - scale);
  } else {
    const divisor = 10n ** BigInt(scale - 2);
    const remainder = units % divisor;
    units /= divisor;
    if (remainder * 2n >= divisor) units += 1n;
  }
  const digits = units.toString().padStart(3, "0");
  const sign = negative && units !== 0n ? "-" : "";
  return `${sign}${digits.slice(0, -2)}.${digits.slice(-2)}`;
}

/** Whether a plain decimal string has at most `maxIntegerDigits` digits before the point. */
export function fitsIntegerDigits(decimal: string, maxIntegerDigits: number): boolean {
  const m = CANONICAL.exec(decimal);
  if (!m) return false;
  return m[2].replace(/^0+(?=\d)/, "").length <= maxIntegerDigits;
}
