/**
 * Ingest format v1, one sales record: its shape (zod), the rule of each field and
 * `normaliseSale`, which turns a raw staging payload into a normalised operation
 * or a rejection naming the field ("quantity: must be greater than 0").
 *
 * Pure: no I/O. Shops come from the caller through `ShopLookup`.
 */

import { z } from "zod";
import { ok, reject, type Result } from "./result.ts";
import { cleanSku, matchKey, MAX_TEXT_LENGTH, readIdentifier, readText, textLength } from "./text.ts";
import {
  AMOUNT_MAX_INTEGER_DIGITS,
  computeAmount,
  fitsIntegerDigits,
  parseQuantity,
  parseUnitPrice,
} from "./numbers.ts";
import {
  checkOccurredAtBounds,
  DEFAULT_OCCURRED_AT_WINDOW,
  type OccurredAtBounds,
  occurredAtBounds,
  parseTimestampSyntax,
  resolveTimestamp,
} from "./time.ts";

export { occurredAtBounds };

export type Shop = { code: string; timezone: string; active: boolean };
/** Finds a shop by its code (the cleaned `source`, exactly as written). */
export type ShopLookup = (code: string) => Shop | undefined;

export type SaleType = "sale" | "return";

export type NormalisedProduct = {
  sku: string;
  sku_key: string;
  name: string;
  manufacturer: string;
  manufacturer_key: string;
  category?: string;
  category_key?: string;
  group?: string;
  group_key?: string;
  kind?: string;
  kind_key?: string;
};

export type NormalisedSupplier = {
  name: string;
  name_key: string;
  tax_id?: string;
  /** "tax:" and the trimmed tax_id when one is given, else "name:" and name_key. */
  identity_key: string;
};

export type NormalisedLocation = {
  name: string;
  name_key: string;
  city: string;
  city_key: string;
  address?: string;
};

export type NormalisedSale = {
  /** The shop's code as the lookup returned it. */
  source: string;
  external_id: string;
  /** UTC, ISO 8601 with milliseconds: "2026-11-20T11:03:00.000Z". */
  occurred_at: string;
  type: SaleType;
  /** Exact decimal string, shortest form: "2", "1.5", "0.125". Always > 0. */
  quantity: string;
  /** Exact decimal string with 2 decimals: "1499.50". Always >= 0. */
  unit_price: string;
  /** round(quantity * unit_price, 2), 2 decimals: "2999.00". Always >= 0. */
  amount: string;
  /** Three upper-case letters, default "RUB". */
  currency: string;
  product: NormalisedProduct;
  supplier?: NormalisedSupplier;
  location: NormalisedLocation;
};

export type SaleResult = Result<NormalisedSale>;

/** A supplier is its tax id when it has one, else its name (the key of public.suppliers). */
export function supplierIdentity(supplier: { name_key: string; tax_id?: string }): string {
  return supplier.tax_id ? `tax:${supplier.tax_id}` : `name:${supplier.name_key}`;
}

// ---------------------------------------------------------------------------
// Field rules: each reads one raw value and returns its normalised form or a message.

function requiredText(input: unknown): Result<string> {
  const text = readText(input);
  if (!text.ok) return text;
  return text.value === undefined ? reject("is required") : ok(text.value);
}

function requiredIdentifier(input: unknown): Result<string> {
  const id = readIdentifier(input);
  if (!id.ok) return id;
  return id.value === undefined ? reject("is required") : ok(id.value);
}

function requiredSku(input: unknown): Result<string> {
  const text = requiredIdentifier(input);
  if (!text.ok) return text;
  const sku = cleanSku(text.value);
  if (textLength(sku) > MAX_TEXT_LENGTH) return reject(`longer than ${MAX_TEXT_LENGTH} characters`);
  return ok(sku);
}

function saleType(input: unknown): Result<SaleType> {
  const message = 'must be "sale" or "return"';
  const text = readText(input);
  if (!text.ok) return reject(message);
  if (text.value === undefined) return ok("sale");
  const key = matchKey(text.value);
  return key === "sale" || key === "return" ? ok(key) : reject(message);
}

function currency(input: unknown): Result<string> {
  const message = "must be 3 letters";
  const text = readText(input);
  if (!text.ok) return reject(message);
  if (text.value === undefined) return ok("RUB");
  const code = text.value.toUpperCase();
  return /^[A-Z]{3}$/.test(code) ? ok(code) : reject(message);
}

// ---------------------------------------------------------------------------
// The record's shape, checked with zod: an object, with objects for product and location and an
// optional one for supplier. Each object is checked on its own, so that a bad one is reported
// next to the field errors of the others. Field values are left to the rules above, which zod
// would only wrap (and, measured, at twice their own cost). Unknown fields are stripped.

const objectError = (issue: { input?: unknown }) =>
  issue.input === undefined || issue.input === null ? "is required" : "must be an object";

const anyValue = z.unknown();

const recordShape = z.object({
  source: anyValue,
  external_id: anyValue,
  occurred_at: anyValue,
  type: anyValue,
  quantity: anyValue,
  unit_price: anyValue,
  currency: anyValue,
  product: anyValue,
  supplier: anyValue,
  location: anyValue,
}, { error: objectError });

const productShape = z.object({
  sku: anyValue,
  name: anyValue,
  manufacturer: anyValue,
  category: anyValue,
  group: anyValue,
  kind: anyValue,
}, { error: objectError });

/** null and a missing supplier are both "no supplier". */
const supplierShape = z.object({ name: anyValue, tax_id: anyValue }, { error: objectError }).nullish();

const locationShape = z.object({ name: anyValue, city: anyValue, address: anyValue }, { error: objectError });

/** Stable order in which field errors are reported: the contract's field order. */
export const FIELD_ORDER: readonly string[] = [
  "record",
  "source",
  "external_id",
  "occurred_at",
  "type",
  "quantity",
  "unit_price",
  "amount",
  "currency",
  "product",
  "product.sku",
  "product.name",
  "product.manufacturer",
  "product.category",
  "product.group",
  "product.kind",
  "supplier",
  "supplier.name",
  "supplier.tax_id",
  "location",
  "location.name",
  "location.city",
  "location.address",
];

type FieldError = { path: string; message: string };

function orderOf(path: string): number {
  const i = FIELD_ORDER.indexOf(path);
  return i === -1 ? FIELD_ORDER.length : i;
}

function rejection(errors: FieldError[]): Result<never> {
  const sorted = [...errors].sort((a, b) => orderOf(a.path) - orderOf(b.path));
  return reject(sorted.map((e) => `${e.path}: ${e.message}`).join("; "));
}

/**
 * Reads the fields of one record, collecting an error per bad field. A value read from a bad
 * field is `undefined` in disguise: callers use values only when `errors` is empty.
 */
class FieldReader {
  readonly errors: FieldError[] = [];

  rule<T>(path: string, result: Result<T>): T {
    if (result.ok) return result.value;
    this.errors.push({ path, message: result.error });
    return undefined as T;
  }

  shape<T>(path: string, schema: z.ZodType<T>, input: unknown): T | undefined {
    const parsed = schema.safeParse(input);
    if (parsed.success) return parsed.data;
    this.errors.push({ path, message: parsed.error.issues[0]?.message ?? "must be an object" });
    return undefined;
  }
}

/** The matching key of a text a FieldReader read: undefined, like the text, when its field was bad. */
const keyOf = (text: string): string => (text === undefined ? text : matchKey(text));

/** Sets a product's optional dictionary value and its matching key, when the record has one. */
function setOptionalName(product: NormalisedProduct, field: "category" | "group" | "kind", value: string | undefined): void {
  if (value === undefined) return;
  product[field] = value;
  product[`${field}_key`] = matchKey(value);
}

function readProduct(fields: FieldReader, input: unknown): NormalisedProduct | undefined {
  const product = fields.shape("product", productShape, input);
  if (product === undefined) return undefined;
  const sku = fields.rule("product.sku", requiredSku(product.sku));
  const manufacturer = fields.rule("product.manufacturer", requiredText(product.manufacturer));
  const read: NormalisedProduct = {
    sku,
    sku_key: sku === undefined ? sku : sku.toLowerCase(),
    name: fields.rule("product.name", requiredText(product.name)),
    manufacturer,
    manufacturer_key: keyOf(manufacturer),
  };
  setOptionalName(read, "category", fields.rule("product.category", readText(product.category)));
  setOptionalName(read, "group", fields.rule("product.group", readText(product.group)));
  setOptionalName(read, "kind", fields.rule("product.kind", readText(product.kind)));
  return read;
}

/** A supplier with neither a name nor a tax_id (after cleaning) is no supplier at all. */
function readSupplier(fields: FieldReader, input: unknown): NormalisedSupplier | undefined {
  const supplier = fields.shape("supplier", supplierShape, input);
  if (supplier === undefined || supplier === null) return undefined;
  const nameText = readText(supplier.name);
  const name = fields.rule("supplier.name", nameText);
  const taxId = fields.rule("supplier.tax_id", readIdentifier(supplier.tax_id));
  if (name === undefined) {
    if (nameText.ok && taxId !== undefined) fields.errors.push({ path: "supplier.name", message: "is required" });
    return undefined;
  }
  const nameKey = matchKey(name);
  if (taxId === undefined) return { name, name_key: nameKey, identity_key: nameKey };
  return { name, name_key: nameKey, tax_id: taxId, identity_key: taxId };
}

function readLocation(fields: FieldReader, input: unknown): NormalisedLocation | undefined {
  const location = fields.shape("location", locationShape, input);
  if (location === undefined) return undefined;
  const name = fields.rule("location.name", requiredText(location.name));
  const city = fields.rule("location.city", requiredText(location.city));
  const read: NormalisedLocation = {
    name,
    name_key: keyOf(name),
    city,
    city_key: keyOf(city),
  };
  const address = fields.rule("location.address", readText(location.address));
  if (address !== undefined) read.address = address;
  return read;
}

/** The shop a record's source names, or an error on `source`. */
function readShop(fields: FieldReader, input: unknown, shops: ShopLookup): Shop | undefined {
  const source = requiredText(input);
  if (!source.ok) return fields.rule("source", source);
  const shop = shops(source.value);
  if (shop === undefined) {
    fields.errors.push({ path: "source", message: `unknown shop ${JSON.stringify(source.value)}` });
    return undefined;
  }
  if (!shop.active) {
    fields.errors.push({ path: "source", message: `shop ${JSON.stringify(source.value)} is inactive` });
    return undefined;
  }
  return shop;
}

/**
 * Validate and normalise one raw record. On failure `error` is one message:
 * the first bad field by contract order ("product.sku: is required"), followed by
 * "; " and any other bad fields. Shop problems are reported on `source`. `occurred_at` must lie
 * inside `bounds` (by default 2000-01-01 to 1 day ahead of now).
 */
export function normaliseSale(
  payload: unknown,
  shops: ShopLookup,
  bounds: OccurredAtBounds = occurredAtBounds(DEFAULT_OCCURRED_AT_WINDOW, Date.now()),
): SaleResult {
  const fields = new FieldReader();
  const record = fields.shape("record", recordShape, payload);
  if (record === undefined) return rejection(fields.errors);

  const shop = readShop(fields, record.source, shops);
  const externalId = fields.rule("external_id", requiredIdentifier(record.external_id));
  const timestamp = fields.rule("occurred_at", parseTimestampSyntax(record.occurred_at));
  const type = fields.rule("type", saleType(record.type));
  const quantity = fields.rule("quantity", parseQuantity(record.quantity));
  const unitPrice = fields.rule("unit_price", parseUnitPrice(record.unit_price));
  const currencyCode = fields.rule("currency", currency(record.currency));
  const product = readProduct(fields, record.product);
  const supplier = readSupplier(fields, record.supplier);
  const location = readLocation(fields, record.location);
  if (fields.errors.length > 0 || shop === undefined || product === undefined || location === undefined) {
    return rejection(fields.errors);
  }

  const occurredAt = resolveTimestamp(timestamp, shop.timezone);
  if (!occurredAt.ok) {
    return rejection([{
      path: "source",
      message: `shop ${JSON.stringify(shop.code)} has an ${occurredAt.error}`,
    }]);
  }

  const dated = checkOccurredAtBounds(occurredAt.value, bounds);
  if (!dated.ok) return rejection([{ path: "occurred_at", message: dated.error }]);

  const amount = computeAmount(quantity, unitPrice);
  if (!fitsIntegerDigits(amount, AMOUNT_MAX_INTEGER_DIGITS)) {
    return rejection([{
      path: "amount",
      message:
        `quantity * unit_price is too large (at most ${AMOUNT_MAX_INTEGER_DIGITS} digits before the point)`,
    }]);
  }

  const value: NormalisedSale = {
    source: shop.code,
    external_id: externalId,
    occurred_at: occurredAt.value,
    type,
    quantity,
    unit_price: unitPrice,
    amount,
    currency: currencyCode,
    product,
    ...(supplier === undefined ? {} : { supplier }),
    location,
  };
  return ok(value);
}
