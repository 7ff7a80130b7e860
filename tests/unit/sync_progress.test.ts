/**
 * What the progress bar of `deno task sync push|pull` shows, from the rows expected before the run
 * and the tallies its batches report (lib/sync_progress.ts), and the figures it is made of.
 */
import assert from "node:assert/strict";
import { rowsReadOf, syncProgressView } from "../../lib/sync_progress.ts";
import { etaSeconds, formatCount, formatEta } from "../../lib/progress_bar.ts";
import { emptyTally } from "../../supabase/functions/_shared/sync/run_control.ts";

const expected = new Map([["manufacturers", 2_000], ["products", 8_000], ["operations", 990_000]]);

Deno.test("before the first batch the bar shows nothing read of the rows expected in all, and no time left yet", () => {
  const view = syncProgressView(expected, new Map(), "manufacturers", 0);
  assert.equal(view.value, 0);
  assert.equal(view.total, 1_000_000);
  assert.deepEqual(view.payload, { rows: "0 of 1,000,000 rows", rate: "0", eta_text: "?", table: "manufacturers" });
});

Deno.test("midway the bar shows the rows read of all tables, the rate so far and the time left at that rate", () => {
  const read = new Map([["manufacturers", 2_000], ["products", 8_000], ["operations", 240_000]]);
  const view = syncProgressView(expected, read, "operations", 12.5);
  assert.equal(view.value, 250_000);
  assert.equal(view.total, 1_000_000);
  assert.deepEqual(view.payload, { rows: "250,000 of 1,000,000 rows", rate: "20,000", eta_text: "38s", table: "operations" });
});

Deno.test("a table that reads more rows than were counted (rows written during the run) raises the total to what it read", () => {
  const read = new Map([["manufacturers", 2_500]]);
  const view = syncProgressView(expected, read, "manufacturers", 1);
  assert.equal(view.total, 1_000_500);
  assert.equal(view.payload.rows, "2,500 of 1,000,500 rows");
  const done = syncProgressView(new Map([["manufacturers", 0]]), new Map([["manufacturers", 3]]), "manufacturers", 1);
  assert.deepEqual([done.value, done.total, done.payload.eta_text], [3, 3, "0s"], "nothing expected, three rows came: done, not over 100%");
});

Deno.test("nothing to send is a finished bar: 0 of 0 rows, nothing left", () => {
  const view = syncProgressView(new Map([["manufacturers", 0], ["operations", 0]]), new Map(), "manufacturers", 0.2);
  assert.deepEqual([view.value, view.total, view.payload.rows, view.payload.eta_text], [0, 0, "0 of 0 rows", "0s"]);
});

Deno.test("a push counts the rows and tombstones its batches read; a pull, read whole in one batch, has read what was expected", () => {
  const push = { ...emptyTally("operations", "push"), rowsRead: 50_000, inserted: 49_000 };
  assert.equal(rowsReadOf(push, 990_000), 50_000);
  const pull = { ...emptyTally("shops", "pull"), inserted: 2 };
  assert.equal(rowsReadOf(pull, 40), 40);
  assert.equal(rowsReadOf(pull, undefined), 0);
});

Deno.test("the bar's figures: counts with separators, seconds left as people read them", () => {
  assert.equal(formatCount(1_234_567.4), "1,234,567");
  assert.equal(formatCount(0), "0");
  assert.equal(formatEta(null), "?");
  assert.equal(formatEta(0), "0s");
  assert.equal(formatEta(42), "42s");
  assert.equal(formatEta(185), "3m 05s");
  assert.equal(formatEta(7_260), "2h 01m");
  assert.equal(etaSeconds(250_000, 1_000_000, 12.5), 38, "750,000 rows left at 20,000 rows/s");
});
