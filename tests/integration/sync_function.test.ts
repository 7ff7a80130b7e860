/**
 * The sync edge function on the local stack (issue 15 item 9): it answers at once and pushes in the
 * background into the cloud cluster (through the stack's pgbouncer and latency proxy, its
 * CONVEYOR_PRODUCTION_DB_URL), refuses a bad body naming the field, and pg_cron holds its jobs.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { withClient } from "../support/connections.ts";
import { stackEnv } from "../support/stack_env.ts";
import { waitFor } from "../support/waiting.ts";

const env = stackEnv();
const home = () => postgres(env.DB_URL, { max: 2, onnotice: () => {} });
const cloud = () => postgres(env.CLOUD_DB_URL, { max: 1, onnotice: () => {} });

function postSync(body: unknown, key = env.SERVICE_ROLE_KEY): Promise<Response> {
  return fetch(`${env.FUNCTIONS_URL}/sync`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

Deno.test("the sync function answers 202 at once and the push it starts brings a new row to production", async () => {
  const name = `Sync function test ${crypto.randomUUID()}`;
  await withClient(home, async (sql) => {
    await withClient(cloud, async (production) => {
      const [row] = await sql<{ id: string }[]>`
        insert into public.manufacturers (name, name_key) values (${name}, ${name.toLowerCase()}) returning id::text`;
      try {
        const started = performance.now();
        const response = await postSync({ direction: "push", tables: ["manufacturers"] });
        const answer = await response.json();
        assert.equal(response.status, 202, JSON.stringify(answer));
        assert.equal(answer.accepted, true);
        assert.ok(performance.now() - started < 2_000, "it answers before the push is done");
        const arrived = await waitFor("the manufacturer in production", async () => {
          const rows = await production<{ name: string }[]>`select name from public.manufacturers where id = ${row.id}`;
          return rows[0];
        }, 30_000);
        assert.equal(arrived.name, name);
        const status = await waitFor("the run's log entry to finish", async () => {
          const [run] = await sql<{ status: string }[]>`
            select status from conveyor.sync_runs where definition = 'manufacturers' order by id desc limit 1`;
          return run?.status === "running" ? undefined : run?.status;
        }, 30_000);
        assert.equal(status, "succeeded");
      } finally {
        await sql`delete from public.manufacturers where id = ${row.id}`;
        await production`delete from public.manufacturers where id = ${row.id}`;
      }
    });
  });
});

Deno.test("a bad sync request gets a 400 naming the field, and nothing runs", async () => {
  const cases: [unknown, RegExp][] = [
    [{ direction: "sideways" }, /^direction: /],
    [{ dry_run: "yes" }, /^dry_run: /],
    [{ tables: ["no_such_table"] }, /^tables\.0: must name sync definitions/],
    [{ tables: [] }, /^tables: /],
    [{ dryrun: true }, /^dryrun: not a field of a sync request/],
    ["{not json", /^body: not valid JSON/],
  ];
  for (const [body, expected] of cases) {
    const response = await postSync(body);
    const answer = await response.json();
    assert.equal(response.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(answer)}`);
    assert.match(answer.error, expected);
  }
});

Deno.test("the sync function refuses a caller without the worker key", async () => {
  const response = await postSync({ direction: "push" }, env.ANON_KEY);
  await response.body?.cancel();
  assert.equal(response.status, 401);
});

Deno.test("pg_cron wakes the sync function: shops pulled and final tables pushed every 5 minutes, a nightly full push with verify", async () => {
  await withClient(home, async (sql) => {
    const jobs = await sql<{ jobname: string; schedule: string; command: string }[]>`
      select jobname, schedule, command from cron.job where jobname like 'conveyor-sync-%' order by jobname`;
    const byName = new Map(jobs.map((j) => [j.jobname, j]));
    const expected: [string, string, Record<string, unknown>][] = [
      ["conveyor-sync-pull-shops", "*/5 * * * *", { direction: "pull", tables: ["shops"] }],
      ["conveyor-sync-push", "2-59/5 * * * *", { direction: "push" }],
      ["conveyor-sync-nightly-full-verify", "30 3 * * *", { direction: "push", full: true, verify: true }],
    ];
    assert.equal(jobs.length, expected.length, jobs.map((j) => j.jobname).join(", "));
    for (const [name, schedule, body] of expected) {
      const job = byName.get(name);
      assert.ok(job, `${name} is scheduled`);
      assert.equal(job.schedule, schedule);
      assert.match(job.command, /conveyor\.wake_function\('sync', /);
      const payload = JSON.parse(job.command.match(/'(\{.*?\})'::jsonb/)![1]);
      for (const [field, value] of Object.entries(body)) assert.deepEqual(payload[field], value, `${name}: ${field}`);
      assert.match(job.command, /function_wakes.*\.paused/s, `${name} honours paused wakes`);
    }
  });
});
