/**
 * Ingest format v1, one sales record: the zod schema of the contract and
 * `normaliseSale`, which turns a raw staging payload into a normalised operation
 * or a rejection naming the field ("quantity: must be greater than 0").
 *
 * Pure: no I/O. Shops come from the caller through `ShopLookup`.
 */

import { z } from "zod";
import { ok, reject, type Result } from "./result.ts";
import { cleanSku, matchKey, MAX_TEXT_LENGTH, readText, textLength } from "./text.ts";
import {
  AMOUNT_MAX_INTEGER_DIGITS,
  computeAmount,
  fitsIntegerDigits,
  parseQuantity,
  parseUnitPrice,
} from "./numbers.ts";
import { type ParsedTimestamp, parseTimestampSyntax, resolveTimestamp } from "./time.ts";

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
  /** matchKey(tax_id) when a tax_id is given, else name_key. */
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

// ---------------------------------------------------------------------------
// Field schemas: each runs one pure rule and turns its error into a zod issue.

function field<T>(rule: (input: unknown) => Result<T>) {
  return z.unknown().transform((input, ctx): T => {
    const result = rule(input);
    if (!result.ok) {
      ctx.addIssue({ code: "custom", message: result.error });
      return z.NEVER;
    }
    return result.value;
  });
}

function requiredText(input: unknown): Result<string> {
  const text = readText(input);
  if (!text.ok) return text;
  return text.value === undefined ? reject("is required") : ok(text.value);
}

function requiredSku(input: unknown): Result<string> {
  const text = requiredText(input);
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

const objectError = (issue: { input?: unknown }) =>
  issue.input === undefined || issue.input === null ? "is required" : "must be an object";

const optionalObject = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === null ? undefined : v), schema.optional());

const productSchema = z.object({
  sku: field(requiredSku),
  name: field(requiredText),
  manufacturer: field(requiredText),
  category: field(readText),
  group: field(readText),
  kind: field(readText),
}, { error: objectError });

const supplierSchema = optionalObject(
  z.object({ name: field(readText), tax_id: field(readText) }, { error: objectError })
    .transform((s, ctx) => {
      // A supplier object with nothing in it is no supplier at all.
      if (s.name === undefined && s.tax_id === undefined) return undefined;
      if (s.name === undefined) {
        ctx.addIssue({ code: "custom", message: "is required", path: ["name"] });
        return z.NEVER;
      }
      return { name: s.name, tax_id: s.tax_id };
    }),
);

const locationSchema = z.object({
  name: field(requiredText),
  city: field(requiredText),
  address: field(readText),
}, { error: objectError });

/**
 * The record contract, ingest format v1, in contract field order. Text is cleaned,
 * numbers become exact decimal strings, `occurred_at` is checked for syntax only
 * (reading a time without an offset needs the shop's zone: see normaliseSale).
 * Unknown fields are stripped, never rejected.
 */
export const saleRecordSchema = z.object({
  source: field(requiredText),
  external_id: field(requiredText),
  occurred_at: field<ParsedTimestamp>(parseTimestampSyntax),
  type: field(saleType),
  quantity: field(parseQuantity),
  unit_price: field(parseUnitPrice),
  currency: field(currency),
  product: productSchema,
  supplier: supplierSchema,
  location: locationSchema,
}, { error: (issue) => issue.input === undefined ? "is required" : "must be an object" });

export type SaleRecord = z.output<typeof saleRecordSchema>;

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
 * Validate and normalise one raw record. On failure `error` is one message:
 * the first bad field by contract order ("product.sku: is required"), followed by
 * "; " and any other bad fields. Shop problems are reported on `source`.
 */
export function normaliseSale(payload: unknown, shops: ShopLookup): SaleResult {
  const errors: FieldError[] = [];

  // The shop is checked even when other fields are bad, so that the report is complete.
  let shop: Shop | undefined;
  const isObject = typeof payload === "object" && payload !== null && !Array.isArray(payload);
  if (isObject) {
    const source = requiredText((payload as Record<string, unknown>).source);
    if (source.ok) {
      shop = shops(source.value);
      if (shop === undefined) {
        errors.push({ path: "source", message: `unknown shop ${JSON.stringify(source.value)}` });
      } else if (!shop.active) {
        errors.push({
          path: "source",
          message: `shop ${JSON.stringify(source.value)} is inactive`,
        });
        shop = undefined;
      }
    }
  }

  const parsed = saleRecordSchema.safeParse(isObject ? payload : (payload ?? undefined));
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path.length === 0 ? "record" : issue.path.map(String).join(".");
      errors.push({ path, message: issue.message });
    }
    return rejection(errors);
  }
  if (shop === undefined) return rejection(errors);
  const record = parsed.data;

  const occurredAt = resolveTimestamp(record.occurred_at, shop.timezone);
  if (!occurredAt.ok) {
    return rejection([{
      path: "source",
      message: `shop ${JSON.stringify(shop.code)} has an ${occurredAt.error}`,
    }]);
  }

  const amount = computeAmount(record.quantity, record.unit_price);
  if (!fitsIntegerDigits(amount, AMOUNT_MAX_INTEGER_DIGITS)) {
    return rejection([{
      path: "amount",
      message:
        `quantity * unit_price is too large (at most ${AMOUNT_MAX_INTEGER_DIGITS} digits before the point)`,
    }]);
  }

  const { product, supplier, location } = record;
  const normalisedProduct: NormalisedProduct = {
    sku: product.sku,
    sku_key: matchKey(product.sku),
    name: product.name,
    manufacturer: product.manufacturer,
    manufacturer_key: matchKey(product.manufacturer),
  };
  if (product.category !== undefined) {
    normalisedProduct.category = product.category;
    normalisedProduct.category_key = matchKey(product.category);
  }
  if (product.group !== undefined) {
    normalisedProduct.group = product.group;
    normalisedProduct.group_key = matchKey(product.group);
  }
  if (product.kind !== undefined) {
    normalisedProduct.kind = product.kind;
    normalisedProduct.kind_key = matchKey(product.kind);
  }
  const normalisedLocation: NormalisedLocation = {
    name: location.name,
    name_key: matchKey(location.name),
    city: location.city,
    city_key: matchKey(location.city),
  };
  if (location.address !== undefined) normalisedLocation.address = location.address;

  let normalisedSupplier: NormalisedSupplier | undefined;
  if (supplier !== undefined) {
    const nameKey = matchKey(supplier.name);
    normalisedSupplier = {
      name: supplier.name,
      name_key: nameKey,
      identity_key: supplier.tax_id === undefined ? nameKey : matchKey(supplier.tax_id),
    };
    if (supplier.tax_id !== undefined) normalisedSupplier.tax_id = supplier.tax_id;
  }

  const value: NormalisedSale = {
    source: shop.code,
    external_id: record.external_id,
    occurred_at: occurredAt.value,
    type: record.type,
    quantity: record.quantity,
    unit_price: record.unit_price,
    amount,
    currency: record.currency,
    product: normalisedProduct,
    ...(normalisedSupplier === undefined ? {} : { supplier: normalisedSupplier }),
    location: normalisedLocation,
  };
  return ok(value);
}
