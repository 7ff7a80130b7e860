/**
 * How `deno task status` tells the pipeline's health: every check in a table, each unhealthy
 * reason on its own line, and the exit status monitoring acts on.
 */
import assert from "node:assert/strict";
import { exitStatus, healthReport, parseHealthRows, redactedUrl, renderHealth, unhealthyReason } from "../../lib/pipeline_health.ts";

const at = new Date("2026-12-04T10:00:00Z");
const rows = [
  { check_name: "queue_depth", subject: "sales_input", value: "3", threshold: "100000", healthy: true, detail: "3 message(s) in queue sales_input" },
  { check_name: "queue_oldest_message_seconds", subject: "sales_input", value: "3600", threshold: "600", healthy: false, detail: "the oldest message in queue sales_input was sent 3600 s ago" },
  { check_name: "wake_error", subject: "process-sales", value: "1", threshold: "0", healthy: false, detail: "waking process-sales fails since ...: Conveyor setting \"conveyor_project_url\" is missing from Vault" },
  { check_name: "cron_last_run", subject: "conveyor-wake-pending-pipelines", value: null, threshold: null, healthy: true, detail: "no run yet" },
];

Deno.test("a healthy pipeline exits 0 and says healthy, with no unhealthy section", () => {
  const report = healthReport(parseHealthRows([rows[0], rows[3]]), at);
  assert.equal(report.healthy, true);
  assert.equal(exitStatus(report), 0);
  const text = renderHealth(report);
  assert.match(text.split("\n")[0], /: healthy \(2 checks\)$/);
  assert.doesNotMatch(text, /unhealthy:/);
});

Deno.test("an unhealthy pipeline exits 1 and prints each reason on its own line, value against limit", () => {
  const report = healthReport(parseHealthRows(rows), at);
  assert.equal(report.healthy, false);
  assert.equal(exitStatus(report), 1);
  const lines = renderHealth(report).split("\n");
  assert.match(lines[0], /UNHEALTHY \(2 of 4 checks\)/);
  const reasons = lines.slice(lines.indexOf("unhealthy:") + 1);
  assert.deepEqual(reasons, [
    "  queue_oldest_message_seconds sales_input (3600, limit 600): the oldest message in queue sales_input was sent 3600 s ago",
    '  wake_error process-sales (1, limit 0): waking process-sales fails since ...: Conveyor setting "conveyor_project_url" is missing from Vault',
  ]);
  assert.equal(lines.filter((l) => l.startsWith("  FAIL")).length, 2);
});

Deno.test("a check without a threshold is shown without a limit", () => {
  const [check] = parseHealthRows([{ ...rows[3], healthy: false }]);
  assert.equal(unhealthyReason(check), "cron_last_run conveyor-wake-pending-pipelines: no run yet");
});

Deno.test("a row the view should not give is refused naming the row and field", () => {
  assert.throws(() => parseHealthRows([rows[0], { ...rows[1], value: "lots" }]), /row 2: value: /);
  assert.throws(() => parseHealthRows([{ ...rows[0], healthy: null }]), /row 1: healthy: /);
});

Deno.test("the database URL in a message never shows the password", () => {
  assert.equal(redactedUrl("postgresql://postgres:secret@127.0.0.1:5432/postgres"), "postgresql://postgres:***@127.0.0.1:5432/postgres");
});
