/**
 * The generated sample the demo and the benchmark send: deterministic for a seed, and placed in
 * time where the caller asks, so that each run's sales can come after the previous run's.
 */
import assert from "node:assert/strict";
import { generateSales } from "../../lib/sales_sample.ts";

const occurredAt = (record: Record<string, unknown>) => String(record.occurred_at);

Deno.test("the same seed generates the same sales", () => {
  assert.deepEqual(generateSales({ count: 200, seed: 5 }), generateSales({ count: 200, seed: 5 }));
});

Deno.test("generated sales start at startAt and move forward about a second per record", () => {
  const startAt = new Date("2027-03-01T10:00:00Z");
  const records = generateSales({ count: 2000, seed: 5, badShare: 0, replayShare: 0, correctionShare: 0, startAt });
  // Timestamps without an offset are read in the shop's zone (up to UTC+3 for the sample shops),
  // so compare on the wall-clock part only, which is UTC for every form the generator writes.
  const wallClock = records.map((r) => Date.parse(`${occurredAt(r).slice(0, 19)}Z`));
  const first = Math.min(...wallClock);
  const last = Math.max(...wallClock);
  assert.ok(first >= startAt.getTime(), `first sale ${new Date(first).toISOString()} is before startAt`);
  assert.ok(last <= startAt.getTime() + (2000 + 1000) * 1000, `last sale ${new Date(last).toISOString()} is too late`);
  const later = generateSales({ count: 10, seed: 5, startAt: new Date(last + 3_600_000) });
  assert.ok(later.every((r) => Date.parse(`${occurredAt(r).slice(0, 19)}Z`) > last), "a later start gives later sales");
});

Deno.test("the sample says which records break a rule on purpose, replays of them included", async () => {
  const { generateSalesSample } = await import("../../lib/sales_sample.ts");
  const { records, deliberatelyBad } = generateSalesSample({ count: 3000, seed: 9, badShare: 0.05 });
  assert.equal(deliberatelyBad.length, records.length);
  const bad = deliberatelyBad.filter(Boolean).length;
  assert.ok(bad > 100 && bad < 250, String(bad));
  assert.equal(generateSalesSample({ count: 500, seed: 9, badShare: 0 }).deliberatelyBad.some(Boolean), false);
});

Deno.test("a run that leaves records unprocessed, failed or rejected beyond the deliberate ones is a problem", async () => {
  const { unprocessedProblem } = await import("../../lib/sales_client.ts");
  const done = { total: 100, received: 0, processed: 98, rejected: 2, failed: 0 };
  assert.equal(unprocessedProblem(done, 100, 2), null);
  assert.equal(
    unprocessedProblem({ ...done, processed: 0, rejected: 100 }, 100, 2),
    "100 records were rejected, but only 2 were made to break a rule",
  );
  assert.match(String(unprocessedProblem({ ...done, received: 5, processed: 93 }, 100, 2)), /5 records were never processed/);
  assert.match(String(unprocessedProblem({ ...done, failed: 1, processed: 97 }, 100, 2)), /1 records failed/);
  assert.match(String(unprocessedProblem({ ...done, total: 90 }, 100, 2)), /10 of 100 records were not stored/);
});
