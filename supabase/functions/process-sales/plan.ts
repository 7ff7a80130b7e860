/**
 * Planning one batch, purely: each queued message becomes a normalised row to persist, a
 * rejection (a rule broken: the message names the field), a failure (attempts exhausted: dead
 * letter), nothing to do (its staging row is already finished: a duplicate delivery), or left for
 * a later read (no staging row visible yet).
 * The result is the document etl.apply_sales_batch takes.
 */
import { normaliseSale, type NormalisedSale } from "../_shared/normalise/sale.ts";

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

export interface ShopRecord {
  code: string;
  timezone: string;
  active: boolean;
}

/** One row of etl.normalised_sale; field names are the SQL type's. */
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

/** A supplier is its tax id when it has one, else its name. */
export function supplierIdentity(supplier: { name_key: string; tax_id?: string }): string {
  return supplier.tax_id ? `tax:${supplier.tax_id}` : `name:${supplier.name_key}`;
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
): ApplyBatch {
  const batch: ApplyBatch = { processed: [], rejected: [], failed: [], done_msg_ids: [] };
  const lookup = (code: string) => shops.get(code);
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
    const result = normaliseSale(message.payload, lookup);
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
