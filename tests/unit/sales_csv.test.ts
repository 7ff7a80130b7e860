/**
 * The sales CSV feed files the import benchmark and the demo write: written chunk by chunk, the
 * file is exactly the one csvOf makes of all the records at once, and its counts are right.
 */
import assert from "node:assert/strict";
import { csvOf, writeSalesCsv } from "../../lib/sales_csv.ts";
import { generateSales } from "../../lib/sales_sample.ts";

Deno.test("a CSV file written in chunks is the file of all its records at once", async () => {
  const records = generateSales({ count: 2_500, seed: 5, runId: "csv-chunks" });
  const chunks = [records.slice(0, 1_000), records.slice(1_000, 1_001), records.slice(1_001)];
  const directory = await Deno.makeTempDir({ prefix: "sales-csv-" });
  try {
    const path = `${directory}/feed.csv`;
    const written = await writeSalesCsv(path, chunks);
    const bytes = await Deno.readFile(path);
    assert.equal(written.rows, 2_500);
    assert.equal(written.bytes, bytes.length);
    assert.equal(new TextDecoder().decode(bytes), csvOf(records));
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("cells holding the delimiter, quotes or line breaks are quoted", () => {
  const text = csvOf([{ external_id: 'a,"b"', product: { name: "two\nlines" } }], ",", ["external_id", "product.name", "currency"]);
  assert.equal(text, 'external_id,product.name,currency\n"a,""b""","two\nlines",\n');
});
