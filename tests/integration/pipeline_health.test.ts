/**
 * The health check monitoring calls: the view `conveyor.pipeline_health` (its columns and its
 * checks) and `deno task status`, whose exit status is 0 when healthy, 1 when something is
 * unhealthy (each reason printed), 2 when the database cannot be reached.
 */
import assert from "node:assert/strict";
import { endClient, withReserved } from "../support/connections.ts";
import { database, env } from "../support/pipeline.ts";

const root = new URL("../../", import.meta.url);

async function status(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/status.ts", ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
    signal: AbortSignal.timeout(60_000),
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

/** A loopback port nothing listens on: taken, then freed. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test("conveyor.pipeline_health has one row per check: check_name, subject, value, threshold, healthy, detail", async () => {
  const sql = database({ max: 1 });
  try {
    const columns = await sql`
      select column_name, data_type from information_schema.columns
       where table_schema = 'conveyor' and table_name = 'pipeline_health' order by ordinal_position`;
    assert.deepEqual(columns.map((c) => [c.column_name, c.data_type]), [
      ["check_name", "text"],
      ["subject", "text"],
      ["value", "numeric"],
      ["threshold", "numeric"],
      ["healthy", "boolean"],
      ["detail", "text"],
    ]);
    await withReserved(sql, async (conn) => {
      await conn`begin`;
      // A wake row and a held slot of a probe worker, so every part has a row to show.
      await conn`insert into conveyor.function_wakes (function_name, requests_sent) values ('health-probe', 3)`;
      await conn`insert into conveyor.worker_leases (worker, slot, holder, expires_at)
                 values ('health-probe', 1, gen_random_uuid(), clock_timestamp() + interval '1 minute')`;
      const rows = await conn`select * from conveyor.pipeline_health`;
      const checks = new Set(rows.map((r) => r.check_name));
      for (
        const check of [
          "queue_depth", "queue_oldest_message_seconds", "processed_last_5m", "processed_last_60m",
          "rejected_last_60m", "rejected", "failed", "cron_last_run", "cron_last_failure",
          "wakes_sent", "wake_error", "worker_slots_held",
        ]
      ) assert.ok(checks.has(check), `the view has a ${check} check`);
      const jobs = await conn`select jobname from cron.job`;
      const cronRuns = rows.filter((r) => r.check_name === "cron_last_run").map((r) => r.subject).sort();
      assert.deepEqual(cronRuns, jobs.map((j) => j.jobname).sort(), "one last-run row per pg_cron job");
      const slot = rows.find((r) => r.check_name === "worker_slots_held" && r.subject === "health-probe");
      assert.equal(Number(slot?.value), 1);
      const sent = rows.find((r) => r.check_name === "wakes_sent" && r.subject === "health-probe");
      assert.equal(Number(sent?.value), 3);
      const [{ threshold }] = await conn`select value as threshold from conveyor.settings where name = 'health_max_queue_depth'`;
      const depth = rows.find((r) => r.check_name === "queue_depth" && r.subject === "sales_input");
      assert.equal(depth?.threshold, threshold, "thresholds come from conveyor.settings");
      await conn`rollback`;
    });
  } finally {
    await endClient(sql);
  }
});

Deno.test("deno task status exits 0 and says healthy when every check is healthy", async () => {
  const sql = database({ max: 1 });
  try {
    const unhealthy = await sql`select check_name, subject, detail from conveyor.pipeline_health where not healthy`;
    assert.deepEqual([...unhealthy], [], "the stack is healthy before the test");
    const { code, stdout, stderr } = await status(["--db-url", env.DB_URL]);
    assert.equal(code, 0, stdout + stderr);
    assert.match(stdout.split("\n")[0], /^Conveyor health at .*: healthy \(\d+ checks\)$/);
    assert.doesNotMatch(stdout, /unhealthy:|FAIL/);
  } finally {
    await endClient(sql);
  }
});

Deno.test("deno task status exits 1 and prints each reason: a queue message older than the threshold, a failing wake", async () => {
  const sql = database({ max: 1 });
  let msgId: string | undefined;
  try {
    // Paused, and the message hidden for an hour: no worker reads it while the test looks.
    await sql`select conveyor.pause_wakes('process-sales')`;
    const [sent] = await sql<{ msg_id: string }[]>`select pgmq.send('sales_input'::text, '{"id": -1}'::jsonb, 3600)::text as msg_id`;
    msgId = sent.msg_id;
    await sql`update pgmq.q_sales_input set enqueued_at = now() - interval '1 hour' where msg_id = ${sent.msg_id}::bigint`;
    await sql`insert into conveyor.function_wakes (function_name, last_wake_error, last_wake_error_at)
              values ('health-probe', 'Conveyor setting "conveyor_project_url" is missing from Vault', now())`;

    const { code, stdout, stderr } = await status(["--db-url", env.DB_URL]);
    assert.equal(code, 1, stdout + stderr);
    assert.match(stdout.split("\n")[0], /UNHEALTHY \(\d+ of \d+ checks\)/);
    const reasons = stdout.split("\n").slice(stdout.split("\n").indexOf("unhealthy:") + 1);
    assert.ok(
      reasons.some((l) => /^ {2}queue_oldest_message_seconds sales_input \(36\d\d, limit 600\): the oldest message/.test(l)),
      stdout,
    );
    assert.ok(
      reasons.some((l) => l.includes('wake_error health-probe (1, limit 0): waking health-probe fails since') &&
        l.includes('Conveyor setting "conveyor_project_url" is missing from Vault')),
      stdout,
    );

    const json = await status(["--json", "--db-url", env.DB_URL]);
    assert.equal(json.code, 1);
    const report = JSON.parse(json.stdout);
    assert.equal(report.healthy, false);
    assert.deepEqual(
      report.unhealthy.map((c: { check_name: string; subject: string }) => `${c.check_name} ${c.subject}`).sort(),
      ["queue_oldest_message_seconds sales_input", "wake_error health-probe"],
    );
    assert.ok(report.checks.length > report.unhealthy.length);
  } finally {
    try {
      if (msgId) await sql`select pgmq.delete('sales_input'::text, ${msgId}::bigint)`;
      await sql`delete from conveyor.function_wakes where function_name = 'health-probe'`;
      await sql`select conveyor.resume_wakes('process-sales', 'sales_input')`;
    } finally {
      await endClient(sql);
    }
  }
});

Deno.test("deno task status exits 2 with one line when the database cannot be reached", async () => {
  const url = `postgresql://postgres:secret@127.0.0.1:${closedPort()}/postgres`;
  const { code, stdout, stderr } = await status(["--db-url", url]);
  assert.equal(code, 2, stdout + stderr);
  assert.equal(stdout, "");
  assert.equal(stderr.trim().split("\n").length, 1, stderr);
  assert.match(stderr, /^status: cannot reach the database at postgresql:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/postgres: /);
  assert.doesNotMatch(stderr, /secret/);
});
