import assert from "node:assert/strict";
import { workerConfig } from "../../supabase/functions/_shared/config.ts";
import { salesWorkerOptions } from "../../supabase/functions/process-sales/drain.ts";
import { shouldWakePeer } from "../../supabase/functions/_shared/worker/runtime.ts";

const config = salesWorkerOptions(workerConfig({
  SUPABASE_DB_URL: "postgresql://unused@127.0.0.1:1/unused",
  PROCESS_SALES_BATCH_SIZE: "100",
  PROCESS_SALES_MAX_WORKERS: "3",
}));

Deno.test("a full batch read from a slot below the limit wakes a peer", () => {
  assert.equal(shouldWakePeer(100, 1, config), true);
  assert.equal(shouldWakePeer(100, 2, config), true);
});

Deno.test("a partial batch means no backlog, so no peer is woken", () => {
  assert.equal(shouldWakePeer(99, 1, config), false);
  assert.equal(shouldWakePeer(0, 1, config), false);
});

Deno.test("the worker in the last slot wakes no peer: there is no slot left for one", () => {
  assert.equal(shouldWakePeer(100, 3, config), false);
});
