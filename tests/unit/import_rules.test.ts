/**
 * The pure rules of imports: reading CSV, NDJSON and JSON-array bytes into rows with exact end
 * offsets and line numbers, mapping rows to the record contract, staging rows as COPY text, and
 * the CLI's helpers.
 */
import assert from "node:assert/strict";
import { formatFromName, parseMapping } from "../../lib/import_job.ts";
import { etaSeconds, formatBytes } from "../../lib/progress_bar.ts";
import { requestedRange } from "../../lib/file_server.ts";
import { CsvRowReader } from "../../supabase/functions/process-import/csv_rows.ts";
import type { FileItem, FileReader } from "../../supabase/functions/process-import/file_items.ts";
import { NdjsonReader } from "../../supabase/functions/process-import/file_items.ts";
import { JsonArrayReader } from "../../supabase/functions/process-import/json_array.ts";
import { decimalCommaNumber, mapCsvRow, mapObject, planColumns } from "../../supabase/functions/process-import/record_mapping.ts";
import { copyLine, copyValue } from "../../supabase/functions/process-import/staging_copy.ts";
import { parseImportJobRequest } from "../../supabase/functions/import/job_request.ts";

async function readAll(reader: FileReader, bytes: Uint8Array, pieceSize = 7): Promise<FileItem[]> {
  const items: FileItem[] = [];
  for (let i = 0; i < bytes.length; i += pieceSize) items.push(...reader.push(bytes.subarray(i, i + pieceSize)));
  items.push(...await reader.end());
  return items;
}

const encode = (text: string) => new TextEncoder().encode(text);

Deno.test("CSV rows carry the byte after them and their first line, whatever the pieces the bytes came in", async () => {
  const text = '\ufeffa,b\r\n1,"x\ny"\r\n\r\n2,Ёж\n3,"open\n';
  const bytes = encode(text);
  for (const piece of [1, 3, 7, 1000]) {
    const items = await readAll(new CsvRowReader({ delimiter: ",", encoding: "utf-8", atFileStart: true }), bytes, piece);
    assert.deepEqual(items.map((i) => [i.kind, i.line, i.endOffset]), [
      ["row", 1, 8],
      ["row", 2, 17],
      ["row", 5, 26],
      ["malformed", 6, bytes.length],
    ], `pieces of ${piece}`);
    assert.deepEqual((items[1] as { fields: string[] }).fields, ["1", "x\ny"]);
    assert.deepEqual((items[2] as { fields: string[] }).fields, ["2", "Ёж"]);
    assert.equal((items[3] as { reason: string }).reason, "a quote opened here is never closed");
  }
});

Deno.test("a CSV field that is not valid in the file's encoding makes its row malformed", async () => {
  const bytes = new Uint8Array([...encode("a,b\n1,"), 0xc3, 0x28, ...encode("\n2,ok\n")]);
  const items = await readAll(new CsvRowReader({ delimiter: ",", encoding: "utf-8", atFileStart: true }), bytes);
  assert.deepEqual(items.map((i) => i.kind), ["row", "malformed", "row"]);
  assert.match((items[1] as { reason: string }).reason, /column 2: bytes that are not valid utf-8/);
  const cp1251 = await readAll(new CsvRowReader({ delimiter: ";", encoding: "windows-1251", atFileStart: true }), new Uint8Array([0xc0, 0x3b, 0xff, 0x0a]));
  assert.deepEqual((cp1251[0] as { fields: string[] }).fields, ["А", "я"]);
  // fields longer and shorter than the ones before them, in one row and across rows
  const long = "Дисплей ".repeat(100);
  const mixed = await readAll(new CsvRowReader({ delimiter: ",", encoding: "utf-8", atFileStart: true }), encode(`${long},Ёж\nя,${long}ü\n`), 1000);
  assert.deepEqual(mixed.map((i) => (i as { fields: string[] }).fields), [[long, "Ёж"], ["я", `${long}ü`]]);
});

Deno.test("NDJSON lines and JSON-array elements end at exact offsets; bad ones are malformed", async () => {
  const ndjson = encode('{"a":1}\n\nnot json\n[2]\n{"b":"é"}');
  const lines = await readAll(new NdjsonReader("utf-8"), ndjson, 3);
  assert.deepEqual(lines.map((i) => [i.kind, i.line, i.endOffset]), [
    ["object", 1, 8], ["malformed", 3, 18], ["malformed", 4, 22], ["object", 5, ndjson.length],
  ]);
  const json = encode('[\n {"a": "x]y\\"}"},\n {"b": [1, {"c": 2}]} ,\n 3,\n {"broken": }\n]\n');
  const elements = await readAll(new JsonArrayReader("utf-8"), json, 2);
  assert.deepEqual(elements.map((i) => [i.kind, i.line]), [["object", 2], ["object", 3], ["object", 4], ["malformed", 5]]);
  assert.deepEqual((elements[0] as { value: unknown }).value, { a: 'x]y"}' });
  // resumed after the first element, a reader finds the same elements that follow it
  const resumed = await readAll(new JsonArrayReader("utf-8", true), json.subarray(elements[0].endOffset), 5);
  assert.deepEqual(resumed.map((i) => (i.kind === "object" ? i.value : i.kind)), [{ b: [1, { c: 2 }] }, 3, "malformed"]);
  await assert.rejects(readAll(new JsonArrayReader("utf-8"), encode('{"a": 1}')), /format json: the file is not a JSON array/);
});

Deno.test("a CSV row maps to the record: header names dotted, empty cells absent, the job's shop as source", () => {
  const header = ["external_id", "product.sku", "quantity", "note"];
  const plan = planColumns(header, null, header.length);
  assert.deepEqual(mapCsvRow(["A-1", "sku", "2", ""], plan, 4, { shop: "moba", decimalComma: false }), {
    ok: true,
    record: { external_id: "A-1", product: { sku: "sku" }, quantity: "2", source: "moba" },
  });
  assert.deepEqual(mapCsvRow(["A-1", "sku"], plan, 4, { shop: "moba", decimalComma: false }), {
    ok: false,
    reason: "wrong column count: 2 columns, the file has 4",
  });
  const mapped = planColumns(["Код", "Цена"], { "Цена": "unit_price", "Код": "external_id" }, 2);
  assert.deepEqual(mapped, ["external_id", "unit_price"]);
  assert.deepEqual(mapCsvRow(["B-2", "1.499,50"], mapped, 2, { shop: "moba", decimalComma: true }), {
    ok: true,
    record: { external_id: "B-2", unit_price: "1499.50", source: "moba" },
  });
  assert.throws(() => planColumns(["a"], { b: "external_id" }, 1), /^Error: mapping: column "b" is not in the file's header \("a"\)$/);
  assert.throws(() => planColumns(null, null, 3), /a file without a header needs a mapping/);
  assert.deepEqual(planColumns(null, { "2": "external_id" }, 3), [null, "external_id", null]);
});

Deno.test("a record naming another shop, or text PostgreSQL cannot store, is refused naming the field", () => {
  const context = { shop: "moba", decimalComma: false };
  assert.deepEqual(mapObject({ source: "gsmcenter" }, null, context), { ok: false, reason: 'source: names shop "gsmcenter", not the job\'s shop "moba"' });
  assert.deepEqual(mapObject({ source: " moba " }, null, context), { ok: true, record: { source: " moba " } });
  assert.deepEqual(mapObject({ product: { name: "a\u0000b" } }, null, context), {
    ok: false,
    reason: "product.name: holds a NUL character or a lone surrogate, which PostgreSQL cannot store",
  });
  assert.deepEqual(mapObject({ product: { name: "ok 📱" } }, null, context), { ok: true, record: { product: { name: "ok 📱" }, source: "moba" } });
  for (const lone of ["a\ud83d", "\udcf1b", "\udcf1\ud83d"]) {
    assert.deepEqual(mapObject({ product: { name: lone } }, null, context), {
      ok: false,
      reason: "product.name: holds a NUL character or a lone surrogate, which PostgreSQL cannot store",
    });
  }
  assert.equal((mapObject({ ["k\ud83d"]: "1" }, null, context) as { reason: string }).reason.startsWith("k\ud83d: holds"), true);
  assert.deepEqual(mapObject({ Код: "1" }, { "Код": "external_id" }, context), { ok: true, record: { external_id: "1", source: "moba" } });
  assert.equal(decimalCommaNumber("12 000,5"), "12000.5");
});

Deno.test("a staging row is one line of COPY text: backslashes, tabs and line breaks escaped, no error as \\N", () => {
  assert.equal(copyValue("C:\\new\ttab\r\nline"), "C:\\\\new\\ttab\\r\\nline");
  assert.equal(copyValue("plain"), "plain");
  assert.equal(copyValue(null), "\\N");
  assert.equal(copyValue("\\N"), "\\\\N");
  assert.equal(
    copyLine({ payload: JSON.stringify({ name: 'a\\b "c"\n' }), status: "received", error: null }),
    '{"name":"a\\\\\\\\b \\\\"c\\\\"\\\\n"}\treceived\t\\N\n',
  );
  assert.equal(
    copyLine({ payload: "{}", status: "rejected", error: "line 2: not JSON:\t{x\n" }),
    "{}\trejected\tline 2: not JSON:\\t{x\\n\n",
  );
});

Deno.test("the CLI's and the API's helpers read their input and name what is wrong", () => {
  assert.deepEqual(parseMapping("Артикул=product.sku, Цена = unit_price"), { "Артикул": "product.sku", "Цена": "unit_price" });
  assert.throws(() => parseMapping("sku"), /"sku" is not column=field/);
  assert.equal(formatFromName("/x/feed.JSONL"), "ndjson");
  assert.equal(formatFromName("https://h/a.json?token=1"), "json");
  assert.equal(formatFromName("a.txt"), "csv");
  assert.equal(formatBytes(1536), "1.5 KB");
  assert.equal(etaSeconds(50, 100, 10), 10);
  assert.equal(etaSeconds(0, null, 1), null);
  assert.deepEqual(requestedRange("bytes=5-", 10), { start: 5, end: 9 });
  assert.equal(requestedRange("bytes=10-", 10), null);
  assert.deepEqual(parseImportJobRequest({ shop: "moba", source_url: "gopher://x" }), {
    ok: false,
    error: "source_url: must be an http or https URL (a Storage object: a signed URL)",
  });
  assert.equal(parseImportJobRequest({ shop: "moba", source_url: "https://x/a.csv" }).ok, true);
});
