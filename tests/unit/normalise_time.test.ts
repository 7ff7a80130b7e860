import assert from "node:assert/strict";
import {
  isValidTimeZone,
  parseOccurredAt,
  parseTimestampSyntax,
  timeZoneOffsetMs,
} from "../../supabase/functions/_shared/normalise/time.ts";

const value = (v: string) => ({ ok: true, value: v });
const invalid = { ok: false, error: "not a valid ISO 8601 timestamp" };
const HOUR = 3_600_000;

Deno.test("a timestamp with an offset is that instant, returned in UTC with milliseconds", () => {
  assert.deepEqual(
    parseOccurredAt("2026-11-20T14:03:00+03:00", "Europe/Moscow"),
    value("2026-11-20T11:03:00.000Z"),
  );
});

Deno.test("a timestamp with Z is UTC", () => {
  assert.deepEqual(
    parseOccurredAt("2026-11-20T14:03:00Z", "Europe/Moscow"),
    value("2026-11-20T14:03:00.000Z"),
  );
  assert.deepEqual(
    parseOccurredAt("2026-11-20t14:03:00z", "Europe/Moscow"),
    value("2026-11-20T14:03:00.000Z"),
  );
});

Deno.test("offsets may be written +hh:mm, +hhmm or +hh, and negative", () => {
  assert.deepEqual(
    parseOccurredAt("2026-11-20T14:03+0300", "UTC"),
    value("2026-11-20T11:03:00.000Z"),
  );
  assert.deepEqual(
    parseOccurredAt("2026-11-20T14:03+03", "UTC"),
    value("2026-11-20T11:03:00.000Z"),
  );
  assert.deepEqual(
    parseOccurredAt("2026-11-20T14:03:00-05:00", "UTC"),
    value("2026-11-20T19:03:00.000Z"),
  );
  assert.deepEqual(
    parseOccurredAt("2026-11-20T14:03:00+05:45", "UTC"),
    value("2026-11-20T08:18:00.000Z"),
  );
});

Deno.test("an offset that moves the instant across midnight and a year end is handled", () => {
  assert.deepEqual(
    parseOccurredAt("2027-01-01T01:00:00+05:00", "UTC"),
    value("2026-12-31T20:00:00.000Z"),
  );
});

Deno.test("an explicit offset wins over the shop's time zone, even an unknown one", () => {
  assert.deepEqual(
    parseOccurredAt("2026-11-20T14:03:00+03:00", "Asia/Yekaterinburg"),
    value("2026-11-20T11:03:00.000Z"),
  );
  assert.deepEqual(
    parseOccurredAt("2026-11-20T14:03:00Z", "Not/AZone"),
    value("2026-11-20T14:03:00.000Z"),
  );
});

Deno.test("fractions of a second are kept to the millisecond and truncated beyond", () => {
  assert.deepEqual(
    parseOccurredAt("2026-11-20T14:03:00.5Z", "UTC"),
    value("2026-11-20T14:03:00.500Z"),
  );
  assert.deepEqual(
    parseOccurredAt("2026-11-20T14:03:00.123456789Z", "UTC"),
    value("2026-11-20T14:03:00.123Z"),
  );
  assert.deepEqual(
    parseOccurredAt("2026-11-20T14:03:00,999999Z", "UTC"),
    value("2026-11-20T14:03:00.999Z"),
  );
});

Deno.test("a timestamp without an offset is read in the shop's time zone", () => {
  assert.deepEqual(
    parseOccurredAt("2026-11-20T14:03:00", "Europe/Moscow"),
    value("2026-11-20T11:03:00.000Z"),
  );
  assert.deepEqual(
    parseOccurredAt("2026-11-20T14:03:00", "Asia/Yekaterinburg"),
    value("2026-11-20T09:03:00.000Z"),
  );
});

Deno.test("a timestamp with a space instead of 'T' and no seconds is accepted", () => {
  assert.deepEqual(
    parseOccurredAt("2026-11-20 14:03", "Asia/Yekaterinburg"),
    value("2026-11-20T09:03:00.000Z"),
  );
});

Deno.test("a timestamp is cleaned first: surrounding spaces and full-width digits are fine", () => {
  assert.deepEqual(
    parseOccurredAt("  ２０２６-１１-２０T１４:０３ ", "Europe/Moscow"),
    value("2026-11-20T11:03:00.000Z"),
  );
});

Deno.test("a local time in a zone without DST uses its one offset all year", () => {
  assert.deepEqual(
    parseOccurredAt("2026-01-15T12:00", "Europe/Moscow"),
    value("2026-01-15T09:00:00.000Z"),
  );
  assert.deepEqual(
    parseOccurredAt("2026-07-15T12:00", "Europe/Moscow"),
    value("2026-07-15T09:00:00.000Z"),
  );
});

Deno.test("a local time in Europe/Berlin uses +01:00 in winter and +02:00 in summer", () => {
  assert.deepEqual(
    parseOccurredAt("2026-01-15T12:00", "Europe/Berlin"),
    value("2026-01-15T11:00:00.000Z"),
  );
  assert.deepEqual(
    parseOccurredAt("2026-07-15T12:00", "Europe/Berlin"),
    value("2026-07-15T10:00:00.000Z"),
  );
});

Deno.test("local times just before and after Berlin's spring-forward change are exact", () => {
  assert.deepEqual(
    parseOccurredAt("2026-03-29T01:59:59", "Europe/Berlin"),
    value("2026-03-29T00:59:59.000Z"),
  );
  assert.deepEqual(
    parseOccurredAt("2026-03-29T03:00:00", "Europe/Berlin"),
    value("2026-03-29T01:00:00.000Z"),
  );
});

Deno.test("a local time in the spring-forward gap is read with the offset from before the change, as PostgreSQL does", () => {
  // 02:30 does not exist in Berlin on 2026-03-29: read as +01:00, i.e. 03:30 CEST.
  assert.deepEqual(
    parseOccurredAt("2026-03-29T02:30", "Europe/Berlin"),
    value("2026-03-29T01:30:00.000Z"),
  );
  // PostgreSQL's documented example: '2018-03-11 02:30' in America/New_York is 03:30 EDT.
  assert.deepEqual(
    parseOccurredAt("2018-03-11 02:30", "America/New_York"),
    value("2018-03-11T07:30:00.000Z"),
  );
});

Deno.test("a local time in the fall-back overlap is the later instant, as PostgreSQL does", () => {
  // 02:30 happens twice in Berlin on 2026-10-25 (00:30Z CEST, 01:30Z CET).
  assert.deepEqual(
    parseOccurredAt("2026-10-25T02:30", "Europe/Berlin"),
    value("2026-10-25T01:30:00.000Z"),
  );
  // PostgreSQL's documented example: '2018-11-04 01:30' in America/New_York is 01:30 EST.
  assert.deepEqual(
    parseOccurredAt("2018-11-04 01:30", "America/New_York"),
    value("2018-11-04T06:30:00.000Z"),
  );
});

Deno.test("local times just around Berlin's fall-back overlap are exact", () => {
  assert.deepEqual(
    parseOccurredAt("2026-10-25T01:59", "Europe/Berlin"),
    value("2026-10-24T23:59:00.000Z"),
  );
  assert.deepEqual(
    parseOccurredAt("2026-10-25T03:00", "Europe/Berlin"),
    value("2026-10-25T02:00:00.000Z"),
  );
});

Deno.test("southern-hemisphere DST and half-hour zones are read correctly", () => {
  assert.deepEqual(
    parseOccurredAt("2026-01-15T12:00", "Australia/Sydney"),
    value("2026-01-15T01:00:00.000Z"),
  );
  assert.deepEqual(
    parseOccurredAt("2026-07-15T12:00", "Australia/Sydney"),
    value("2026-07-15T02:00:00.000Z"),
  );
  assert.deepEqual(
    parseOccurredAt("2026-07-15T12:00", "Asia/Kolkata"),
    value("2026-07-15T06:30:00.000Z"),
  );
  assert.deepEqual(
    parseOccurredAt("2026-07-15T12:00", "Asia/Kathmandu"),
    value("2026-07-15T06:15:00.000Z"),
  );
});

Deno.test("a local time in UTC is that time", () => {
  assert.deepEqual(parseOccurredAt("2026-11-20T14:03", "UTC"), value("2026-11-20T14:03:00.000Z"));
});

Deno.test("a local time across a zone's historical offset change uses the offset of that date", () => {
  // Moscow was +04:00 from 2011-03-27 to 2014-10-26, +03:00 since.
  assert.deepEqual(
    parseOccurredAt("2013-06-01T12:00", "Europe/Moscow"),
    value("2013-06-01T08:00:00.000Z"),
  );
  assert.deepEqual(
    parseOccurredAt("2015-06-01T12:00", "Europe/Moscow"),
    value("2015-06-01T09:00:00.000Z"),
  );
});

Deno.test("a local time in an unknown time zone is rejected", () => {
  assert.deepEqual(parseOccurredAt("2026-11-20T14:03", "Mars/Olympus"), {
    ok: false,
    error: 'unknown time zone "Mars/Olympus"',
  });
});

Deno.test("an impossible calendar date such as 2026-02-30 is rejected", () => {
  for (
    const s of [
      "2026-02-30T12:00",
      "2025-02-29T12:00",
      "2026-04-31T12:00",
      "2026-13-01T12:00",
      "2026-00-10T12:00",
      "2026-01-00T12:00",
    ]
  ) {
    assert.deepEqual(parseOccurredAt(s, "UTC"), invalid, s);
  }
});

Deno.test("29 February of a leap year is accepted", () => {
  assert.deepEqual(parseOccurredAt("2028-02-29T12:00Z", "UTC"), value("2028-02-29T12:00:00.000Z"));
  assert.deepEqual(parseOccurredAt("2000-02-29T12:00Z", "UTC"), value("2000-02-29T12:00:00.000Z"));
  assert.deepEqual(parseOccurredAt("1900-02-29T12:00Z", "UTC"), invalid);
});

Deno.test("an impossible time of day is rejected", () => {
  for (
    const s of ["2026-11-20T24:00", "2026-11-20T25:00", "2026-11-20T14:60", "2026-11-20T14:03:60"]
  ) {
    assert.deepEqual(parseOccurredAt(s, "UTC"), invalid, s);
  }
});

Deno.test("an offset beyond ±18:00 or with minutes over 59 is rejected", () => {
  assert.deepEqual(parseOccurredAt("2026-11-20T14:03+19:00", "UTC"), invalid);
  assert.deepEqual(parseOccurredAt("2026-11-20T14:03+03:60", "UTC"), invalid);
  assert.deepEqual(parseOccurredAt("2026-11-20T14:03+18:00", "UTC").ok, true);
});

Deno.test("a date without a time, or text that is not ISO 8601, is rejected", () => {
  for (
    const s of [
      "2026-11-20",
      "20261120T140300Z",
      "20.11.2026 14:03",
      "2026/11/20 14:03",
      "2026-11-20T14",
      "2026-11-20T14:03:00 +03:00",
      "Fri, 20 Nov 2026 14:03:00 GMT",
      "yesterday",
      "2026-11-20T14:03:00.1234567890Z",
    ]
  ) {
    assert.deepEqual(parseOccurredAt(s, "UTC"), invalid, s);
  }
});

Deno.test("a timestamp that is not a string is rejected", () => {
  for (const v of [1763647380000, true, {}, [], new Date("2026-11-20T14:03:00Z")]) {
    assert.deepEqual(parseOccurredAt(v, "UTC"), invalid);
  }
});

Deno.test("a missing or blank timestamp is required", () => {
  for (const v of [undefined, null, "", "   "]) {
    assert.deepEqual(parseOccurredAt(v, "UTC"), { ok: false, error: "is required" });
  }
});

Deno.test("a year before 1000 is rejected", () => {
  assert.deepEqual(parseOccurredAt("0999-12-31T12:00Z", "UTC"), {
    ok: false,
    error: "year must be between 1000 and 9999",
  });
});

Deno.test("syntax parsing tells an instant from a wall-clock time without a zone lookup", () => {
  assert.deepEqual(parseTimestampSyntax("2026-11-20T14:03:00Z"), {
    ok: true,
    value: { kind: "instant", epochMs: Date.UTC(2026, 10, 20, 14, 3) },
  });
  assert.deepEqual(parseTimestampSyntax("2026-11-20 14:03:05.25"), {
    ok: true,
    value: {
      kind: "local",
      local: { year: 2026, month: 11, day: 20, hour: 14, minute: 3, second: 5, millisecond: 250 },
    },
  });
});

Deno.test("the offset computation gives Berlin +1 h in winter and +2 h in summer", () => {
  assert.equal(timeZoneOffsetMs("Europe/Berlin", Date.UTC(2026, 0, 15, 12)), HOUR);
  assert.equal(timeZoneOffsetMs("Europe/Berlin", Date.UTC(2026, 6, 15, 12)), 2 * HOUR);
  assert.equal(timeZoneOffsetMs("Europe/Moscow", Date.UTC(2026, 6, 15, 12)), 3 * HOUR);
  assert.equal(timeZoneOffsetMs("America/New_York", Date.UTC(2026, 0, 15, 12)), -5 * HOUR);
});

Deno.test("known and unknown time zone names are told apart", () => {
  assert.equal(isValidTimeZone("Asia/Yekaterinburg"), true);
  assert.equal(isValidTimeZone("UTC"), true);
  assert.equal(isValidTimeZone("Europe/Atlantis"), false);
  assert.equal(isValidTimeZone(""), false);
});
