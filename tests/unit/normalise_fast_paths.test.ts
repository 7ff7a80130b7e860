import assert from "node:assert/strict";
import {
  cleanSku,
  cleanText,
  matchKey,
  textLength,
} from "../../supabase/functions/_shared/normalise/text.ts";
import {
  localToEpochMs,
  readTimeZoneOffsetMs,
  timeZoneOffsetMs,
} from "../../supabase/functions/_shared/normalise/time.ts";
import { normaliseSale, type ShopLookup } from "../../supabase/functions/_shared/normalise/sale.ts";
import { prng } from "../../lib/sales_sample.ts";

// The normalisers skip work for common input (plain ASCII/Cyrillic text, formatted offsets,
// records that break no rule). These tests hold the shortcuts to the plain definitions.

const referenceClean = (s: string) =>
  s.normalize("NFKC").replace(/[\u00AD\u200B\u2060\uFEFF]/gu, "").replace(/[\s\p{Cc}]+/gu, " ")
    .trim();

const PIECES = [
  "a",
  "Z",
  "7",
  "-",
  "~",
  " ",
  "  ",
  "Ж",
  "ж",
  "й",
  "Ё",
  "ё",
  "и",
  "е",
  "\u0306",
  "\u0308",
  "\u0301",
  "Ѐ",
  "\u0483",
  "\u00A0",
  "\t",
  "\u00AD",
  "\u200B",
  "\uFEFF",
  "ß",
  "ﬁ",
  "Ａ",
  "ǅ",
  "ς",
  "İ",
  "😀",
  "\uD800",
  "\u0000",
  "\u007F",
  "ﾊ",
  "ﾞ",
  "Å",
  "\u1100",
  "\u1161",
];

Deno.test("text shortcuts give exactly the NFKC / white-space / case definitions", () => {
  const random = prng(7);
  for (let i = 0; i < 20_000; i++) {
    let s = "";
    const length = Math.floor(random() * 8);
    for (let j = 0; j < length; j++) s += PIECES[Math.floor(random() * PIECES.length)];
    const clean = referenceClean(s);
    assert.equal(cleanText(s), clean, JSON.stringify(s));
    assert.equal(
      matchKey(s),
      clean.toUpperCase().toLowerCase().normalize("NFKC"),
      JSON.stringify(s),
    );
    assert.equal(textLength(s), [...s].length, JSON.stringify(s));
  }
});

Deno.test("every ASCII and basic Cyrillic text is left as it is by cleaning", () => {
  for (const s of ["Дисплей iPhone 13", "ООО Поставщик 7", "ЁЛКА ёлка", "a-b_c!~", "x"]) {
    assert.equal(cleanText(s), s);
    assert.equal(matchKey(s), s.toLowerCase());
    assert.equal(cleanSku(s), s.toUpperCase());
  }
});

Deno.test("time zone offsets equal those read from formatToParts", () => {
  const random = prng(11);
  for (const timeZone of ["Europe/Moscow", "Europe/Berlin", "America/St_Johns", "Asia/Kolkata"]) {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    for (let i = 0; i < 200; i++) {
      const epochMs = Math.floor(Date.UTC(1900, 0, 1) + random() * 160 * 365.25 * 86_400_000);
      const whole = Math.floor(epochMs / 1000) * 1000;
      const f: Record<string, number> = {};
      for (const p of parts.formatToParts(new Date(whole))) {
        if (p.type !== "literal") f[p.type] = Number(p.value);
      }
      const wall = Date.UTC(f.year, f.month - 1, f.day, f.hour % 24, f.minute, f.second);
      assert.equal(timeZoneOffsetMs(timeZone, epochMs), wall - whole, `${timeZone} ${epochMs}`);
    }
  }
});

Deno.test("wall-clock times around a DST change still resolve as PostgreSQL does", () => {
  const at = (hour: number, minute: number, day: number, month: number) =>
    new Date(localToEpochMs(
      { year: 2026, month, day, hour, minute, second: 0, millisecond: 0 },
      "Europe/Berlin",
    )).toISOString();
  assert.equal(at(2, 30, 29, 3), "2026-03-29T01:30:00.000Z");
  assert.equal(at(2, 30, 25, 10), "2026-10-25T01:30:00.000Z");
  assert.equal(at(1, 59, 29, 3), "2026-03-29T00:59:00.000Z");
  assert.equal(at(3, 0, 25, 10), "2026-10-25T02:00:00.000Z");
});

Deno.test("a record that passes the shape check but breaks a rule gets the full report", () => {
  const shops: ShopLookup = (code) =>
    code === "moba" ? { code, timezone: "Europe/Moscow", active: true } : undefined;
  const record = {
    source: "moba",
    external_id: " ",
    occurred_at: "2026-11-20T14:03:00",
    quantity: "1,500",
    unit_price: "12,5",
    product: { sku: "a", name: "b", manufacturer: "c" },
    supplier: { name: "", tax_id: "7701" },
    location: { name: "d", city: "e" },
  };
  const result = normaliseSale(record, shops);
  assert.deepEqual(result, {
    ok: false,
    error: 'external_id: is required; quantity: "1,500" is ambiguous: write 1500 or 1.5; ' +
      "supplier.name: is required",
  });
});

Deno.test("remembered hourly offsets equal the direct read around every DST change of awkward zones", () => {
  // Casablanca suspends DST for Ramadan (two changes a month apart), Lord Howe shifts by 30 minutes,
  // Dublin's winter time is its "negative DST", Troll jumps by two hours, Chatham and St John's
  // have odd offsets, Moscow changed its rules in 2011 and 2014.
  const zones = [
    "Africa/Casablanca", "Australia/Lord_Howe", "Europe/Dublin", "Antarctica/Troll",
    "Pacific/Chatham", "America/St_Johns", "Europe/Moscow", "America/New_York",
  ];
  const step = 3 * 3_600_000;
  let changes = 0;
  for (const timeZone of zones) {
    let previous = readTimeZoneOffsetMs(timeZone, Date.UTC(2008, 0, 1));
    for (let t = Date.UTC(2008, 0, 1) + step; t < Date.UTC(2032, 0, 1); t += step) {
      const offset = readTimeZoneOffsetMs(timeZone, t);
      if (offset === previous) continue;
      previous = offset;
      changes++;
      // every 7 minutes and 13 seconds from an hour before the step to an hour after it
      for (let u = t - step - 3_600_000; u <= t + 3_600_000; u += 433_000) {
        assert.equal(timeZoneOffsetMs(timeZone, u), readTimeZoneOffsetMs(timeZone, u), `${timeZone} at ${new Date(u).toISOString()}`);
      }
    }
  }
  assert.ok(changes > 300, `found ${changes} changes`);
});
