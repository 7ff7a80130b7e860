/**
 * The generated sample the demo and the benchmark send: deterministic for a seed, and placed in
 * time where the caller asks, so that each run's sales can come after the previous run's.
 */
import assert from "node:assert/strict";
import { generateSales } from "../../scripts/sample/sales_sample.ts";

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
