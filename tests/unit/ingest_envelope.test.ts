import assert from "node:assert/strict";
import { bodyFormat, parseEnvelope } from "../../supabase/functions/ingest/envelope.ts";
import { constantTimeEqual, serviceKeys } from "../../supabase/functions/_shared/auth.ts";

Deno.test("JSON and NDJSON media types are recognised, with parameters; others are not", () => {
  assert.equal(bodyFormat("application/json; charset=utf-8"), "json");
  assert.equal(bodyFormat("application/x-ndjson"), "ndjson");
  assert.equal(bodyFormat("text/plain"), null);
  assert.equal(bodyFormat(null), null);
});

Deno.test("the envelope names the first bad index and field", () => {
  const result = parseEnvelope(JSON.stringify([{ source: "a", external_id: "1" }, { source: " ", external_id: "2" }]), "json", 10);
  assert.deepEqual(result, { ok: false, status: 400, error: "records[1].source: must be a non-empty string" });
});

Deno.test("more records than the limit is 413", () => {
  const result = parseEnvelope(JSON.stringify([{ source: "a", external_id: "1" }, { source: "a", external_id: "2" }]), "json", 1);
  assert.equal(result.ok, false);
  assert.equal(!result.ok && result.status, 413);
});

Deno.test("blank NDJSON lines are skipped and records keep their order", () => {
  const result = parseEnvelope('{"source":"a","external_id":"1"}\n\n{"source":"a","external_id":"2"}\n', "ndjson", 10);
  assert.ok(result.ok);
  assert.deepEqual(result.ok && result.records.map((r) => r.external_id), ["1", "2"]);
});

Deno.test("keys compare equal only when identical, whatever their lengths", () => {
  assert.equal(constantTimeEqual("sb_secret_abc", "sb_secret_abc"), true);
  assert.equal(constantTimeEqual("sb_secret_abc", "sb_secret_abd"), false);
  assert.equal(constantTimeEqual("sb_secret_abc", "sb_secret_ab"), false);
  assert.equal(constantTimeEqual("", "x"), false);
});

Deno.test("service keys are the service_role key and every new-style secret key", () => {
  const keys = serviceKeys({
    SUPABASE_DB_URL: "x",
    SUPABASE_SERVICE_ROLE_KEY: "legacy",
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: "sb_secret_1", ci: "sb_secret_2" }),
    CONVEYOR_DB_POOL_SIZE: 3,
  });
  assert.deepEqual(keys, ["legacy", "sb_secret_1", "sb_secret_2"]);
  assert.deepEqual(serviceKeys({ SUPABASE_DB_URL: "x", SUPABASE_SECRET_KEYS: "not json", CONVEYOR_DB_POOL_SIZE: 3 }), []);
});

Deno.test("a sales queue message is exactly {id: positive integer}", async () => {
  const { salesMessageSchema } = await import("../../supabase/functions/process-sales/drain.ts");
  assert.equal(salesMessageSchema.safeParse({ id: 12 }).success, true);
  assert.equal(salesMessageSchema.safeParse({ id: "12" }).success, false);
  assert.equal(salesMessageSchema.safeParse({ id: -1 }).success, false);
  assert.equal(salesMessageSchema.safeParse({}).success, false);
});

Deno.test("the worker takes the service key or CONVEYOR_WORKER_KEY; ingest takes only service keys", async () => {
  const { serviceCallerCheck, workerCallerCheck } = await import("../../supabase/functions/_shared/auth.ts");
  const config = {
    SUPABASE_DB_URL: "x",
    SUPABASE_SERVICE_ROLE_KEY: "service-key",
    CONVEYOR_WORKER_KEY: "worker-key-of-16-chars",
    CONVEYOR_DB_POOL_SIZE: 3,
  };
  const call = (key?: string) => new Request("http://x/", { headers: key ? { authorization: `Bearer ${key}` } : {} });
  const worker = workerCallerCheck(config);
  const ingest = serviceCallerCheck(config);
  assert.equal(worker(call("worker-key-of-16-chars")), true);
  assert.equal(worker(call("service-key")), true);
  assert.equal(worker(call("nope")), false);
  assert.equal(worker(call()), false);
  assert.equal(ingest(call("worker-key-of-16-chars")), false);
  assert.equal(ingest(call("service-key")), true);
});

// ---------------------------------------------------------------------------------------------
// Text PostgreSQL cannot hold, and nesting, are refused at the envelope naming record and field.

const okRecord = (extra: Record<string, unknown> = {}) => ({ source: "moba", external_id: "1", ...extra });

Deno.test("a NUL character anywhere in a record is refused naming the record index and field path", () => {
  const body = JSON.stringify([okRecord(), okRecord(), okRecord(), okRecord({ product: { name: "a\u0000b" } })]);
  assert.deepEqual(parseEnvelope(body, "json", 10), {
    ok: false,
    status: 400,
    error: "records[3].product.name: contains a NUL character (\\u0000), which PostgreSQL text cannot hold",
  });
});

Deno.test("a lone surrogate is refused naming the field, in JSON and NDJSON, in arrays too", () => {
  const lone = '{"source":"moba","external_id":"1","tags":["x","\\udc00y"]}';
  const error = "records[1].tags[1]: contains a lone surrogate (\\udc00), which PostgreSQL text cannot hold";
  assert.deepEqual(parseEnvelope(`[${JSON.stringify(okRecord())},${lone}]`, "json", 10), { ok: false, status: 400, error });
  assert.deepEqual(parseEnvelope(`${JSON.stringify(okRecord())}\n${lone}\n`, "ndjson", 10), { ok: false, status: 400, error });
  const high = '[{"source":"moba","external_id":"\\ud800"}]';
  assert.match(
    String((parseEnvelope(high, "json", 10) as { error: string }).error),
    /^records\[0\]\.external_id: contains a lone surrogate \(\\ud800\)/,
  );
});

Deno.test("an object key holding a NUL character is refused naming the key", () => {
  const body = '[{"source":"moba","external_id":"1","product":{"a\\u0000b":1}}]';
  assert.deepEqual(parseEnvelope(body, "json", 10), {
    ok: false,
    status: 400,
    error: 'records[0].product["a\\u0000b"]: the key contains a NUL character (\\u0000), which PostgreSQL text cannot hold',
  });
});

Deno.test("a surrogate pair, an escaped backslash before u0000 and other escapes are ordinary text", () => {
  const body = '[{"source":"moba","external_id":"1","name":"\\ud83d\\ude00 C:\\\\u0000 \\u00e9 \\t"}]';
  assert.equal(parseEnvelope(body, "json", 10).ok, true);
});

Deno.test("nesting deeper than 32 levels is refused naming the record, even 20,000 levels deep", () => {
  const nested = (levels: number) => {
    let value = "1";
    for (let i = 0; i < levels; i++) value = `{"a":${value}}`;
    return value;
  };
  // The record is level 1; its field `deep` holds 31 more objects: 32 levels, accepted.
  const atLimit = `[{"source":"moba","external_id":"1","deep":${nested(31)}}]`;
  assert.equal(parseEnvelope(atLimit, "json", 10).ok, true);
  const over = `[{"source":"moba","external_id":"1"},{"source":"moba","external_id":"2","deep":${nested(32)}}]`;
  assert.deepEqual(parseEnvelope(over, "json", 10), { ok: false, status: 400, error: "records[1]: nested deeper than 32 levels" });
  const arrays = `{"source":"moba","external_id":"1","deep":${"[".repeat(20_000)}${"]".repeat(20_000)}}`;
  assert.deepEqual(parseEnvelope(arrays, "ndjson", 10), { ok: false, status: 400, error: "records[0]: nested deeper than 32 levels" });
  const objects = `[{"source":"moba","external_id":"1","deep":${nested(20_000)}}]`;
  assert.deepEqual(parseEnvelope(objects, "json", 10), { ok: false, status: 400, error: "records[0]: nested deeper than 32 levels" });
});

Deno.test("a failed store is 503 only when transient; the data refused is 400; anything else 500", async () => {
  const { storeFailureStatus } = await import("../../supabase/functions/ingest/handler.ts");
  assert.equal(storeFailureStatus(Object.assign(new Error("gone"), { code: "CONNECTION_CLOSED" })), 503);
  assert.equal(storeFailureStatus(Object.assign(new Error("deadlock"), { code: "40P01" })), 503);
  assert.equal(storeFailureStatus(Object.assign(new Error("stack depth limit exceeded"), { code: "54001" })), 400);
  assert.equal(storeFailureStatus(Object.assign(new Error("unsupported Unicode escape"), { code: "22P05" })), 400);
  assert.equal(storeFailureStatus(Object.assign(new Error("check"), { code: "23514" })), 400);
  assert.equal(storeFailureStatus(Object.assign(new Error("no such table"), { code: "42P01" })), 500);
});

Deno.test("the worker's occurred_at window comes from SALES_OCCURRED_AT_MAX_AHEAD_HOURS and SALES_OCCURRED_AT_FLOOR", async () => {
  const { occurredAtWindow, workerConfig } = await import("../../supabase/functions/_shared/config.ts");
  const defaults = occurredAtWindow(workerConfig({ SUPABASE_DB_URL: "x" }));
  assert.deepEqual(defaults, { floorMs: Date.parse("2000-01-01T00:00:00Z"), maxAheadMs: 24 * 3_600_000 });
  const set = occurredAtWindow(workerConfig({
    SUPABASE_DB_URL: "x",
    SALES_OCCURRED_AT_MAX_AHEAD_HOURS: "2.5",
    SALES_OCCURRED_AT_FLOOR: "2020-06-01",
  }));
  assert.deepEqual(set, { floorMs: Date.parse("2020-06-01T00:00:00Z"), maxAheadMs: 2.5 * 3_600_000 });
  assert.throws(
    () => workerConfig({ SUPABASE_DB_URL: "x", SALES_OCCURRED_AT_FLOOR: "last year" }),
    /SALES_OCCURRED_AT_FLOOR: /,
  );
  assert.throws(() => workerConfig({ SUPABASE_DB_URL: "x", SALES_OCCURRED_AT_MAX_AHEAD_HOURS: "-1" }), /SALES_OCCURRED_AT_MAX_AHEAD_HOURS/);
});

Deno.test("an unreadable escape hidden behind a duplicate key is refused naming the record", () => {
  const body = '[{"source":"moba","external_id":"1"},{"source":"moba","name":"a\\u0000","name":"b","external_id":"2"}]';
  assert.deepEqual(parseEnvelope(body, "json", 10), {
    ok: false,
    status: 400,
    error: "records[1]: contains a NUL character (\\u0000) in the value of a key written twice (the last one counts, but the text keeps both), which PostgreSQL text cannot hold",
  });
  const pair = '[{"source":"moba","external_id":"1","n":"\\ud83d\\ude00 \\\\u0000","n":"x"}]';
  assert.equal(parseEnvelope(pair, "json", 10).ok, true, "a surrogate pair and an escaped backslash are fine");
  const lone = '[{"source":"moba","external_id":"1","n":{"k":"\\udc00"},"n":1}]';
  assert.match(String((parseEnvelope(lone, "json", 10) as { error: string }).error), /^records\[0\]: contains a lone surrogate \(\\udc00\)/);
});
