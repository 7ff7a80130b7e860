import assert from "node:assert/strict";
import {
  FIELD_ORDER,
  type NormalisedSale,
  normaliseSale,
  type SaleResult,
  type Shop,
  type ShopLookup,
  occurredAtBounds,
} from "../../supabase/functions/_shared/normalise/sale.ts";
import { DEFAULT_OCCURRED_AT_WINDOW } from "../../supabase/functions/_shared/normalise/time.ts";

const SHOPS: Record<string, Shop> = {
  moba: { code: "moba", timezone: "Europe/Moscow", active: true },
  ekb: { code: "ekb", timezone: "Asia/Yekaterinburg", active: true },
  old: { code: "old", timezone: "Europe/Moscow", active: false },
  broken: { code: "broken", timezone: "Mars/Olympus", active: true },
};
const shops: ShopLookup = (code) => SHOPS[code];

/** The contract's example record, fresh each call. */
function example(): Record<string, unknown> {
  return {
    source: "moba",
    external_id: "A-1001",
    occurred_at: "2026-11-20T14:03:00+03:00",
    type: "sale",
    quantity: 2,
    unit_price: "1 499,50",
    currency: "RUB",
    product: {
      sku: "ip13-lcd",
      name: "Дисплей iPhone 13",
      manufacturer: "Apple",
      category: "Дисплеи",
      group: "Запчасти для телефонов",
      kind: "Оригинал",
    },
    supplier: { name: "ООО Мобайл", tax_id: "7701234567" },
    location: { name: "Склад 1", city: "Краснодар", address: "ул. Красная, 1" },
  };
}

function withField(path: string, value: unknown): Record<string, unknown> {
  const record = example();
  const keys = path.split(".");
  let target = record;
  for (const key of keys.slice(0, -1)) target = target[key] as Record<string, unknown>;
  const last = keys[keys.length - 1];
  if (value === undefined) delete target[last];
  else target[last] = value;
  return record;
}

function accepted(result: SaleResult): NormalisedSale {
  if (!result.ok) throw new assert.AssertionError({ message: `rejected: ${result.error}` });
  return result.value;
}

function rejected(result: SaleResult): string {
  if (result.ok) throw new assert.AssertionError({ message: "accepted, expected a rejection" });
  return result.error;
}

Deno.test("the contract's example record normalises to the full operation", () => {
  assert.deepEqual(normaliseSale(example(), shops), {
    ok: true,
    value: {
      source: "moba",
      external_id: "A-1001",
      occurred_at: "2026-11-20T11:03:00.000Z",
      type: "sale",
      quantity: "2",
      unit_price: "1499.50",
      amount: "2999.00",
      currency: "RUB",
      product: {
        sku: "IP13-LCD",
        sku_key: "ip13-lcd",
        name: "Дисплей iPhone 13",
        manufacturer: "Apple",
        manufacturer_key: "apple",
        category: "Дисплеи",
        category_key: "дисплеи",
        group: "Запчасти для телефонов",
        group_key: "запчасти для телефонов",
        kind: "Оригинал",
        kind_key: "оригинал",
      },
      supplier: {
        name: "ООО Мобайл",
        name_key: "ооо мобайл",
        tax_id: "7701234567",
        identity_key: "7701234567",
      },
      location: {
        name: "Склад 1",
        name_key: "склад 1",
        city: "Краснодар",
        city_key: "краснодар",
        address: "ул. Красная, 1",
      },
    },
  });
});

Deno.test("a minimal record with only the required fields gets the defaults", () => {
  const sale = accepted(normaliseSale({
    source: "moba",
    external_id: "B-1",
    occurred_at: "2026-11-20T14:03:00Z",
    quantity: "1",
    unit_price: 10,
    product: { sku: "x", name: "X", manufacturer: "Acme" },
    location: { name: "Склад", city: "Сочи" },
  }, shops));
  assert.equal(sale.type, "sale");
  assert.equal(sale.currency, "RUB");
  assert.equal(sale.amount, "10.00");
  assert.equal("supplier" in sale, false);
  assert.equal("address" in sale.location, false);
  for (const key of ["category", "category_key", "group", "group_key", "kind", "kind_key"]) {
    assert.equal(key in sale.product, false, key);
  }
});

Deno.test("normalising does not change the payload and gives the same result twice", () => {
  const record = example();
  const copy = structuredClone(record);
  const first = normaliseSale(record, shops);
  assert.deepEqual(record, copy);
  assert.deepEqual(normaliseSale(record, shops), first);
});

// source ----------------------------------------------------------------------

Deno.test("an unknown shop is rejected naming source", () => {
  assert.equal(
    rejected(normaliseSale(withField("source", "xyz"), shops)),
    'source: unknown shop "xyz"',
  );
});

Deno.test("an inactive shop is rejected naming source", () => {
  assert.equal(
    rejected(normaliseSale(withField("source", "old"), shops)),
    'source: shop "old" is inactive',
  );
});

Deno.test("a missing or blank source is required", () => {
  assert.equal(
    rejected(normaliseSale(withField("source", undefined), shops)),
    "source: is required",
  );
  assert.equal(rejected(normaliseSale(withField("source", " \t "), shops)), "source: is required");
});

Deno.test("the shop is looked up by the cleaned source and reported by its own code", () => {
  const seen: string[] = [];
  const lookup: ShopLookup = (code) => {
    seen.push(code);
    return SHOPS[code];
  };
  assert.equal(accepted(normaliseSale(withField("source", "  moba\u00A0"), lookup)).source, "moba");
  assert.deepEqual(seen, ["moba"]);
});

Deno.test("a shop whose time zone is unknown rejects wall-clock timestamps naming source", () => {
  const record = withField("source", "broken");
  record.occurred_at = "2026-11-20T14:03:00";
  assert.equal(
    rejected(normaliseSale(record, shops)),
    'source: shop "broken" has an unknown time zone "Mars/Olympus"',
  );
  record.occurred_at = "2026-11-20T14:03:00Z";
  assert.equal(accepted(normaliseSale(record, shops)).occurred_at, "2026-11-20T14:03:00.000Z");
});

// external_id -------------------------------------------------------------------

Deno.test("external_id is an identifier: trimmed, otherwise kept exactly as sent", () => {
  assert.equal(
    accepted(normaliseSale(withField("external_id", "  A-1001\n"), shops)).external_id,
    "A-1001",
  );
  assert.equal(accepted(normaliseSale(withField("external_id", "\u00A0T21-ABC\u3000"), shops)).external_id, "T21-ABC");
});

Deno.test("external ids that differ in width, case or inner spaces stay different operations", () => {
  const ids = ["T21-ABC", "T21-ＡＢＣ", "t21-abc", "T21  ABC", "T21 ABC", "ﬁ-1", "fi-1", "T21\u00ADABC", "T21ABC"];
  const read = ids.map((id) => accepted(normaliseSale(withField("external_id", id), shops)).external_id);
  assert.deepEqual(read, ids);
});

Deno.test("an external_id longer than 500 characters after trimming is rejected naming it", () => {
  assert.equal(accepted(normaliseSale(withField("external_id", ` ${"x".repeat(500)} `), shops)).external_id.length, 500);
  assert.equal(
    rejected(normaliseSale(withField("external_id", "x".repeat(501)), shops)),
    "external_id: longer than 500 characters",
  );
});

Deno.test("a missing, empty or non-string external_id is rejected naming it", () => {
  assert.equal(
    rejected(normaliseSale(withField("external_id", ""), shops)),
    "external_id: is required",
  );
  assert.equal(
    rejected(normaliseSale(withField("external_id", undefined), shops)),
    "external_id: is required",
  );
  assert.equal(
    rejected(normaliseSale(withField("external_id", 1001), shops)),
    "external_id: must be a string",
  );
});

// occurred_at -------------------------------------------------------------------

Deno.test("a timestamp without an offset is read in the shop's time zone", () => {
  const record = withField("source", "ekb");
  record.occurred_at = "2026-11-20 14:03";
  assert.equal(accepted(normaliseSale(record, shops)).occurred_at, "2026-11-20T09:03:00.000Z");
  assert.equal(
    accepted(normaliseSale(withField("occurred_at", "2026-11-20T14:03:00"), shops)).occurred_at,
    "2026-11-20T11:03:00.000Z",
  );
});

Deno.test("occurred_at must lie between the floor and the horizon ahead of now (defaults 2000-01-01, 1 day)", () => {
  const now = Date.parse("2026-12-04T12:00:00Z");
  const bounds = occurredAtBounds(DEFAULT_OCCURRED_AT_WINDOW, now);
  const at = (v: string) => normaliseSale(withField("occurred_at", v), shops, bounds);
  assert.equal(accepted(at("2026-12-05T12:00:00Z")).occurred_at, "2026-12-05T12:00:00.000Z", "exactly 1 day ahead");
  assert.equal(accepted(at("2000-01-01T00:00:00Z")).occurred_at, "2000-01-01T00:00:00.000Z", "exactly the floor");
  assert.equal(
    rejected(at("2026-12-05T12:00:01Z")),
    "occurred_at: 2026-12-05T12:00:01.000Z is more than 24 hours ahead of now (2026-12-04T12:00:00.000Z)",
  );
  assert.equal(
    rejected(at("9999-12-31T23:59:59+03:00")),
    "occurred_at: 9999-12-31T20:59:59.000Z is more than 24 hours ahead of now (2026-12-04T12:00:00.000Z)",
  );
  assert.equal(
    rejected(at("1999-12-31 23:00")),
    "occurred_at: 1999-12-31T20:00:00.000Z is before 2000-01-01T00:00:00.000Z, the earliest date accepted",
  );
});

Deno.test("an invalid timestamp is rejected naming occurred_at", () => {
  for (const v of ["2026-02-30T10:00:00Z", "soon", 1763647380000]) {
    assert.equal(
      rejected(normaliseSale(withField("occurred_at", v), shops)),
      "occurred_at: not a valid ISO 8601 timestamp",
    );
  }
  assert.equal(
    rejected(normaliseSale(withField("occurred_at", undefined), shops)),
    "occurred_at: is required",
  );
});

// type --------------------------------------------------------------------------

Deno.test("type is case-insensitive after cleaning and defaults to sale", () => {
  assert.equal(accepted(normaliseSale(withField("type", " RETURN "), shops)).type, "return");
  assert.equal(accepted(normaliseSale(withField("type", "Sale"), shops)).type, "sale");
  assert.equal(accepted(normaliseSale(withField("type", undefined), shops)).type, "sale");
  assert.equal(accepted(normaliseSale(withField("type", ""), shops)).type, "sale");
  assert.equal(accepted(normaliseSale(withField("type", null), shops)).type, "sale");
});

Deno.test("a type other than sale or return is rejected naming type", () => {
  for (const v of ["refund", "sales", 1, true]) {
    assert.equal(
      rejected(normaliseSale(withField("type", v), shops)),
      'type: must be "sale" or "return"',
    );
  }
});

Deno.test("a return keeps positive quantity and amount", () => {
  const sale = accepted(normaliseSale(withField("type", "return"), shops));
  assert.equal(sale.type, "return");
  assert.equal(sale.quantity, "2");
  assert.equal(sale.amount, "2999.00");
});

Deno.test("a return with a negative quantity is rejected like any other", () => {
  const record = withField("type", "return");
  record.quantity = -2;
  assert.equal(rejected(normaliseSale(record, shops)), "quantity: must be greater than 0");
});

// quantity, unit_price, amount --------------------------------------------------

Deno.test("a zero or negative quantity is rejected naming quantity", () => {
  assert.equal(
    rejected(normaliseSale(withField("quantity", 0), shops)),
    "quantity: must be greater than 0",
  );
  assert.equal(
    rejected(normaliseSale(withField("quantity", "-1"), shops)),
    "quantity: must be greater than 0",
  );
});

Deno.test("quantity with four decimals is rejected", () => {
  assert.equal(
    rejected(normaliseSale(withField("quantity", "1.2345"), shops)),
    "quantity: must have at most 3 decimal places",
  );
});

Deno.test("a quantity of full-width digits is read after NFKC", () => {
  assert.equal(accepted(normaliseSale(withField("quantity", "１２"), shops)).quantity, "12");
});

Deno.test("a price that is not a number is rejected naming unit_price", () => {
  for (const v of ["1,2,3", "abc", "NaN", true]) {
    assert.equal(
      rejected(normaliseSale(withField("unit_price", v), shops)),
      "unit_price: must be a number such as 1499.50",
    );
  }
});

Deno.test("a missing price is required and a negative one is rejected", () => {
  assert.equal(
    rejected(normaliseSale(withField("unit_price", undefined), shops)),
    "unit_price: is required",
  );
  assert.equal(
    rejected(normaliseSale(withField("unit_price", -5), shops)),
    "unit_price: must be 0 or greater",
  );
});

Deno.test("a free item has price and amount 0.00", () => {
  const sale = accepted(normaliseSale(withField("unit_price", 0), shops));
  assert.equal(sale.unit_price, "0.00");
  assert.equal(sale.amount, "0.00");
});

Deno.test("amount is quantity times price rounded to cents, half away from zero", () => {
  const record = withField("quantity", "2.125");
  record.unit_price = "1 499,50";
  assert.equal(accepted(normaliseSale(record, shops)).amount, "3186.44");
  record.quantity = "0.5";
  record.unit_price = "0.05";
  assert.equal(accepted(normaliseSale(record, shops)).amount, "0.03");
});

Deno.test("a huge quantity or price is rejected naming the field", () => {
  assert.equal(
    rejected(normaliseSale(withField("quantity", 1e20), shops)),
    "quantity: is too large (at most 15 digits before the point)",
  );
  assert.equal(
    rejected(normaliseSale(withField("unit_price", "1".repeat(17)), shops)),
    "unit_price: is too large (at most 16 digits before the point)",
  );
});

Deno.test("an amount of 18 integer digits fits numeric(20,2), 19 is rejected naming amount", () => {
  const record = withField("quantity", "100");
  record.unit_price = "9999999999999999.99";
  assert.equal(accepted(normaliseSale(record, shops)).amount, "999999999999999999.00");
  record.quantity = "1000";
  assert.equal(
    rejected(normaliseSale(record, shops)),
    "amount: quantity * unit_price is too large (at most 18 digits before the point)",
  );
});

// currency ----------------------------------------------------------------------

Deno.test("currency defaults to RUB and is upper-cased", () => {
  assert.equal(accepted(normaliseSale(withField("currency", undefined), shops)).currency, "RUB");
  assert.equal(accepted(normaliseSale(withField("currency", " "), shops)).currency, "RUB");
  assert.equal(accepted(normaliseSale(withField("currency", " usd "), shops)).currency, "USD");
  assert.equal(accepted(normaliseSale(withField("currency", "ｅｕｒ"), shops)).currency, "EUR");
});

Deno.test("a currency that is not 3 Latin letters is rejected naming currency", () => {
  for (const v of ["RUBL", "RU", "РУБ", "R1B", "R B", 643]) {
    assert.equal(
      rejected(normaliseSale(withField("currency", v), shops)),
      "currency: must be 3 letters",
    );
  }
});

// product -----------------------------------------------------------------------

Deno.test("a missing product.sku is rejected naming product.sku", () => {
  assert.equal(
    rejected(normaliseSale(withField("product.sku", undefined), shops)),
    "product.sku: is required",
  );
  assert.equal(
    rejected(normaliseSale(withField("product.sku", "  "), shops)),
    "product.sku: is required",
  );
});

Deno.test("a SKU is an identifier: trimmed and upper-cased, otherwise as sent", () => {
  const sale = accepted(normaliseSale(withField("product.sku", " ip13-lcd\n"), shops));
  assert.equal(sale.product.sku, "IP13-LCD");
  assert.equal(sale.product.sku_key, "ip13-lcd");
  assert.equal(accepted(normaliseSale(withField("product.sku", " ip13\u00A0 lcd "), shops)).product.sku, "IP13\u00A0 LCD");
});

Deno.test("SKUs that differ in width or inner spaces stay different products", () => {
  const skus = ["IP13-LCD", "IP13-ＬＣＤ", "IP13  LCD", "IP13 LCD"];
  const read = skus.map((sku) => accepted(normaliseSale(withField("product.sku", sku), shops)).product.sku);
  assert.deepEqual(read, skus);
});

Deno.test("' APPLE ' and 'Apple' share one manufacturer key", () => {
  const a = accepted(normaliseSale(withField("product.manufacturer", " APPLE "), shops));
  const b = accepted(normaliseSale(withField("product.manufacturer", "Apple"), shops));
  assert.equal(a.product.manufacturer_key, b.product.manufacturer_key);
  assert.equal(a.product.manufacturer, "APPLE");
  assert.equal(b.product.manufacturer, "Apple");
});

Deno.test("product name and manufacturer are required", () => {
  assert.equal(
    rejected(normaliseSale(withField("product.name", ""), shops)),
    "product.name: is required",
  );
  assert.equal(
    rejected(normaliseSale(withField("product.manufacturer", null), shops)),
    "product.manufacturer: is required",
  );
});

Deno.test("an empty optional category is absent", () => {
  const sale = accepted(normaliseSale(withField("product.category", "  "), shops));
  assert.equal("category" in sale.product, false);
  assert.equal("category_key" in sale.product, false);
});

Deno.test("optional group and kind are cleaned and keyed", () => {
  const record = withField("product.group", "  ЗАПЧАСТИ   для телефонов ");
  (record.product as Record<string, unknown>).kind = null;
  const sale = accepted(normaliseSale(record, shops));
  assert.equal(sale.product.group, "ЗАПЧАСТИ для телефонов");
  assert.equal(sale.product.group_key, "запчасти для телефонов");
  assert.equal("kind" in sale.product, false);
});

Deno.test("a product name of 500 characters is accepted, 501 is rejected", () => {
  assert.equal(
    accepted(normaliseSale(withField("product.name", "я".repeat(500)), shops)).product.name.length,
    500,
  );
  assert.equal(
    rejected(normaliseSale(withField("product.name", "я".repeat(501)), shops)),
    "product.name: longer than 500 characters",
  );
});

Deno.test("every text field is guarded at 500 characters", () => {
  const long = "x".repeat(501);
  for (
    const path of [
      "source",
      "external_id",
      "product.sku",
      "product.manufacturer",
      "product.category",
      "product.group",
      "product.kind",
      "supplier.name",
      "supplier.tax_id",
      "location.name",
      "location.city",
      "location.address",
    ]
  ) {
    assert.equal(
      rejected(normaliseSale(withField(path, long), shops)),
      `${path}: longer than 500 characters`,
    );
  }
});

Deno.test("a missing product is rejected naming product, a non-object one too", () => {
  assert.equal(
    rejected(normaliseSale(withField("product", undefined), shops)),
    "product: is required",
  );
  assert.equal(
    rejected(normaliseSale(withField("product", "ip13"), shops)),
    "product: must be an object",
  );
  assert.equal(
    rejected(normaliseSale(withField("product", []), shops)),
    "product: must be an object",
  );
});

Deno.test("a non-string text field is rejected naming it", () => {
  assert.equal(
    rejected(normaliseSale(withField("product.sku", 12345), shops)),
    "product.sku: must be a string",
  );
});

// supplier ----------------------------------------------------------------------

Deno.test("a supplier is identified by its tax_id when present", () => {
  const sale = accepted(
    normaliseSale(withField("supplier", { name: " ООО  Мобайл ", tax_id: " 7701234567 " }), shops),
  );
  assert.deepEqual(sale.supplier, {
    name: "ООО Мобайл",
    name_key: "ооо мобайл",
    tax_id: "7701234567",
    identity_key: "7701234567",
  });
});

Deno.test("a tax_id is an identifier: trimmed, otherwise as sent (full-width digits are another supplier)", () => {
  const halfWidth = accepted(normaliseSale(withField("supplier.tax_id", "\t7701234567 "), shops));
  const fullWidth = accepted(normaliseSale(withField("supplier.tax_id", "７７０１２３４５６７"), shops));
  assert.equal(halfWidth.supplier?.identity_key, "7701234567");
  assert.equal(fullWidth.supplier?.tax_id, "７７０１２３４５６７");
  assert.notEqual(fullWidth.supplier?.identity_key, halfWidth.supplier?.identity_key);
  assert.equal(
    rejected(normaliseSale(withField("supplier.tax_id", "7".repeat(501)), shops)),
    "supplier.tax_id: longer than 500 characters",
  );
});

Deno.test("a supplier without tax_id is identified by its name key", () => {
  const sale = accepted(
    normaliseSale(withField("supplier", { name: "ООО МОБАЙЛ", tax_id: "" }), shops),
  );
  assert.deepEqual(sale.supplier, {
    name: "ООО МОБАЙЛ",
    name_key: "ооо мобайл",
    identity_key: "ооо мобайл",
  });
});

Deno.test("a tax_id keeps its digits as given, leading zeros included", () => {
  const sale = accepted(normaliseSale(withField("supplier.tax_id", "0012345678"), shops));
  assert.equal(sale.supplier?.tax_id, "0012345678");
  assert.equal(sale.supplier?.identity_key, "0012345678");
});

Deno.test("a supplier with a tax_id but no name is rejected naming supplier.name", () => {
  assert.equal(
    rejected(normaliseSale(withField("supplier", { tax_id: "7701234567" }), shops)),
    "supplier.name: is required",
  );
});

Deno.test("a missing, null or empty supplier is absent", () => {
  for (const v of [undefined, null, {}, { name: " ", tax_id: "" }]) {
    assert.equal("supplier" in accepted(normaliseSale(withField("supplier", v), shops)), false);
  }
});

Deno.test("a supplier that is not an object is rejected naming supplier", () => {
  assert.equal(
    rejected(normaliseSale(withField("supplier", "ООО Мобайл"), shops)),
    "supplier: must be an object",
  );
});

// location ----------------------------------------------------------------------

Deno.test("a missing location.city is rejected naming location.city", () => {
  assert.equal(
    rejected(normaliseSale(withField("location.city", undefined), shops)),
    "location.city: is required",
  );
});

Deno.test("a location is keyed by city and name and its address is optional", () => {
  const record = withField("location", { name: " СКЛАД 1 ", city: "краснодар" });
  const sale = accepted(normaliseSale(record, shops));
  assert.deepEqual(sale.location, {
    name: "СКЛАД 1",
    name_key: "склад 1",
    city: "краснодар",
    city_key: "краснодар",
  });
});

Deno.test("a missing location is rejected naming location", () => {
  assert.equal(
    rejected(normaliseSale(withField("location", undefined), shops)),
    "location: is required",
  );
  assert.equal(
    rejected(normaliseSale(withField("location.name", ""), shops)),
    "location.name: is required",
  );
});

// the record as a whole ---------------------------------------------------------

Deno.test("unknown fields are ignored, not rejected and not passed on", () => {
  const record = example();
  record.note = "hello";
  (record.product as Record<string, unknown>).colour = "black";
  const sale = accepted(normaliseSale(record, shops));
  assert.equal("note" in sale, false);
  assert.equal("colour" in sale.product, false);
});

Deno.test("a payload that is not an object is rejected", () => {
  assert.equal(rejected(normaliseSale("sale", shops)), "record: must be an object");
  assert.equal(rejected(normaliseSale([example()], shops)), "record: must be an object");
  assert.equal(rejected(normaliseSale(null, shops)), "record: is required");
  assert.equal(rejected(normaliseSale(undefined, shops)), "record: is required");
});

Deno.test("several bad fields are reported first-by-contract-order, joined with '; '", () => {
  const record = example();
  record.currency = "rubles";
  (record.location as Record<string, unknown>).city = "";
  (record.product as Record<string, unknown>).sku = "";
  record.quantity = 0;
  record.source = "old";
  assert.equal(
    rejected(normaliseSale(record, shops)),
    'source: shop "old" is inactive; quantity: must be greater than 0; currency: must be 3 letters; ' +
      "product.sku: is required; location.city: is required",
  );
});

Deno.test("the first error is always the earliest field of the contract", () => {
  const record = example();
  delete (record.location as Record<string, unknown>).name;
  record.type = "gift";
  const error = rejected(normaliseSale(record, shops));
  assert.ok(error.startsWith('type: must be "sale" or "return"'), error);
  assert.deepEqual(FIELD_ORDER.slice(1, 4), ["source", "external_id", "occurred_at"]);
});

Deno.test("a product that is not an object is reported next to the other bad fields", () => {
  const record = withField("product", "ip13");
  record.quantity = 0;
  (record.location as Record<string, unknown>).city = "";
  assert.equal(
    rejected(normaliseSale(record, shops)),
    "quantity: must be greater than 0; product: must be an object; location.city: is required",
  );
});
