/**
 * From a file's row to a sales record (docs/reference/record-contract.md), pure. A CSV column
 * maps to the field the job's mapping names, or without a mapping to the field its header names
 * (dotted for nested ones: `product.sku`). Empty cells are absent fields. The job's shop fills
 * `source` when the row has none; a row naming another shop is rejected. With `decimal_comma`,
 * `quantity` and `unit_price` are read with a comma before the decimals (`1.499,50` is 1499.50).
 * The record's rules themselves (required fields, numbers, time) stay the sales worker's.
 */

export type Mapping = Record<string, string>;

/** Which record field each CSV column fills (null: the column is not imported). */
export type ColumnPlan = (string | null)[];

export type MappedRow =
  | { ok: true; record: Record<string, unknown> }
  | { ok: false; reason: string };

const numericFields = new Set(["quantity", "unit_price"]);

/**
 * The column plan of a CSV file: from the mapping (keys are header names, or 1-based column
 * numbers when the file has no header), else the header's own names. Throws naming the mapping
 * entry that matches no column of the file.
 */
export function planColumns(header: string[] | null, mapping: Mapping | null, columnCount: number): ColumnPlan {
  if (!mapping) {
    if (!header) throw new Error("mapping: a file without a header needs a mapping of column numbers to record fields");
    return header.map((name) => (name.trim() ? name.trim() : null));
  }
  const plan: ColumnPlan = Array.from({ length: header ? header.length : columnCount }, () => null);
  for (const [column, field] of Object.entries(mapping)) {
    const index = header ? header.findIndex((name) => name.trim() === column.trim()) : Number(column) - 1;
    if (index < 0 || index >= plan.length) {
      throw new Error(
        header
          ? `mapping: column "${column}" is not in the file's header (${header.map((h) => `"${h}"`).join(", ")})`
          : `mapping: column ${column} is past the file's ${columnCount} columns`,
      );
    }
    plan[index] = field;
  }
  return plan;
}

/** Dotted paths split into their parts, once per path (a file has a few, each on every row). */
const splitPaths = new Map<string, string[]>();

function pathParts(path: string): string[] {
  let parts = splitPaths.get(path);
  if (!parts) {
    parts = path.split(".");
    if (splitPaths.size < 1000) splitPaths.set(path, parts);
  }
  return parts;
}

/** Sets a dotted path (`product.sku`) on a record, creating the nested objects. */
function setPath(record: Record<string, unknown>, path: string, value: unknown): void {
  const parts = pathParts(path);
  let target = record;
  for (let i = 0; i < parts.length - 1; i++) {
    const next = target[parts[i]];
    if (typeof next !== "object" || next === null || Array.isArray(next)) target[parts[i]] = {};
    target = target[parts[i]] as Record<string, unknown>;
  }
  target[parts[parts.length - 1]] = value;
}

/** `1 499,50` or `1.499,50` with a decimal comma, as the record contract reads `1499.50`. */
export function decimalCommaNumber(text: string): string {
  return text.replace(/[\s\u00a0\u202f.]/g, "").replace(",", ".");
}

/** Text PostgreSQL cannot hold (a NUL, a lone surrogate): such a row is rejected, not stored raw. */
// deno-lint-ignore no-control-regex
const unstorable = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** A NUL or any surrogate: the cheap test, before the exact one above (most text has neither). */
// deno-lint-ignore no-control-regex
const nulOrSurrogate = /[\u0000\ud800-\udfff]/;

function isUnstorable(text: string): boolean {
  return nulOrSurrogate.test(text) && unstorable.test(text);
}

function findUnstorable(value: unknown, path: string): string | null {
  if (typeof value === "string") return isUnstorable(value) ? path : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnstorable(value[i], `${path}[${i}]`);
      if (found) return found;
    }
    return null;
  }
  if (typeof value === "object" && value !== null) {
    for (const [key, inner] of Object.entries(value)) {
      if (isUnstorable(key)) return path ? `${path}.${key}` : key;
      const found = findUnstorable(inner, path ? `${path}.${key}` : key);
      if (found) return found;
    }
  }
  return null;
}

/** The shop rule shared by every format: fill `source`, refuse another shop. */
function withShop(record: Record<string, unknown>, shop: string): MappedRow {
  const source = record.source;
  if (source === undefined || source === null || (typeof source === "string" && source.trim() === "")) {
    record.source = shop;
  } else if (typeof source !== "string" || source.trim() !== shop) {
    return { ok: false, reason: `source: names shop ${JSON.stringify(source)}, not the job's shop "${shop}"` };
  }
  const bad = findUnstorable(record, "");
  if (bad) return { ok: false, reason: `${bad}: holds a NUL character or a lone surrogate, which PostgreSQL cannot store` };
  return { ok: true, record };
}

export interface RowContext {
  shop: string;
  decimalComma: boolean;
}

/** A CSV row to a record; a row whose column count differs from the header's is rejected. */
export function mapCsvRow(fields: string[], plan: ColumnPlan, expectedColumns: number, context: RowContext): MappedRow {
  if (fields.length !== expectedColumns) {
    return { ok: false, reason: `wrong column count: ${fields.length} columns, the file has ${expectedColumns}` };
  }
  const record: Record<string, unknown> = {};
  for (let i = 0; i < fields.length; i++) {
    const field = plan[i];
    if (!field) continue;
    const value = fields[i];
    if (value.trim() === "") continue;
    setPath(record, field, context.decimalComma && numericFields.has(field) ? decimalCommaNumber(value) : value);
  }
  return withShop(record, context.shop);
}

/** An NDJSON or JSON record: the mapping renames top-level keys (others are kept as they are). */
export function mapObject(value: Record<string, unknown>, mapping: Mapping | null, context: RowContext): MappedRow {
  let record: Record<string, unknown>;
  if (mapping) {
    record = {};
    for (const [key, inner] of Object.entries(value)) {
      const field = mapping[key];
      if (field) setPath(record, field, inner);
      else record[key] = inner;
    }
  } else {
    record = { ...value };
  }
  if (context.decimalComma) {
    for (const field of numericFields) {
      if (typeof record[field] === "string") record[field] = decimalCommaNumber(record[field] as string);
    }
  }
  return withShop(record, context.shop);
}
