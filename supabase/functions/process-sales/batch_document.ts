/**
 * The fields of the document conveyor.apply_sales_batch takes, declared once for the encoder:
 * each list of the document, its fields in order, and the SQL type of each field's column. The
 * SQL side declares the same lists as composite types (supabase/schemas/40_sales/
 * sales_batch_document.sql); tests/integration/sales_batch_document.test.ts fails when the two
 * disagree on a name, the order or a type.
 */

/** SQL element types of the document's columns (each column is an array of them). */
export type ColumnType = "text" | "integer" | "bigint" | "numeric" | "timestamptz";

export const dictionaryColumns = { key: "text", name: "text", input_id: "bigint" } as const;

export const productColumns = {
  manufacturer: "integer",
  sku: "text",
  name: "text",
  category: "integer",
  group: "integer",
  kind: "integer",
  occurred_at: "timestamptz",
  input_id: "bigint",
} as const;

export const supplierColumns = { key: "text", name: "text", tax_id: "text", input_id: "bigint" } as const;

export const locationColumns = {
  city_key: "text",
  name_key: "text",
  name: "text",
  city: "text",
  address: "text",
  input_id: "bigint",
} as const;

export const saleColumns = {
  input_id: "bigint",
  msg_id: "bigint",
  attempts: "integer",
  source: "text",
  external_id: "text",
  occurred_at: "timestamptz",
  type: "text",
  quantity: "numeric",
  unit_price: "numeric",
  amount: "numeric",
  currency: "text",
  product: "integer",
  supplier: "integer",
  location: "integer",
} as const;

export const unprocessableColumns = { input_id: "bigint", msg_id: "bigint", attempts: "integer", error: "text" } as const;

/** Each list of the document and the composite type the SQL parses it into. */
export const salesBatchLists = {
  manufacturers: { type: "conveyor.sales_batch_dictionary", columns: dictionaryColumns },
  categories: { type: "conveyor.sales_batch_dictionary", columns: dictionaryColumns },
  product_groups: { type: "conveyor.sales_batch_dictionary", columns: dictionaryColumns },
  product_kinds: { type: "conveyor.sales_batch_dictionary", columns: dictionaryColumns },
  products: { type: "conveyor.sales_batch_products", columns: productColumns },
  suppliers: { type: "conveyor.sales_batch_suppliers", columns: supplierColumns },
  locations: { type: "conveyor.sales_batch_locations", columns: locationColumns },
  processed: { type: "conveyor.sales_batch_sales", columns: saleColumns },
  rejected: { type: "conveyor.sales_batch_unprocessable", columns: unprocessableColumns },
  failed: { type: "conveyor.sales_batch_unprocessable", columns: unprocessableColumns },
} as const satisfies Record<string, { type: string; columns: Record<string, ColumnType> }>;

/** The field names of a column declaration, in declared order. */
export function fieldsOf<T extends Record<string, ColumnType>>(columns: T): (keyof T & string)[] {
  return Object.keys(columns) as (keyof T & string)[];
}
