/**
 * Sales records as a shop's CSV feed file (for the import benchmark, the demo and tests): a header
 * of the record's field names, dotted for nested ones (`product.sku`), which map to themselves
 * without a mapping, then one line per record.
 */

/** The CSV columns of a sales record, dotted for nested fields. */
export const saleColumns = [
  "source", "external_id", "occurred_at", "type", "quantity", "unit_price", "currency",
  "product.sku", "product.name", "product.manufacturer", "product.category", "product.group", "product.kind",
  "supplier.name", "supplier.tax_id", "location.name", "location.city", "location.address",
];

/** The text of a (dotted) field of a record; empty when it has none. */
export function cellText(record: Record<string, unknown>, path: string): string {
  let value: unknown = record;
  for (const part of path.split(".")) value = (value as Record<string, unknown> | undefined)?.[part];
  return value === undefined || value === null ? "" : String(value);
}

export function csvCell(text: string, delimiter: string): string {
  return /["\r\n]/.test(text) || text.includes(delimiter) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The header line of a sales CSV file, with its line break. */
export function csvHeader(delimiter = ",", columns = saleColumns): string {
  return columns.join(delimiter) + "\n";
}

/** One line per record, each with its line break (no header). */
export function csvLines(records: Record<string, unknown>[], delimiter = ",", columns = saleColumns): string {
  let text = "";
  for (const record of records) text += columns.map((c) => csvCell(cellText(record, c), delimiter)).join(delimiter) + "\n";
  return text;
}

/** A CSV file (text) of records: a header of dotted field names, then one line per record. */
export function csvOf(records: Record<string, unknown>[], delimiter = ",", columns = saleColumns): string {
  return csvHeader(delimiter, columns) + csvLines(records, delimiter, columns);
}

/**
 * Writes a CSV file of the records `chunks` yields, one chunk at a time, so a file of millions of
 * rows never stands whole in memory. Returns the rows and bytes written.
 */
export async function writeSalesCsv(
  path: string,
  chunks: Iterable<Record<string, unknown>[]>,
  delimiter = ",",
): Promise<{ rows: number; bytes: number }> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const encoder = new TextEncoder();
  let rows = 0;
  let bytes = 0;
  try {
    const write = async (text: string) => {
      const data = encoder.encode(text);
      let at = 0;
      while (at < data.length) at += await file.write(data.subarray(at));
      bytes += data.length;
    };
    await write(csvHeader(delimiter));
    for (const records of chunks) {
      await write(csvLines(records, delimiter));
      rows += records.length;
    }
  } finally {
    file.close();
  }
  return { rows, bytes };
}
