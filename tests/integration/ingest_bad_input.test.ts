/**
 * The bad-input corpus, over real HTTP against the running stack. Each case says what a client
 * sends, the answer it gets, the message naming the field, and what is stored:
 *  - refused at the envelope (4xx): nothing at all is stored;
 *  - accepted at the envelope but breaking a rule: stored, and after the worker drained it the
 *    staging row is `rejected` with an error naming the field (kept, replayable);
 *  - accepted and processed: the operations it makes (distinct ids stay distinct, replays merge).
 * The worker-side cases go in one request, and the test waits for the drain with a deadline.
 */
import assert from "node:assert/strict";
import { database, env, prepareShops, saleRecord, uniqueTag } from "../support/pipeline.ts";
import { waitFor } from "../support/waiting.ts";
import { endClient } from "../support/connections.ts";

const run = uniqueTag("corpus");
/** Every envelope case's body carries this, so "nothing stored" is one query over all of them. */
const refusedTag = `${run}-refused`;

const record = (n: number, overrides: Record<string, unknown> = {}) =>
  saleRecord(refusedTag, n, overrides);
const json = (value: unknown) => JSON.stringify(value);
/** A valid record's JSON with `fragment` spliced in as extra fields (raw JSON text, escapes kept). */
const withRaw = (n: number, fragment: string, overrides: Record<string, unknown> = {}) =>
  json(record(n, overrides)).replace(/^\{/, `{${fragment},`);
const nested = (levels: number) => "[".repeat(levels) + "]".repeat(levels);

type Body = string | Uint8Array;

interface EnvelopeCase {
  name: string;
  body: Body | (() => Body);
  contentType?: string | null;
  key?: string | null;
  method?: string;
  status: number;
  error: RegExp;
}

const validKey = () => env.SERVICE_ROLE_KEY;

const envelopeCases: EnvelopeCase[] = [
  // Malformed bodies
  { name: "malformed JSON", body: `[{"source": "moba", "external_id": "${refusedTag}"`, status: 400, error: /^body: not valid JSON$/ },
  { name: "a stray brace", body: `[{]${refusedTag}`, status: 400, error: /^body: not valid JSON$/ },
  { name: "an empty body", body: "", status: 400, error: /^body: not valid JSON$/ },
  { name: "trailing garbage after the array", body: `[${json(record(1))}] ${refusedTag}`, status: 400, error: /^body: not valid JSON$/ },
  { name: "single quotes", body: `[{'source': 'moba', 'external_id': '${refusedTag}'}]`, status: 400, error: /^body: not valid JSON$/ },
  { name: "NaN as a value", body: withRaw(1, `"quantity": NaN`).replace(/^/, "[") + "]", status: 400, error: /^body: not valid JSON$/ },
  { name: "a raw control character inside a string", body: `[{"source": "moba", "external_id": "${refusedTag}\u0001"}]`, status: 400, error: /^body: not valid JSON$/ },
  { name: "an empty array", body: "[]", status: 400, error: /^body: must hold at least one record$/ },
  { name: "an object instead of an array", body: json(record(1)), status: 400, error: /^body: must be a JSON array of records$/ },
  { name: "null instead of an array", body: "null", status: 400, error: /^body: must be a JSON array of records$/ },
  { name: "a string instead of an array", body: json(refusedTag), status: 400, error: /^body: must be a JSON array of records$/ },
  {
    name: "invalid UTF-8",
    body: () => new Uint8Array([...new TextEncoder().encode(`[{"source":"moba","external_id":"${refusedTag}`), 0xc3, 0x28, 0x22, 0x7d, 0x5d]),
    status: 400,
    error: /^body: not valid UTF-8$/,
  },
  // Records that are not objects, and the two envelope fields
  { name: "a number as a record", body: json([record(1), 42]), status: 400, error: /^records\[1\]: must be an object$/ },
  { name: "an array as a record", body: json([[record(1)]]), status: 400, error: /^records\[0\]: must be an object$/ },
  { name: "null as a record", body: json([record(1), null]), status: 400, error: /^records\[1\]: must be an object$/ },
  { name: "a missing source", body: json([{ ...record(1), source: undefined }]), status: 400, error: /^records\[0\]\.source: must be a non-empty string$/ },
  { name: "a numeric source", body: json([record(1, { source: 7 })]), status: 400, error: /^records\[0\]\.source: must be a non-empty string$/ },
  { name: "a blank source", body: json([record(1, { source: " \t " })]), status: 400, error: /^records\[0\]\.source: must be a non-empty string$/ },
  { name: "a missing external_id", body: json([record(1), { ...record(2), external_id: undefined }]), status: 400, error: /^records\[1\]\.external_id: must be a non-empty string$/ },
  { name: "a numeric external_id", body: json([record(1, { external_id: 1001 })]), status: 400, error: /^records\[0\]\.external_id: must be a non-empty string$/ },
  { name: "an external_id of ideographic spaces", body: json([record(1, { external_id: "\u3000\u3000" })]), status: 400, error: /^records\[0\]\.external_id: must be a non-empty string$/ },
  { name: "a huge number as external_id (1e999 is Infinity)", body: `[${withRaw(1, `"x": 1`).replace(/"external_id":"[^"]*"/, `"external_id":1e999`)}]`, status: 400, error: /^records\[0\]\.external_id: must be a non-empty string$/ },
  { name: "a duplicate key whose last value is not a string", body: `[${withRaw(1, `"pad": 0`).replace(/\}$/, `,"source": false}`)}]`, status: 400, error: /^records\[0\]\.source: must be a non-empty string$/ },
  // Text PostgreSQL cannot hold: NUL and lone surrogates, in values, keys, arrays, JSON and NDJSON
  { name: "a NUL in product.name", body: `[${json(record(1))},${json(record(2, { product: { sku: "x", name: "a\u0000b", manufacturer: "m" } }))}]`, status: 400, error: /^records\[1\]\.product\.name: contains a NUL character \(\\u0000\), which PostgreSQL text cannot hold$/ },
  { name: "a NUL in external_id", body: json([record(1, { external_id: `${refusedTag}\u0000` })]), status: 400, error: /^records\[0\]\.external_id: contains a NUL character/ },
  { name: "a lone high surrogate in location.city", body: `[${withRaw(1, `"location": {"name": "a", "city": "\\ud800x"}`, { location: undefined })}]`, status: 400, error: /^records\[0\]\.location\.city: contains a lone surrogate \(\\ud800\)/ },
  { name: "a lone low surrogate in supplier.name", body: `[${withRaw(1, `"supplier": {"name": "\\udfff"}`, { supplier: undefined })}]`, status: 400, error: /^records\[0\]\.supplier\.name: contains a lone surrogate \(\\udfff\)/ },
  { name: "swapped surrogates", body: `[${withRaw(1, `"note": "\\ude00\\ud83d"`)}]`, status: 400, error: /^records\[0\]\.note: contains a lone surrogate \(\\ude00\)/ },
  { name: "a NUL in a value a duplicate key hides", body: `[${json(record(1))},${withRaw(2, `"currency": "\\u0000"`)}]`, status: 400, error: /^records\[1\]: contains a NUL character \(\\u0000\) in the value of a key written twice/ },
  { name: "a NUL in a key", body: `[${withRaw(1, `"bad\\u0000key": 1`)}]`, status: 400, error: /^records\[0\]\["bad\\u0000key"\]: the key contains a NUL character/ },
  { name: "a lone surrogate in a nested key", body: `[${withRaw(1, `"extra": {"\\ud800": 1}`)}]`, status: 400, error: /^records\[0\]\.extra\["\\ud800"\]: the key contains a lone surrogate/ },
  { name: "a NUL in an array element", body: `[${withRaw(1, `"tags": ["ok", "\\u0000"]`)}]`, status: 400, error: /^records\[0\]\.tags\[1\]: contains a NUL character/ },
  // Nesting
  { name: "nesting 33 levels deep", body: `[${withRaw(1, `"deep": ${nested(32)}`)}]`, status: 400, error: /^records\[0\]: nested deeper than 32 levels$/ },
  { name: "nesting 20,000 levels deep", body: `[${json(record(1))},${withRaw(2, `"deep": ${nested(20_000)}`)}]`, status: 400, error: /^records\[1\]: nested deeper than 32 levels$/ },
  // NDJSON
  { name: "NDJSON: a line that is not JSON", contentType: "application/x-ndjson", body: `${json(record(1))}\n{"source": "moba",\n`, status: 400, error: /^records\[1\]: line 2 is not valid JSON$/ },
  { name: "NDJSON: a line that is an array", contentType: "application/x-ndjson", body: `${json([record(1)])}\n`, status: 400, error: /^records\[0\]: must be an object$/ },
  { name: "NDJSON: a record without source", contentType: "application/x-ndjson", body: `${json(record(1))}\n${json({ ...record(2), source: null })}\n`, status: 400, error: /^records\[1\]\.source: must be a non-empty string$/ },
  { name: "NDJSON: a NUL in a field", contentType: "application/x-ndjson", body: `${json(record(1))}\n\n${json(record(2, { location: { name: "\u0000", city: "c" } }))}\n`, status: 400, error: /^records\[1\]\.location\.name: contains a NUL character/ },
  { name: "NDJSON: a lone surrogate in a key", contentType: "application/x-ndjson", body: `${withRaw(1, `"\\udbff": true`)}\n`, status: 400, error: /^records\[0\]\["\\udbff"\]: the key contains a lone surrogate/ },
  { name: "NDJSON: nesting 20,000 levels deep", contentType: "application/x-ndjson", body: `${withRaw(1, `"deep": ${nested(20_000)}`)}\n`, status: 400, error: /^records\[0\]: nested deeper than 32 levels$/ },
  // Sizes, media types, methods, keys
  { name: "more than 10,000 records", body: () => json(Array.from({ length: 10_001 }, (_, i) => ({ source: "moba", external_id: `${refusedTag}-${i}` }))), status: 413, error: /^body: 10001 records is more than the limit of 10000$/ },
  { name: "a body over 10 MB", body: () => json([record(1, { padding: "x".repeat(10 * 1024 * 1024) })]), status: 413, error: /^body: larger than the limit of 10485760 bytes$/ },
  { name: "text/plain", contentType: "text/plain", body: json([record(1)]), status: 415, error: /^content-type: must be application\/json or application\/x-ndjson$/ },
  { name: "no content type", contentType: null, body: () => new TextEncoder().encode(json([record(1)])), status: 415, error: /^content-type: must be/ },
  { name: "form data", contentType: "application/x-www-form-urlencoded", body: `records=${refusedTag}`, status: 415, error: /^content-type: must be/ },
  { name: "GET", method: "GET", body: "", status: 405, error: /^method GET is not allowed; use POST$/ },
  { name: "PUT", method: "PUT", body: json([record(1)]), status: 405, error: /^method PUT is not allowed; use POST$/ },
  { name: "no key", key: null, body: json([record(1)]), status: 401, error: /^authorization: a service key is required/ },
  { name: "a wrong key", key: "sb_secret_not-the-key", body: json([record(1)]), status: 401, error: /^authorization: a service key is required/ },
  { name: "the anon key", key: "anon", body: json([record(1)]), status: 401, error: /^authorization: a service key is required/ },
];

async function send(c: EnvelopeCase): Promise<{ status: number; error: string }> {
  const headers: Record<string, string> = {};
  if (c.contentType !== null) headers["content-type"] = c.contentType ?? "application/json";
  const key = c.key === undefined ? validKey() : c.key === "anon" ? env.ANON_KEY : c.key;
  if (key) headers.authorization = `Bearer ${key}`;
  const body = typeof c.body === "function" ? c.body() : c.body;
  const method = c.method ?? "POST";
  const response = await fetch(`${env.FUNCTIONS_URL}/ingest`, {
    method,
    headers,
    body: method === "GET" ? undefined : body as BodyInit,
  });
  const text = await response.text();
  let error = text;
  try {
    error = String(JSON.parse(text).error);
  } catch {
    // not JSON: keep the text, the assertion shows it
  }
  return { status: response.status, error };
}

Deno.test(`the envelope refuses ${envelopeCases.length} bad requests with the status and a message naming the field, storing nothing`, async () => {
  assert.ok(envelopeCases.length >= 40);
  const failures: string[] = [];
  for (const c of envelopeCases) {
    const reply = await send(c);
    if (reply.status !== c.status || !c.error.test(reply.error)) {
      failures.push(`${c.name}: got ${reply.status} ${JSON.stringify(reply.error.slice(0, 300))}, expected ${c.status} ${c.error}`);
    }
  }
  assert.deepEqual(failures, []);
  const sql = database({ max: 1 });
  try {
    const [row] = await sql<{ n: number }[]>`
      select count(*)::int as n from conveyor.sales_input where strpos(payload::text, ${refusedTag}) > 0`;
    assert.equal(row.n, 0, "nothing of a refused request is stored");
  } finally {
    await endClient(sql);
  }
});

// ---------------------------------------------------------------------------------------------
// Accepted at the envelope, judged by the worker.

const workerTag = `${run}-worker`;
const inAWhile = (ms: number) => new Date(Date.now() + ms).toISOString();

interface RejectedCase {
  name: string;
  overrides: Record<string, unknown>;
  /** The raw JSON text of a field, when JSON.stringify cannot write it (1e400). */
  raw?: string;
  error: RegExp;
}

const long = "ж".repeat(501);

const rejectedCases: RejectedCase[] = [
  { name: "dated 9999-12-31", overrides: { occurred_at: "9999-12-31T23:59:59Z" }, error: /^occurred_at: 9999-12-31T23:59:59\.000Z is more than 24 hours ahead of now/ },
  { name: "dated two days ahead", overrides: { occurred_at: inAWhile(2 * 86_400_000) }, error: /^occurred_at: .* is more than 24 hours ahead of now/ },
  { name: "dated before 2000", overrides: { occurred_at: "1999-12-31T23:59:59Z" }, error: /^occurred_at: 1999-12-31T23:59:59\.000Z is before 2000-01-01T00:00:00\.000Z/ },
  { name: "a date in words", overrides: { occurred_at: "yesterday" }, error: /^occurred_at: not a valid ISO 8601 timestamp$/ },
  { name: "a date as epoch seconds", overrides: { occurred_at: 1_764_000_000 }, error: /^occurred_at: not a valid ISO 8601 timestamp$/ },
  { name: "February 30th", overrides: { occurred_at: "2026-02-30T10:00:00Z" }, error: /^occurred_at: not a valid ISO 8601 timestamp$/ },
  { name: "quantity 0", overrides: { quantity: 0 }, error: /^quantity: must be greater than 0$/ },
  { name: "quantity as words", overrides: { quantity: "two" }, error: /^quantity: must be a number such as 2 or 1\.5$/ },
  { name: "quantity 1e400 (beyond a double)", overrides: { quantity: undefined }, raw: `"quantity": 1e400`, error: /^quantity: must be a number such as 2 or 1\.5$/ },
  { name: "quantity of 20 digits", overrides: { quantity: "12345678901234567890" }, error: /^quantity: is too large/ },
  { name: "quantity with 4 decimals", overrides: { quantity: 0.0001 }, error: /^quantity: must have at most 3 decimal places$/ },
  { name: "quantity as a boolean", overrides: { quantity: true }, error: /^quantity: must be a number/ },
  { name: "a negative unit_price", overrides: { unit_price: -1 }, error: /^unit_price: must be 0 or greater$/ },
  { name: "an ambiguous unit_price", overrides: { unit_price: "1,500" }, error: /^unit_price: "1,500" is ambiguous/ },
  { name: "unit_price 1e20", overrides: { unit_price: 1e20 }, error: /^unit_price: is too large/ },
  { name: "an amount beyond numeric(20,2)", overrides: { quantity: "999999999999999", unit_price: "9999999999999999" }, error: /^amount: quantity \* unit_price is too large/ },
  { name: "currency RUBLES", overrides: { currency: "RUBLES" }, error: /^currency: must be 3 letters$/ },
  { name: "type refund", overrides: { type: "refund" }, error: /^type: must be "sale" or "return"$/ },
  { name: "an unknown shop", overrides: { source: "no-such-shop" }, error: /^source: unknown shop "no-such-shop"$/ },
  { name: "no product", overrides: { product: undefined }, error: /^product: is required$/ },
  { name: "a product as a string", overrides: { product: "iPhone" }, error: /^product: must be an object$/ },
  { name: "a numeric SKU", overrides: { product: { sku: 12345, name: "n", manufacturer: "m" } }, error: /^product\.sku: must be a string$/ },
  { name: "a product name of 501 characters", overrides: { product: { sku: "s", name: long, manufacturer: "m" } }, error: /^product\.name: longer than 500 characters$/ },
  { name: "a product name of zero-width spaces only", overrides: { product: { sku: "s", name: "\u200B\u200B", manufacturer: "m" } }, error: /^product\.name: is required$/ },
  { name: "an external_id of 501 characters", overrides: { external_id: `${workerTag}-${"x".repeat(501)}` }, error: /^external_id: longer than 500 characters$/ },
  { name: "no location city", overrides: { location: { name: "Склад" } }, error: /^location\.city: is required$/ },
  { name: "a supplier with a tax id but no name", overrides: { supplier: { tax_id: "7701234567" } }, error: /^supplier\.name: is required$/ },
  { name: "a tax id of 501 characters", overrides: { supplier: { name: "s", tax_id: "7".repeat(501) } }, error: /^supplier\.tax_id: longer than 500 characters$/ },
];

interface ProcessedCase {
  name: string;
  records: Record<string, unknown>[];
  /** external ids expected in public.operations, each once. */
  operations: string[];
}

const processedCases: ProcessedCase[] = [
  {
    name: "external ids differing in width stay two operations; surrounding spaces are trimmed",
    records: [
      saleRecord(workerTag, 900, { external_id: `${workerTag}-T21-ABC` }),
      saleRecord(workerTag, 901, { external_id: `${workerTag}-T21-ＡＢＣ` }),
      saleRecord(workerTag, 902, { external_id: ` ${workerTag}-T21-ABC\u00A0` }),
    ],
    operations: [`${workerTag}-T21-ABC`, `${workerTag}-T21-ＡＢＣ`],
  },
  {
    name: "the same record twice in one request is one operation",
    records: [saleRecord(workerTag, 910), saleRecord(workerTag, 910)],
    operations: [`${workerTag}-910`],
  },
  {
    name: "emoji, combining marks and an escaped backslash before u0000 are ordinary text",
    records: [saleRecord(workerTag, 920, { product: { sku: "e-1", name: "Дисплей 😀 e\u0301 C:\\u0000", manufacturer: `Maker ${workerTag}` } })],
    operations: [`${workerTag}-920`],
  },
];

Deno.test(`records breaking a rule are stored and rejected naming the field (${rejectedCases.length} cases); the others are processed`, async () => {
  const sql = database({ max: 2 });
  try {
    await prepareShops(sql);
    const parts = rejectedCases.map((c, i) => {
      const text = json(saleRecord(workerTag, i, c.overrides));
      return c.raw ? text.replace(/^\{/, `{${c.raw},`) : text;
    });
    for (const c of processedCases) parts.push(...c.records.map((r) => json(r)));
    const response = await fetch(`${env.FUNCTIONS_URL}/ingest`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${env.SERVICE_ROLE_KEY}` },
      body: `[${parts.join(",")}]`,
    });
    const reply = await response.json();
    assert.equal(response.status, 202, JSON.stringify(reply));
    assert.equal(reply.received, parts.length);
    const rows = await waitFor("the worker to drain the corpus", async () => {
      const found = await sql<{ status: string; error: string | null }[]>`
        select status, error from conveyor.sales_input where batch_id = ${reply.batch_id}::uuid order by id`;
      return found.length === parts.length && found.every((r) => r.status !== "received") ? found : undefined;
    }, 60_000);
    const failures: string[] = [];
    rejectedCases.forEach((c, i) => {
      const row = rows[i];
      if (row.status !== "rejected" || !c.error.test(String(row.error))) {
        failures.push(`${c.name}: ${row.status} ${JSON.stringify(row.error)}, expected rejected ${c.error}`);
      }
    });
    rows.slice(rejectedCases.length).forEach((row, i) => {
      if (row.status !== "processed") failures.push(`processed case record ${i}: ${row.status} ${row.error}`);
    });
    assert.deepEqual(failures, []);
    for (const c of processedCases) {
      const ids = [...new Set(c.records.map((r) => String(r.external_id)))];
      const found = await sql<{ external_id: string }[]>`
        select external_id from public.operations
         where source = 'moba' and external_id in ${sql(ids.map((id) => id.trim()))} order by external_id`;
      assert.deepEqual(found.map((r) => r.external_id), [...c.operations].sort(), c.name);
    }
  } finally {
    await endClient(sql);
  }
});
