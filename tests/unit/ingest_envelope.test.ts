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
