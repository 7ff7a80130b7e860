import assert from "node:assert/strict";
import {
  computeAmount,
  fitsIntegerDigits,
  parseQuantity,
  parseUnitPrice,
} from "../../supabase/functions/_shared/normalise/numbers.ts";

const value = (v: string) => ({ ok: true, value: v });
const error = (e: string) => ({ ok: false, error: e });

// quantity ------------------------------------------------------------------

Deno.test("a quantity may be a JSON number or a numeric string", () => {
  assert.deepEqual(parseQuantity(2), value("2"));
  assert.deepEqual(parseQuantity("2"), value("2"));
  assert.deepEqual(parseQuantity(1.5), value("1.5"));
  assert.deepEqual(parseQuantity(" 1.5 "), value("1.5"));
});

Deno.test("a quantity is returned in its shortest exact form", () => {
  assert.deepEqual(parseQuantity("002.500"), value("2.5"));
  assert.deepEqual(parseQuantity("2.000"), value("2"));
  assert.deepEqual(parseQuantity("0.125"), value("0.125"));
  assert.deepEqual(parseQuantity("+3"), value("3"));
});

Deno.test("a quantity with a decimal comma is read as a decimal", () => {
  assert.deepEqual(parseQuantity("1,5"), value("1.5"));
  assert.deepEqual(parseQuantity("0,500"), value("0.5"));
});

Deno.test("a quantity with three decimals is accepted", () => {
  assert.deepEqual(parseQuantity("0.001"), value("0.001"));
  assert.deepEqual(parseQuantity(2.125), value("2.125"));
});

Deno.test("quantity with four decimals is rejected", () => {
  assert.deepEqual(parseQuantity("1.2345"), error("must have at most 3 decimal places"));
  assert.deepEqual(parseQuantity(1.2345), error("must have at most 3 decimal places"));
  assert.deepEqual(parseQuantity(0.0001), error("must have at most 3 decimal places"));
});

Deno.test("trailing zeros beyond three decimals do not count as decimals", () => {
  assert.deepEqual(parseQuantity("1.5000"), value("1.5"));
});

Deno.test("a float that is not what it looks like (0.1 + 0.2) is rejected, never rounded", () => {
  assert.deepEqual(parseQuantity(0.1 + 0.2), error("must have at most 3 decimal places"));
});

Deno.test("a very small JSON number written in exponent form is read exactly", () => {
  assert.deepEqual(parseQuantity(1e-7), error("must have at most 3 decimal places"));
});

Deno.test("a zero quantity is rejected", () => {
  for (const v of [0, "0", "0.000", "-0", -0]) {
    assert.deepEqual(parseQuantity(v), error("must be greater than 0"));
  }
});

Deno.test("a negative quantity is rejected", () => {
  assert.deepEqual(parseQuantity(-2), error("must be greater than 0"));
  assert.deepEqual(parseQuantity("-1.5"), error("must be greater than 0"));
  assert.deepEqual(parseQuantity("\u22122"), error("must be greater than 0"));
});

Deno.test("a missing or blank quantity is required", () => {
  for (const v of [undefined, null, "", "  "]) {
    assert.deepEqual(parseQuantity(v), error("is required"));
  }
});

Deno.test("a quantity that is not a number is rejected", () => {
  for (const v of ["abc", "NaN", "Infinity", "-Infinity", NaN, Infinity, true, {}, [], [2]]) {
    assert.deepEqual(parseQuantity(v), error("must be a number such as 2 or 1.5"));
  }
});

Deno.test("exponent notation, hex and stray characters in a quantity string are rejected", () => {
  for (const v of ["1e3", "0x10", "2 pcs", "1.2.3", ".5", "5.", "- 5", "1 2"]) {
    assert.deepEqual(parseQuantity(v), error("must be a number such as 2 or 1.5"), v);
  }
});

Deno.test("a quantity of full-width digits '１２' is 12", () => {
  assert.deepEqual(parseQuantity("１２"), value("12"));
  assert.deepEqual(parseQuantity("１，５"), value("1.5"));
});

Deno.test("a quantity with space thousands separators is accepted", () => {
  assert.deepEqual(parseQuantity("1 000"), value("1000"));
  assert.deepEqual(parseQuantity("1\u00A0000,5"), value("1000.5"));
});

Deno.test("a quantity '1,000' is ambiguous and rejected", () => {
  assert.deepEqual(
    parseQuantity("1,000"),
    error('"1,000" is ambiguous: write 1000 or 1'),
  );
  assert.deepEqual(
    parseQuantity("2,500"),
    error('"2,500" is ambiguous: write 2500 or 2.5'),
  );
});

Deno.test("a quantity of 15 integer digits fits numeric(18,3), 16 does not", () => {
  assert.deepEqual(parseQuantity("999999999999999.999"), value("999999999999999.999"));
  assert.deepEqual(
    parseQuantity("1000000000000000"),
    error("is too large (at most 15 digits before the point)"),
  );
  assert.deepEqual(
    parseQuantity(1e21),
    error("is too large (at most 15 digits before the point)"),
  );
  assert.deepEqual(
    parseQuantity(Number.MAX_VALUE),
    error("is too large (at most 15 digits before the point)"),
  );
});

// unit_price ----------------------------------------------------------------

Deno.test("a price written as '1 499,50' is 1499.50", () => {
  assert.deepEqual(parseUnitPrice("1 499,50"), value("1499.50"));
});

Deno.test("a price written as '1499,50', '1499.5', '1 499.50' or 1499.5 is 1499.50", () => {
  for (const v of ["1499,50", "1499.5", "1 499.50", 1499.5, "1499.50", "1499,5"]) {
    assert.deepEqual(parseUnitPrice(v), value("1499.50"), String(v));
  }
});

Deno.test("NBSP, narrow NBSP and thin space work as thousands separators in a price", () => {
  assert.deepEqual(parseUnitPrice("1\u00A0499,50"), value("1499.50"));
  assert.deepEqual(parseUnitPrice("1\u202F499,50"), value("1499.50"));
  assert.deepEqual(parseUnitPrice("1\u2009499.50"), value("1499.50"));
  assert.deepEqual(parseUnitPrice("12\u00A0345\u00A0678,90"), value("12345678.90"));
});

Deno.test("a price with ',' thousands and '.' decimals, or the other way round, is read", () => {
  assert.deepEqual(parseUnitPrice("1,499.50"), value("1499.50"));
  assert.deepEqual(parseUnitPrice("1.499,50"), value("1499.50"));
  assert.deepEqual(parseUnitPrice("12,345,678.9"), value("12345678.90"));
});

Deno.test("a whole price gets two decimals", () => {
  assert.deepEqual(parseUnitPrice(1499), value("1499.00"));
  assert.deepEqual(parseUnitPrice("1 499"), value("1499.00"));
});

Deno.test("a zero price is allowed", () => {
  for (const v of [0, "0", "0,00", "-0", -0]) {
    assert.deepEqual(parseUnitPrice(v), value("0.00"), String(v));
  }
});

Deno.test("a negative price is rejected", () => {
  assert.deepEqual(parseUnitPrice(-1), error("must be 0 or greater"));
  assert.deepEqual(parseUnitPrice("-1 499,50"), error("must be 0 or greater"));
});

Deno.test("a missing or blank price is required", () => {
  for (const v of [undefined, null, "", " \u00A0"]) {
    assert.deepEqual(parseUnitPrice(v), error("is required"));
  }
});

Deno.test("ambiguous garbage such as '1,2,3' or 'abc' is not a price", () => {
  for (
    const v of ["1,2,3", "abc", "1 49,50", "14 99", "1,49.50", "1.499.50,0,0", "NaN", "1e3", "$5"]
  ) {
    assert.deepEqual(parseUnitPrice(v), error("must be a number such as 1499.50"), v);
  }
  for (const v of [NaN, Infinity, false, {}, [1]]) {
    assert.deepEqual(parseUnitPrice(v), error("must be a number such as 1499.50"));
  }
});

Deno.test("a price '1,499' is ambiguous and rejected", () => {
  assert.deepEqual(parseUnitPrice("1,499"), error('"1,499" is ambiguous: write 1499 or 1.499'));
});

Deno.test("a price with three decimals is rejected unless the third is zero", () => {
  assert.deepEqual(parseUnitPrice("1499.555"), error("must have at most 2 decimal places"));
  assert.deepEqual(parseUnitPrice("1.499"), error("must have at most 2 decimal places"));
  assert.deepEqual(parseUnitPrice("1499.500"), value("1499.50"));
});

Deno.test("a price of full-width digits is read after NFKC", () => {
  assert.deepEqual(parseUnitPrice("１４９９，５０"), value("1499.50"));
});

Deno.test("a price of 16 integer digits fits numeric(18,2), 17 does not", () => {
  assert.deepEqual(parseUnitPrice("9999999999999999.99"), value("9999999999999999.99"));
  assert.deepEqual(
    parseUnitPrice("10000000000000000"),
    error("is too large (at most 16 digits before the point)"),
  );
  assert.deepEqual(
    parseUnitPrice(1e300),
    error("is too large (at most 16 digits before the point)"),
  );
});

// amount --------------------------------------------------------------------

Deno.test("amount is quantity times unit price with two decimals", () => {
  assert.equal(computeAmount("2", "1499.50"), "2999.00");
  assert.equal(computeAmount("3", "0.10"), "0.30");
  assert.equal(computeAmount("1", "0.00"), "0.00");
});

Deno.test("amount is exact where binary floating point is not", () => {
  // 1.005 * 100 in floating point is 100.49999999999999.
  assert.equal(computeAmount("1.005", "1.00"), "1.01");
  assert.equal(computeAmount("0.1", "0.20"), "0.02");
  assert.equal(computeAmount("3", "33.33"), "99.99");
});

Deno.test("amount rounds half away from zero", () => {
  assert.equal(computeAmount("0.5", "0.01"), "0.01");
  assert.equal(computeAmount("0.5", "0.05"), "0.03");
  assert.equal(computeAmount("0.499", "0.01"), "0.00");
  assert.equal(computeAmount("-0.5", "0.01"), "-0.01");
  assert.equal(computeAmount("-0.499", "0.01"), "0.00");
});

Deno.test("amount of three-decimal quantity and price is rounded to cents", () => {
  assert.equal(computeAmount("1.333", "3.33"), "4.44");
  assert.equal(computeAmount("2.125", "1499.50"), "3186.44");
});

Deno.test("amount of the largest quantity and price is exact", () => {
  assert.equal(
    computeAmount("999999999999999.999", "9999999999999999.99"),
    "9999999999999999980000000000000.00",
  );
});

Deno.test("amount of something that is not a plain decimal string throws", () => {
  assert.throws(() => computeAmount("1e3", "1.00"), TypeError);
  assert.throws(() => computeAmount("2", "1 499,50"), TypeError);
});

Deno.test("fitsIntegerDigits counts digits before the point, ignoring leading zeros", () => {
  assert.equal(fitsIntegerDigits("9999999999999999.99", 16), true);
  assert.equal(fitsIntegerDigits("10000000000000000.00", 16), false);
  assert.equal(fitsIntegerDigits("000123.45", 3), true);
  assert.equal(fitsIntegerDigits("abc", 3), false);
});
