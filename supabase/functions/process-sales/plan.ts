/**
 * Planning one batch, purely: each queued message becomes a normalised row to persist, a
 * rejection (a rule broken: the message names the field), a failure (attempts exhausted: dead
 * letter), nothing to do (its staging row is already finished: a duplicate delivery), or left for
 * a later read (no staging row visible yet).
 * `encodeSalesBatch` then merges the plan into entries named once, and `salesBatchDocument` turns
 * those into the columnar document conveyor.apply_sales_batch takes.
 */
import type { Tables } from "../_shared/database.types.ts";
import { normaliseSale, type NormalisedSale, supplierIdentity } from "../_shared/normalise/sale.ts";
import {
  dictionaryColumns,
  fieldsOf,
  locationColumns,
  productColumns,
  saleColumns,
  supplierColumns,
  unprocessableColumns,
} from "./batch_document.ts";
import { occurredAtBounds, type OccurredAtWindow } from "../_shared/normalise/time.ts";

export interface QueuedSale {
  msgId: number;
  readCount: number;
  /** The message is not {"id": <staging id>}: nothing to process, it is dropped. */
  malformed?: boolean;
  inputId: number | null;
  status: string | null;
  payload: unknown;
  lastError: string | null;
}

/** A shop as the rules need it (a row of public.shops). */
export type ShopRecord = Pick<Tables<"shops">, "code" | "timezone" | "active">;

/** One validated, normalised sale with everything it names, before encoding. */
export interface NormalisedSaleRow {
  input_id: number;
  msg_id: number;
  attempts: number;
  source: string;
  external_id: string;
  occurred_at: string;
  type: string;
  quantity: string;
  unit_price: string;
  amount: string;
  currency: string;
  manufacturer: string;
  manufacturer_key: string;
  sku: string;
  product_name: string;
  category: string | null;
  category_key: string | null;
  product_group: string | null;
  group_key: string | null;
  kind: string | null;
  kind_key: string | null;
  supplier_name: string | null;
  supplier_tax_id: string | null;
  supplier_key: string | null;
  location_name: string;
  location_key: string;
  city: string;
  city_key: string;
  address: string | null;
}

export interface UnprocessableSale {
  input_id: number;
  msg_id: number;
  attempts: number;
  error: string;
}

export interface ApplyBatch {
  processed: NormalisedSaleRow[];
  rejected: UnprocessableSale[];
  failed: UnprocessableSale[];
  done_msg_ids: number[];
}

export function toNormalisedSaleRow(sale: NormalisedSale, message: QueuedSale & { inputId: number }): NormalisedSaleRow {
  const { product, supplier, location } = sale;
  return {
    input_id: message.inputId,
    msg_id: message.msgId,
    attempts: message.readCount,
    source: sale.source,
    external_id: sale.external_id,
    occurred_at: sale.occurred_at,
    type: sale.type,
    quantity: sale.quantity,
    unit_price: sale.unit_price,
    amount: sale.amount,
    currency: sale.currency,
    manufacturer: product.manufacturer,
    manufacturer_key: product.manufacturer_key,
    sku: product.sku,
    product_name: product.name,
    category: product.category ?? null,
    category_key: product.category_key ?? null,
    product_group: product.group ?? null,
    group_key: product.group_key ?? null,
    kind: product.kind ?? null,
    kind_key: product.kind_key ?? null,
    supplier_name: supplier?.name ?? null,
    supplier_tax_id: supplier?.tax_id ?? null,
    supplier_key: supplier ? supplierIdentity(supplier) : null,
    location_name: location.name,
    location_key: location.name_key,
    city: location.city,
    city_key: location.city_key,
    address: location.address ?? null,
  };
}

export function planSalesBatch(
  messages: QueuedSale[],
  shops: ReadonlyMap<string, ShopRecord>,
  maxAttempts: number,
  occurredAtWindow: OccurredAtWindow,
): ApplyBatch {
  const batch: ApplyBatch = { processed: [], rejected: [], failed: [], done_msg_ids: [] };
  const lookup = (code: string) => shops.get(code);
  const bounds = occurredAtBounds(occurredAtWindow, Date.now());
  for (const message of messages) {
    if (message.malformed) {
      batch.done_msg_ids.push(message.msgId);
      continue;
    }
    if (message.inputId === null) {
      // No staging row for this message. Leave it for another read (its row may not be visible
      // yet); after the last attempt it is a stray and is dropped.
      if (message.readCount > maxAttempts) batch.done_msg_ids.push(message.msgId);
      continue;
    }
    if (message.status !== "received") {
      batch.done_msg_ids.push(message.msgId); // a duplicate delivery of a finished record
      continue;
    }
    const identified = { ...message, inputId: message.inputId };
    if (message.readCount > maxAttempts) {
      batch.failed.push({
        input_id: message.inputId,
        msg_id: message.msgId,
        attempts: message.readCount - 1,
        error: `gave up after ${message.readCount - 1} attempts: ${message.lastError ?? "the worker stopped before finishing the batch"}`,
      });
      continue;
    }
    const result = normaliseSale(message.payload, lookup, bounds);
    if (result.ok) {
      batch.processed.push(toNormalisedSaleRow(result.value, identified));
    } else {
      batch.rejected.push({ input_id: message.inputId, msg_id: message.msgId, attempts: message.readCount, error: result.error });
    }
  }
  return batch;
}

/**
 * Splits a batch in two for isolating a record the database refuses: the first half keeps the
 * rejections, failures and finished messages, the second only normalised rows.
 */
export function splitBatch(batch: ApplyBatch): [ApplyBatch, ApplyBatch] {
  const middle = Math.ceil(batch.processed.length / 2);
  return [
    { ...batch, processed: batch.processed.slice(0, middle) },
    { processed: batch.processed.slice(middle), rejected: [], failed: [], done_msg_ids: [] },
  ];
}

// ---------------------------------------------------------------------------------------------
// What the document conveyor.apply_sales_batch takes holds: each dictionary value, product, supplier and
// location once, and each sale referring to its product, supplier and location by 1-based position. The
// merging here only makes the document small; the SQL applies the same rules to whatever it gets.

export interface DictionaryEntry {
  key: string;
  name: string;
  input_id: number;
}

/** A product as the document carries it: positions (1-based) for its dictionary values. */
export interface BatchProduct {
  manufacturer: number;
  sku: string;
  name: string;
  category: number | null;
  group: number | null;
  kind: number | null;
  occurred_at: string;
  input_id: number;
}

export interface BatchSupplier {
  key: string;
  name: string;
  tax_id: string | null;
  input_id: number;
}

export interface BatchLocation {
  city_key: string;
  name_key: string;
  name: string;
  city: string;
  address: string | null;
  input_id: number;
}

/** A sale as the document carries it: its own fields, and positions for what it names. */
export type BatchSale =
  & Pick<
    NormalisedSaleRow,
    | "input_id"
    | "msg_id"
    | "attempts"
    | "source"
    | "external_id"
    | "occurred_at"
    | "type"
    | "quantity"
    | "unit_price"
    | "amount"
    | "currency"
  >
  & {
    /** Positions (1-based) in the document's products, suppliers and locations. */
    product: number;
    supplier: number | null;
    location: number;
  };

export interface EncodedSalesBatch {
  manufacturers: DictionaryEntry[];
  categories: DictionaryEntry[];
  product_groups: DictionaryEntry[];
  product_kinds: DictionaryEntry[];
  products: BatchProduct[];
  suppliers: BatchSupplier[];
  locations: BatchLocation[];
  processed: BatchSale[];
  rejected: UnprocessableSale[];
  failed: UnprocessableSale[];
  done_msg_ids: number[];
}

/** Entries by key, each kept once, in the order first seen; positions are 1-based. */
class Entries<T> {
  readonly list: T[] = [];
  readonly #positions = new Map<string, number>();

  /** The position of `key`'s entry, 0 when there is none yet. */
  positionOf(key: string): number {
    return this.#positions.get(key) ?? 0;
  }

  add(key: string, entry: T): number {
    this.list.push(entry);
    this.#positions.set(key, this.list.length);
    return this.list.length;
  }

  at(position: number): T {
    return this.list[position - 1];
  }

  replace(position: number, entry: T): void {
    this.list[position - 1] = entry;
  }
}

/** A dictionary value, by its position: the name of the lowest staging id wins. */
function putName(entries: Entries<DictionaryEntry>, key: string, name: string, inputId: number): number {
  const position = entries.positionOf(key);
  if (position === 0) return entries.add(key, { key, name, input_id: inputId });
  const kept = entries.at(position);
  if (inputId < kept.input_id) {
    kept.name = name;
    kept.input_id = inputId;
  }
  return position;
}

/** An optional dictionary value: its position, or null when the record has none. */
function putOptionalName(entries: Entries<DictionaryEntry>, key: string | null, name: string | null, inputId: number): number | null {
  return key === null || name === null ? null : putName(entries, key, name, inputId);
}

/** True when record (occurredAt, inputId) is later than the kept one: occurred_at, then staging id. */
const isLater = (occurredAt: string, inputId: number, kept: { occurred_at: string; input_id: number }) =>
  occurredAt > kept.occurred_at || (occurredAt === kept.occurred_at && inputId > kept.input_id);

export function encodeSalesBatch(plan: ApplyBatch): EncodedSalesBatch {
  const manufacturers = new Entries<DictionaryEntry>();
  const categories = new Entries<DictionaryEntry>();
  const groups = new Entries<DictionaryEntry>();
  const kinds = new Entries<DictionaryEntry>();
  const products = new Entries<BatchProduct>();
  const suppliers = new Entries<BatchSupplier>();
  const locations = new Entries<BatchLocation>();
  const processed: BatchSale[] = [];
  // Addresses come from the lowest staging id that has one, names from the lowest overall.
  const addressFrom = new Map<BatchLocation, number>();

  for (const row of plan.processed) {
    const id = row.input_id;
    const manufacturer = putName(manufacturers, row.manufacturer_key, row.manufacturer, id);
    const category = putOptionalName(categories, row.category_key, row.category, id);
    const group = putOptionalName(groups, row.group_key, row.product_group, id);
    const kind = putOptionalName(kinds, row.kind_key, row.kind, id);

    // A product takes the attributes of its latest record.
    const productKey = `${manufacturer}\u0000${row.sku}`;
    let product = products.positionOf(productKey);
    const keptProduct = product === 0 ? undefined : products.at(product);
    if (keptProduct === undefined || isLater(row.occurred_at, id, keptProduct)) {
      const entry: BatchProduct = {
        manufacturer,
        sku: row.sku,
        name: row.product_name,
        category,
        group,
        kind,
        occurred_at: row.occurred_at,
        input_id: id,
      };
      if (keptProduct === undefined) product = products.add(productKey, entry);
      else products.replace(product, entry);
    }

    let supplier: number | null = null;
    if (row.supplier_key !== null) {
      supplier = suppliers.positionOf(row.supplier_key);
      if (supplier === 0) {
        supplier = suppliers.add(row.supplier_key, { key: row.supplier_key, name: row.supplier_name!, tax_id: row.supplier_tax_id, input_id: id });
      } else {
        const kept = suppliers.at(supplier);
        if (id < kept.input_id) Object.assign(kept, { name: row.supplier_name!, tax_id: row.supplier_tax_id, input_id: id });
      }
    }

    const locationKey = `${row.city_key}\u0000${row.location_key}`;
    let location = locations.positionOf(locationKey);
    if (location === 0) {
      const entry: BatchLocation = {
        city_key: row.city_key,
        name_key: row.location_key,
        name: row.location_name,
        city: row.city,
        address: row.address,
        input_id: id,
      };
      if (row.address !== null) addressFrom.set(entry, id);
      location = locations.add(locationKey, entry);
    } else {
      const kept = locations.at(location);
      if (id < kept.input_id) Object.assign(kept, { name: row.location_name, city: row.city, input_id: id });
      const keptAddressFrom = addressFrom.get(kept);
      if (row.address !== null && (keptAddressFrom === undefined || id < keptAddressFrom)) {
        kept.address = row.address;
        addressFrom.set(kept, id);
      }
    }

    processed.push({
      input_id: id,
      msg_id: row.msg_id,
      attempts: row.attempts,
      source: row.source,
      external_id: row.external_id,
      occurred_at: row.occurred_at,
      type: row.type,
      quantity: row.quantity,
      unit_price: row.unit_price,
      amount: row.amount,
      currency: row.currency,
      product,
      supplier,
      location,
    });
  }
  return {
    manufacturers: manufacturers.list,
    categories: categories.list,
    product_groups: groups.list,
    product_kinds: kinds.list,
    products: products.list,
    suppliers: suppliers.list,
    locations: locations.list,
    processed,
    rejected: plan.rejected,
    failed: plan.failed,
    done_msg_ids: plan.done_msg_ids,
  };
}

// ---------------------------------------------------------------------------------------------
// The document on the wire is columnar: each list is one object of columns, entry i being the
// i-th element of every column. Keys are written once per list instead of once per entry, which
// halves the text and makes it several times cheaper for PostgreSQL to parse (docs/decisions/columnar-batch-document.md).

/** A list as columns: for each field of T, the array of that field's values in entry order. */
export type Columns<T> = { [K in keyof T]: T[K][] };

/** Transposes entries into columns, one per field named (all of them, even for no entries). */
export function toColumns<T extends object, K extends keyof T>(entries: readonly T[], fields: readonly K[]): Columns<Pick<T, K>> {
  const columns = {} as Columns<Pick<T, K>>;
  for (const field of fields) columns[field] = entries.map((entry) => entry[field]);
  return columns;
}

// The fields of each list, in the order batch_document.ts declares them (the SQL's order).
const dictionaryFields = fieldsOf(dictionaryColumns) satisfies (keyof DictionaryEntry)[];
const productFields = fieldsOf(productColumns) satisfies (keyof BatchProduct)[];
const supplierFields = fieldsOf(supplierColumns) satisfies (keyof BatchSupplier)[];
const locationFields = fieldsOf(locationColumns) satisfies (keyof BatchLocation)[];
const saleFields = fieldsOf(saleColumns) satisfies (keyof BatchSale)[];
const unprocessableFields = fieldsOf(unprocessableColumns) satisfies (keyof UnprocessableSale)[];

/** The document conveyor.apply_sales_batch takes: every list of an encoded batch as columns. */
export interface SalesBatchDocument {
  manufacturers: Columns<DictionaryEntry>;
  categories: Columns<DictionaryEntry>;
  product_groups: Columns<DictionaryEntry>;
  product_kinds: Columns<DictionaryEntry>;
  products: Columns<BatchProduct>;
  suppliers: Columns<BatchSupplier>;
  locations: Columns<BatchLocation>;
  processed: Columns<BatchSale>;
  rejected: Columns<UnprocessableSale>;
  failed: Columns<UnprocessableSale>;
  done_msg_ids: number[];
}

export function salesBatchDocument(batch: EncodedSalesBatch): SalesBatchDocument {
  return {
    manufacturers: toColumns(batch.manufacturers, dictionaryFields),
    categories: toColumns(batch.categories, dictionaryFields),
    product_groups: toColumns(batch.product_groups, dictionaryFields),
    product_kinds: toColumns(batch.product_kinds, dictionaryFields),
    products: toColumns(batch.products, productFields),
    suppliers: toColumns(batch.suppliers, supplierFields),
    locations: toColumns(batch.locations, locationFields),
    processed: toColumns(batch.processed, saleFields),
    rejected: toColumns(batch.rejected, unprocessableFields),
    failed: toColumns(batch.failed, unprocessableFields),
    done_msg_ids: batch.done_msg_ids,
  };
}
