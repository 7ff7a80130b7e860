/**
 * Time rules of ingest format v1: `occurred_at` is ISO 8601. With `Z` or an
 * offset it is that instant; without one it is a wall-clock time read in the
 * shop's IANA time zone. Offsets come from Intl.DateTimeFormat (no libraries),
 * so this runs unchanged on Deno and Supabase's edge runtime.
 *
 * Wall-clock times that a DST change makes ambiguous or nonexistent are resolved
 * the way PostgreSQL resolves them ('...'::timestamptz, Appendix B.2):
 *  - in a spring-forward gap the offset in force just BEFORE the change applies
 *    (Europe/Berlin 2026-03-29 02:30 → 01:30Z, i.e. 03:30 CEST);
 *  - in a fall-back overlap the offset in force just AFTER the change applies,
 *    i.e. the later of the two instants (Europe/Berlin 2026-10-25 02:30 → 01:30Z).
 */

import { ok, reject, type Result } from "./result.ts";
import { cleanText } from "./text.ts";

/** Wall-clock fields as written (month 1..12). */
export type LocalDateTime = {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  millisecond: number;
};

/** A syntactically valid timestamp: an exact instant, or a wall-clock time still needing a zone. */
export type ParsedTimestamp =
  | { kind: "instant"; epochMs: number }
  | { kind: "local"; local: LocalDateTime };

export const INVALID_TIMESTAMP = "not a valid ISO 8601 timestamp";

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const MAX_OFFSET_MS = 18 * HOUR_MS;

// YYYY-MM-DD, "T" or one space, hh:mm[:ss[.fraction]], then Z, ±hh:mm, ±hhmm, ±hh or nothing.
const ISO =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/;

function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(y: number, m: number): number {
  return m === 2 && isLeapYear(y) ? 29 : MONTH_DAYS[m - 1];
}

/** Milliseconds since the epoch of a wall-clock time read as UTC (years 0..99 included). */
function wallAsUtc(t: LocalDateTime): number {
  // Date.UTC reads years 0..99 as 1900..1999, so it serves only from year 100 on; up to
  // year 9999 both ways give the same value (no intermediate time value out of range).
  if (t.year >= 100 && t.year <= 9999) {
    return Date.UTC(t.year, t.month - 1, t.day, t.hour, t.minute, t.second, t.millisecond);
  }
  const d = new Date(0);
  d.setUTCFullYear(t.year, t.month - 1, t.day);
  d.setUTCHours(t.hour, t.minute, t.second, t.millisecond);
  return d.getTime();
}

/**
 * Syntax and calendar check of an ISO 8601 timestamp string: no time-zone lookup.
 * Accepts `2026-11-20T14:03:00+03:00`, `...Z`, `...+0300`, `...+03`, `2026-11-20 14:03`,
 * fractions of a second up to 9 digits (truncated to milliseconds). Rejects
 * non-strings, date-only values, impossible dates (`2026-02-30`), hour 24, second 60,
 * offsets beyond ±18:00 and years outside 1000..9999.
 */
export function parseTimestampSyntax(input: unknown): Result<ParsedTimestamp> {
  if (input === undefined || input === null) return reject("is required");
  if (typeof input !== "string") return reject(INVALID_TIMESTAMP);
  const text = cleanText(input);
  if (text === "") return reject("is required");
  const m = ISO.exec(text);
  if (!m) return reject(INVALID_TIMESTAMP);
  const local: LocalDateTime = {
    year: Number(m[1]),
    month: Number(m[2]),
    day: Number(m[3]),
    hour: Number(m[4]),
    minute: Number(m[5]),
    second: m[6] === undefined ? 0 : Number(m[6]),
    millisecond: m[7] === undefined ? 0 : Number(m[7].padEnd(3, "0").slice(0, 3)),
  };
  if (
    local.month < 1 || local.month > 12 || local.day < 1 ||
    local.day > daysInMonth(local.year, local.month) || local.hour > 23 ||
    local.minute > 59 || local.second > 59
  ) {
    return reject(INVALID_TIMESTAMP);
  }
  if (local.year < 1000) return reject("year must be between 1000 and 9999");
  if (m[8] !== undefined) return ok({ kind: "instant", epochMs: wallAsUtc(local) });
  if (m[9] !== undefined) {
    const offsetHours = Number(m[10]);
    const offsetMinutes = m[11] === undefined ? 0 : Number(m[11]);
    const offsetMs = offsetHours * HOUR_MS + offsetMinutes * MINUTE_MS;
    if (offsetMinutes > 59 || offsetMs > MAX_OFFSET_MS) return reject(INVALID_TIMESTAMP);
    const sign = m[9] === "-" ? -1 : 1;
    return ok({ kind: "instant", epochMs: wallAsUtc(local) - sign * offsetMs });
  }
  return ok({ kind: "local", local });
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat | undefined {
  let f = formatters.get(timeZone);
  if (f) return f;
  try {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
  } catch {
    return undefined;
  }
  formatters.set(timeZone, f);
  return f;
}

/** Whether `timeZone` is an IANA time zone name (or other zone) this runtime knows. */
export function isValidTimeZone(timeZone: string): boolean {
  return formatterFor(timeZone) !== undefined;
}

// What formatterFor's formatters print: "11/20/2026, 14:03:00" (month/day/year, hour:minute:second).
const FORMATTED = /^(\d{2})\/(\d{2})\/(\d+), (\d{2}):(\d{2}):(\d{2})$/;

// Offsets by hour, per zone: reading one from Intl costs microseconds, and a wall-clock time needs
// four or five of them. An hour whose first and last whole seconds have the same offset has that
// offset throughout: no zone's rules change twice within an hour (the unit tests check this at
// every DST change of several awkward zones). Hours that contain a change are not remembered.
const MAX_REMEMBERED_HOURS = 100_000;
const offsetsByHour = new Map<string, Map<number, number>>();

/** UTC offset of `timeZone` at the instant `epochMs`, in milliseconds (east positive). */
export function timeZoneOffsetMs(timeZone: string, epochMs: number): number {
  let hours = offsetsByHour.get(timeZone);
  if (hours === undefined) {
    hours = new Map();
    offsetsByHour.set(timeZone, hours);
  }
  const hour = Math.floor(epochMs / HOUR_MS);
  const remembered = hours.get(hour);
  if (remembered !== undefined) return remembered;
  const start = hour * HOUR_MS;
  const first = readTimeZoneOffsetMs(timeZone, start);
  if (first !== readTimeZoneOffsetMs(timeZone, start + HOUR_MS - 1000)) {
    return readTimeZoneOffsetMs(timeZone, epochMs); // this hour has a change: no shortcut
  }
  if (hours.size >= MAX_REMEMBERED_HOURS) hours.clear();
  hours.set(hour, first);
  return first;
}

/** UTC offset of `timeZone` at the instant `epochMs`, read from Intl (uncached). */
export function readTimeZoneOffsetMs(timeZone: string, epochMs: number): number {
  const f = formatterFor(timeZone);
  if (!f) throw new RangeError(`unknown time zone ${JSON.stringify(timeZone)}`);
  const wholeSecond = Math.floor(epochMs / 1000) * 1000;
  // format() is the concatenation of formatToParts() and much cheaper; when its text has
  // the usual layout the numbers are read from it, else from the parts as always.
  const m = FORMATTED.exec(f.format(new Date(wholeSecond)));
  if (m) {
    const hour = Number(m[4]);
    const wallTime = wallAsUtc({
      year: Number(m[3]),
      month: Number(m[1]),
      day: Number(m[2]),
      hour: hour === 24 ? 0 : hour,
      minute: Number(m[5]),
      second: Number(m[6]),
      millisecond: 0,
    });
    return wallTime - wholeSecond;
  }
  const fields: Record<string, number> = {};
  for (const part of f.formatToParts(new Date(wholeSecond))) {
    if (part.type !== "literal") fields[part.type] = Number(part.value);
  }
  const wall = wallAsUtc({
    year: fields.year,
    month: fields.month,
    day: fields.day,
    hour: fields.hour === 24 ? 0 : fields.hour,
    minute: fields.minute,
    second: fields.second,
    millisecond: 0,
  });
  return wall - wholeSecond;
}

/**
 * The instant (epoch ms) of a wall-clock time in `timeZone`. Candidate offsets are
 * those in force a day before, a day after, at the wall time read as UTC and one
 * iteration on from it; a candidate is valid when the instant it gives really has
 * that offset. Two valid ones (fall-back overlap): the later instant. None
 * (spring-forward gap): the offset from before the change.
 */
export function localToEpochMs(local: LocalDateTime, timeZone: string): number {
  const wall = wallAsUtc(local);
  // timeZoneOffsetMs remembers offsets by hour, so asking again for an instant costs a lookup.
  const offsetAt = (epochMs: number): number => timeZoneOffsetMs(timeZone, epochMs);
  const before = offsetAt(wall - DAY_MS);
  const after = offsetAt(wall + DAY_MS);
  const first = offsetAt(wall);
  const second = offsetAt(wall - first);
  let best: number | undefined;
  for (const offset of new Set([before, after, first, second])) {
    const instant = wall - offset;
    if (offsetAt(instant) === offset && (best === undefined || instant > best)) {
      best = instant;
    }
  }
  return best ?? wall - before;
}

/**
 * Resolve a syntactically valid timestamp to a UTC ISO string with milliseconds
 * ("2026-11-20T11:03:00.000Z"); a wall-clock time is read in `timeZone`.
 * Error "unknown time zone ..." if a zone is needed and the runtime does not know it.
 */
export function resolveTimestamp(parsed: ParsedTimestamp, timeZone: string): Result<string> {
  if (parsed.kind === "instant") return ok(new Date(parsed.epochMs).toISOString());
  if (!isValidTimeZone(timeZone)) return reject(`unknown time zone ${JSON.stringify(timeZone)}`);
  return ok(new Date(localToEpochMs(parsed.local, timeZone)).toISOString());
}

/**
 * How far from now an `occurred_at` may lie: not before `floorMs` (epoch ms) and at most
 * `maxAheadMs` after the moment the record is processed. A sale dated far ahead would otherwise
 * own its product's attributes (they follow the latest `occurred_at`) for ever.
 */
export type OccurredAtWindow = { floorMs: number; maxAheadMs: number };

/** 2000-01-01T00:00:00Z and 1 day ahead: the worker's defaults (SALES_OCCURRED_AT_*). */
export const DEFAULT_OCCURRED_AT_WINDOW: OccurredAtWindow = {
  floorMs: Date.UTC(2000, 0, 1),
  maxAheadMs: DAY_MS,
};

/** The window as absolute instants at `nowMs`: computed once per batch. */
export type OccurredAtBounds = { earliestMs: number; latestMs: number; nowMs: number; maxAheadMs: number };

export function occurredAtBounds(window: OccurredAtWindow, nowMs: number): OccurredAtBounds {
  return { earliestMs: window.floorMs, latestMs: nowMs + window.maxAheadMs, nowMs, maxAheadMs: window.maxAheadMs };
}

function hoursText(ms: number): string {
  const hours = Math.round((ms / HOUR_MS) * 1000) / 1000;
  return `${hours} ${hours === 1 ? "hour" : "hours"}`;
}

/** An instant (UTC ISO string) inside the bounds, or a message saying which bound it breaks. */
export function checkOccurredAtBounds(iso: string, bounds: OccurredAtBounds): Result<string> {
  const epochMs = Date.parse(iso);
  if (epochMs > bounds.latestMs) {
    return reject(
      `${iso} is more than ${hoursText(bounds.maxAheadMs)} ahead of now (${new Date(bounds.nowMs).toISOString()})`,
    );
  }
  if (epochMs < bounds.earliestMs) {
    return reject(`${iso} is before ${new Date(bounds.earliestMs).toISOString()}, the earliest date accepted`);
  }
  return ok(iso);
}

/** parseTimestampSyntax then resolveTimestamp: `occurred_at` → UTC ISO string. */
export function parseOccurredAt(input: unknown, timeZone: string): Result<string> {
  const parsed = parseTimestampSyntax(input);
  if (!parsed.ok) return parsed;
  return resolveTimestamp(parsed.value, timeZone);
}
