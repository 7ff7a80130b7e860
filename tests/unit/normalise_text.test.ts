import assert from "node:assert/strict";
import {
  cleanSku,
  cleanText,
  matchKey,
  MAX_TEXT_LENGTH,
  readIdentifier,
  readText,
  textLength,
} from "../../supabase/functions/_shared/normalise/text.ts";

Deno.test("cleaned text is trimmed and runs of spaces, tabs and newlines become one space", () => {
  assert.equal(cleanText("  Дисплей \t iPhone\n\r\n13  "), "Дисплей iPhone 13");
});

Deno.test("NBSP, narrow NBSP, thin, em and ideographic spaces count as white space", () => {
  assert.equal(cleanText("\u00A0a\u00A0\u00A0b\u202Fc\u2009d\u2003e\u3000f\u00A0"), "a b c d e f");
});

Deno.test("line and paragraph separators and control characters count as white space", () => {
  assert.equal(cleanText("a\u2028b\u2029c\u0000d\u0007e\u0085f"), "a b c d e f");
});

Deno.test("text is Unicode NFKC: full-width letters and digits become ASCII", () => {
  assert.equal(cleanText("ＡＢＣ１２"), "ABC12");
  assert.equal(cleanText("ﬁle"), "file");
  assert.equal(cleanText("e\u0301"), "\u00E9");
});

Deno.test("soft hyphens, zero-width spaces, word joiners and BOMs are removed", () => {
  assert.equal(cleanText("\uFEFFДис\u00ADплей\u200B 13\u2060"), "Дисплей 13");
});

Deno.test("an all-white-space text cleans to the empty string", () => {
  assert.equal(cleanText(" \t\n\u00A0 "), "");
});

Deno.test("cleaning is idempotent", () => {
  const once = cleanText("  ＡＢＣ \u00A0 x\n");
  assert.equal(cleanText(once), once);
});

Deno.test("' APPLE ' and 'Apple' share one manufacturer key", () => {
  assert.equal(matchKey(" APPLE "), matchKey("Apple"));
  assert.equal(matchKey("Apple"), "apple");
});

Deno.test("match keys ignore case in Cyrillic too", () => {
  assert.equal(matchKey("ДИСПЛЕИ"), matchKey("Дисплеи"));
  assert.equal(matchKey("ООО  Мобайл"), "ооо мобайл");
});

Deno.test("match keys fold 'ß' and 'SS' together", () => {
  assert.equal(matchKey("Straße"), matchKey("STRASSE"));
});

Deno.test("match keys see the cleaned form: inner spacing and full-width letters do not matter", () => {
  assert.equal(matchKey("Samsung\u00A0\u00A0Electronics"), matchKey("samsung electronics"));
  assert.equal(matchKey("ＡＰＰＬＥ"), "apple");
});

Deno.test("match keys keep 'ё' and 'е' apart", () => {
  assert.notEqual(matchKey("Ёлка"), matchKey("Елка"));
});

Deno.test("a match key is its own match key", () => {
  for (const s of [" APPLE ", "Straße", "İstanbul", "ΟΔΟΣ", "Дисплей"]) {
    assert.equal(matchKey(matchKey(s)), matchKey(s));
  }
});

Deno.test("a SKU is trimmed and upper-cased, width and inner spaces kept", () => {
  assert.equal(cleanSku(" ip13-lcd "), "IP13-LCD");
  assert.equal(cleanSku("ｉｐ１３\u00A0 lcd"), "ＩＰ１３\u00A0 LCD");
});

Deno.test("an identifier is only trimmed; blank is absent; a non-string or over 500 characters is an error", () => {
  assert.deepEqual(readIdentifier("\u3000 T21-ＡＢＣ  x\n"), { ok: true, value: "T21-ＡＢＣ  x" });
  assert.deepEqual(readIdentifier(" \t "), { ok: true, value: undefined });
  assert.deepEqual(readIdentifier(null), { ok: true, value: undefined });
  assert.deepEqual(readIdentifier(7), { ok: false, error: "must be a string" });
  assert.deepEqual(readIdentifier("😀".repeat(MAX_TEXT_LENGTH)), { ok: true, value: "😀".repeat(MAX_TEXT_LENGTH) });
  assert.deepEqual(readIdentifier("x".repeat(MAX_TEXT_LENGTH + 1)), { ok: false, error: "longer than 500 characters" });
});

Deno.test("text length counts characters (code points), not UTF-16 units", () => {
  assert.equal(textLength("😀a"), 2);
  assert.equal(textLength(""), 0);
});

Deno.test("a missing, null or blank text field is absent", () => {
  assert.deepEqual(readText(undefined), { ok: true, value: undefined });
  assert.deepEqual(readText(null), { ok: true, value: undefined });
  assert.deepEqual(readText(""), { ok: true, value: undefined });
  assert.deepEqual(readText(" \u00A0\t"), { ok: true, value: undefined });
});

Deno.test("a text field is returned cleaned", () => {
  assert.deepEqual(readText("  Склад   1 "), { ok: true, value: "Склад 1" });
});

Deno.test("a text field that is not a string is rejected", () => {
  for (const v of [12, true, {}, [], ["a"]]) {
    assert.deepEqual(readText(v), { ok: false, error: "must be a string" });
  }
});

Deno.test("a text of 500 characters after cleaning is accepted, 501 is rejected", () => {
  assert.equal(MAX_TEXT_LENGTH, 500);
  assert.deepEqual(readText("a".repeat(500)), { ok: true, value: "a".repeat(500) });
  assert.deepEqual(readText("a".repeat(501)), {
    ok: false,
    error: "longer than 500 characters",
  });
});

Deno.test("the length limit applies after cleaning and counts emoji as one character", () => {
  const padded = "   " + "a".repeat(500) + "   ";
  assert.equal(readText(padded).ok, true);
  assert.equal(readText("😀".repeat(500)).ok, true);
  assert.equal(readText("😀".repeat(501)).ok, false);
});
