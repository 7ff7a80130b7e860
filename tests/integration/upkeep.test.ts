/**
 * The scheduled upkeep: each pg_cron job exists once, by name, with its schedule, and the
 * function it runs does exactly its work. Old rows are seeded with backdated timestamps inside a
 * transaction that is rolled back, so the stack keeps nothing of them (and nothing is woken). A
 * probe pipeline, registered in that transaction with its own staging table and queue, gives the
 * staging and archive purges rows whose ids the test controls.
 */
import assert from "node:assert/strict";
import { endClient, withReserved } from "../support/connections.ts";
import { database } from "../support/pipeline.ts";

const root = new URL("../../", import.meta.url);

const upkeepJobs = {
  "conveyor-purge-processed-staging": { schedule: "* * * * *", command: "select conveyor.purge_processed_staging()" },
  "conveyor-purge-archived-messages": { schedule: "15 * * * *", command: "select conveyor.purge_archived_messages()" },
  "conveyor-purge-http-responses": { schedule: "*/10 * * * *", command: "select conveyor.purge_http_responses()" },
  "conveyor-purge-cron-run-details": { schedule: "25 * * * *", command: "select conveyor.purge_cron_run_details()" },
};

type Conn = Parameters<Parameters<typeof withReserved>[1]>[0];

async function conveyorJobs(conn: Conn) {
  return await conn<{ jobname: string; schedule: string; command: string; active: boolean }[]>`
    select jobname, schedule, command, active from cron.job
     where jobname like 'conveyor-%' and jobname not like 'conveyor-sync-%' order by jobname`;
}

/** Registers the probe pipeline (staging table, queue, conveyor.pipelines row) in the open transaction. */
async function registerProbePipeline(conn: Conn) {
  await conn`create table conveyor.upkeep_probe_input (
    id bigint primary key, batch_id uuid not null default gen_random_uuid(), status text not null,
    error text, attempts integer not null default 0, received_at timestamptz not null, processed_at timestamptz)`;
  await conn`select pgmq.create('upkeep_probe')`;
  await conn`insert into conveyor.pipelines (name, queue_name, staging_table, worker_function)
             values ('upkeep_probe', 'upkeep_probe', 'conveyor.upkeep_probe_input', 'process-sales')`;
}

Deno.test("each upkeep job is scheduled once, by name, with its schedule and its function", async () => {
  const sql = database({ max: 1 });
  try {
    await withReserved(sql, async (conn) => {
      const [{ version }] = await conn`select extversion as version from pg_extension where extname = 'pg_cron'`;
      const [major, minor] = String(version).split(/[.-]/).map(Number);
      const expected: Record<string, { schedule: string; command: string }> = {
        ...upkeepJobs,
        "conveyor-wake-pending-pipelines": {
          schedule: major > 1 || minor >= 5 ? "10 seconds" : "* * * * *",
          command: "select conveyor.wake_pending_pipelines()",
        },
        "conveyor-import-reaper": {
          schedule: major > 1 || minor >= 5 ? "30 seconds" : "* * * * *",
          command: "select conveyor.reap_import_jobs(pg_catalog.make_interval(secs => conveyor.setting('import_stale_heartbeat_seconds')), " +
            "conveyor.setting('import_max_attempts')::integer); select conveyor.wake_if_imports_pending()",
        },
      };
      const jobs = await conveyorJobs(conn);
      assert.deepEqual(
        Object.fromEntries(jobs.map((j) => [j.jobname, { schedule: j.schedule, command: j.command }])),
        expected,
      );
      assert.ok(jobs.every((j) => j.active), "every job is active");
    });
  } finally {
    await endClient(sql);
  }
});

Deno.test("scheduling the upkeep again, or re-running its migration, duplicates nothing and keeps changed settings", async () => {
  const sql = database({ max: 1 });
  const migration = [...Deno.readDirSync(new URL("supabase/migrations/", root))]
    .map((e) => e.name).filter((n) => n.endsWith("_upkeep_settings_and_jobs.sql"));
  assert.equal(migration.length, 1, "the upkeep migration");
  const text = await Deno.readTextFile(new URL(`supabase/migrations/${migration[0]}`, root));
  try {
    await withReserved(sql, async (conn) => {
      await conn`begin`;
      const before = await conveyorJobs(conn);
      const settingsBefore = await conn`select name, value from conveyor.settings order by name`;
      await conn`update conveyor.settings set value = 30 where name = 'staging_retention_days'`;
      await conn`select conveyor.schedule_upkeep()`;
      await conn.unsafe(text);
      await conn.unsafe(text);
      const after = await conveyorJobs(conn);
      assert.deepEqual(after, before, "the same six jobs, nothing added");
      assert.equal(after.length, 6);
      const settingsAfter = await conn`select name, value from conveyor.settings order by name`;
      assert.equal(settingsAfter.length, settingsBefore.length, "no setting added twice");
      const [{ value }] = await conn`select value from conveyor.settings where name = 'staging_retention_days'`;
      assert.equal(Number(value), 30, "an operator's value is kept");
      await conn`rollback`;
    });
  } finally {
    await endClient(sql);
  }
});

Deno.test("the staging purge deletes processed rows older than the retention, in bounded batches, and keeps every other row", async () => {
  const sql = database({ max: 1 });
  try {
    await withReserved(sql, async (conn) => {
      await conn`begin`;
      await registerProbePipeline(conn);
      await conn`update conveyor.settings set value = case name
                   when 'staging_retention_days' then 7 when 'upkeep_batch_rows' then 4 when 'upkeep_max_batches' then 1 end
                  where name in ('staging_retention_days', 'upkeep_batch_rows', 'upkeep_max_batches')`;
      // ids 1-4 and 5000-5001: processed 10 days ago (deleted); 5002 rejected, 5003 failed and
      // 5004 received, all 10 days old (kept); 5005 received 10 days ago but processed yesterday
      // (kept); 5006-5007 received and processed an hour ago (kept).
      await conn`insert into conveyor.upkeep_probe_input (id, status, received_at, processed_at) values
        (1, 'processed', now() - interval '10 days', now() - interval '10 days'),
        (2, 'processed', now() - interval '10 days', now() - interval '10 days'),
        (3, 'processed', now() - interval '10 days', now() - interval '10 days'),
        (4, 'processed', now() - interval '10 days', now() - interval '10 days'),
        (5000, 'processed', now() - interval '10 days', now() - interval '10 days'),
        (5001, 'processed', now() - interval '10 days', now() - interval '9 days'),
        (5002, 'rejected', now() - interval '10 days', now() - interval '10 days'),
        (5003, 'failed', now() - interval '10 days', now() - interval '10 days'),
        (5004, 'received', now() - interval '10 days', null),
        (5005, 'processed', now() - interval '10 days', now() - interval '1 day'),
        (5006, 'processed', now() - interval '1 hour', now() - interval '1 hour'),
        (5007, 'processed', now() - interval '1 hour', now() - interval '1 hour')`;
      const remaining = async () =>
        (await conn`select id from conveyor.upkeep_probe_input order by id`).map((r) => Number(r.id));

      const [first] = await conn`select conveyor.purge_processed_staging() as result`;
      assert.deepEqual(first.result.pipelines.upkeep_probe, { deleted: 4, batches: 1 }, "one batch of four ids");
      assert.deepEqual(await remaining(), [5000, 5001, 5002, 5003, 5004, 5005, 5006, 5007]);

      await conn`update conveyor.settings set value = 10 where name = 'upkeep_max_batches'`;
      const [second] = await conn`select conveyor.purge_processed_staging() as result`;
      // The next run skips the empty ids 5-4999 in one probe, deletes 5000-5001 in [5000, 5004),
      // then stops at [5004, 5008), which holds rows received after the cutoff.
      assert.deepEqual(second.result.pipelines.upkeep_probe, { deleted: 2, batches: 2 });
      assert.deepEqual(await remaining(), [5002, 5003, 5004, 5005, 5006, 5007]);

      const [third] = await conn`select conveyor.purge_processed_staging() as result`;
      assert.equal(third.result.pipelines.upkeep_probe.deleted, 0, "nothing more to do");
      assert.deepEqual(await remaining(), [5002, 5003, 5004, 5005, 5006, 5007]);
      const [{ cutoff }] = await conn`select (now() - interval '7 days')::text as cutoff`;
      assert.equal(new Date(third.result.cutoff).getTime(), new Date(cutoff).getTime(), "the cutoff is the setting's window");
      await conn`rollback`;
    });
  } finally {
    await endClient(sql);
  }
});

Deno.test("the archive purge deletes archived messages older than the retention from each pipeline queue", async () => {
  const sql = database({ max: 1 });
  try {
    await withReserved(sql, async (conn) => {
      await conn`begin`;
      await registerProbePipeline(conn);
      await conn`update conveyor.settings set value = case name
                   when 'queue_archive_retention_days' then 7 when 'upkeep_batch_rows' then 2 when 'upkeep_max_batches' then 10 end
                  where name in ('queue_archive_retention_days', 'upkeep_batch_rows', 'upkeep_max_batches')`;
      await conn`insert into pgmq.a_upkeep_probe (msg_id, read_ct, enqueued_at, archived_at, vt, message)
        select m.id, 1, now() - m.age, now() - m.age, now() - m.age, jsonb_build_object('id', m.id)
          from (values (1, interval '30 days'), (2, interval '8 days'), (3, interval '7 days 1 minute'),
                       (4, interval '6 days'), (5, interval '1 hour')) as m(id, age)`;
      const [{ result }] = await conn`select conveyor.purge_archived_messages() as result`;
      assert.equal(result.deleted.upkeep_probe, 3);
      const kept = await conn`select msg_id from pgmq.a_upkeep_probe order by msg_id`;
      assert.deepEqual(kept.map((r) => Number(r.msg_id)), [4, 5]);
      await conn`rollback`;
    });
  } finally {
    await endClient(sql);
  }
});

Deno.test("the pg_net purge deletes responses older than the retention and keeps the newer ones", async () => {
  const sql = database({ max: 1 });
  try {
    await withReserved(sql, async (conn) => {
      await conn`begin`;
      await conn`update conveyor.settings set value = case name
                   when 'http_response_retention_hours' then 6 when 'upkeep_batch_rows' then 2 when 'upkeep_max_batches' then 100 end
                  where name in ('http_response_retention_hours', 'upkeep_batch_rows', 'upkeep_max_batches')`;
      await conn`insert into net._http_response (id, status_code, content, timed_out, created)
        select -m.id, 202, 'upkeep probe', false, now() - m.age
          from (values (1, interval '2 days'), (2, interval '7 hours'), (3, interval '6 hours 1 second'),
                       (4, interval '5 hours'), (5, interval '1 minute')) as m(id, age)`;
      const [{ older }] = await conn`select count(*)::int as older from net._http_response where created < now() - interval '6 hours'`;
      const [{ result }] = await conn`select conveyor.purge_http_responses() as result`;
      assert.equal(result.deleted, older, "exactly the responses older than six hours");
      assert.ok(older >= 3);
      const kept = await conn`select id from net._http_response where content = 'upkeep probe' order by id desc`;
      assert.deepEqual(kept.map((r) => Number(r.id)), [-4, -5]);
      const [{ left }] = await conn`select count(*)::int as left from net._http_response where created < now() - interval '6 hours'`;
      assert.equal(left, 0);
      await conn`rollback`;
    });
  } finally {
    await endClient(sql);
  }
});

Deno.test("the pg_cron history purge deletes runs that ended before the retention and keeps newer and unfinished ones", async () => {
  const sql = database({ max: 1 });
  try {
    await withReserved(sql, async (conn) => {
      await conn`begin`;
      await conn`update conveyor.settings set value = 3 where name = 'cron_run_details_retention_days'`;
      const [{ jobid }] = await conn`select jobid from cron.job where jobname = 'conveyor-purge-cron-run-details'`;
      const inserted = await conn`insert into cron.job_run_details (jobid, command, status, return_message, start_time, end_time)
        select ${jobid}, 'upkeep probe', m.status, 'probe ' || m.n, now() - m.age, now() - m.age + interval '1 second' * (m.status <> 'running')::int
          from (values (1, 'succeeded', interval '10 days'), (2, 'failed', interval '4 days'),
                       (3, 'succeeded', interval '2 days'), (4, 'succeeded', interval '1 minute'),
                       (5, 'running', interval '5 days')) as m(n, status, age)
        returning runid, return_message`;
      await conn`update cron.job_run_details set end_time = null where command = 'upkeep probe' and status = 'running'`;
      const [{ older }] = await conn`select count(*)::int as older from cron.job_run_details where end_time < now() - interval '3 days'`;
      const [{ result }] = await conn`select conveyor.purge_cron_run_details() as result`;
      assert.equal(result.deleted, older);
      assert.ok(older >= 2);
      const kept = await conn`select return_message from cron.job_run_details
                               where runid = any(${inserted.map((r) => r.runid)}::bigint[]) order by return_message`;
      assert.deepEqual(kept.map((r) => r.return_message), ["probe 3", "probe 4", "probe 5"]);
      await conn`rollback`;
    });
  } finally {
    await endClient(sql);
  }
});

Deno.test("the safety net job wakes the worker of every registered pipeline whose queue holds visible messages", async () => {
  const sql = database({ max: 1 });
  try {
    await withReserved(sql, async (conn) => {
      await conn`begin`;
      await registerProbePipeline(conn);
      const [{ result: idle }] = await conn`select conveyor.wake_pending_pipelines() as result`;
      assert.equal(idle.upkeep_probe, null, "an empty queue is not woken");
      assert.deepEqual(Object.keys(idle).sort(), (await conn`select name from conveyor.pipelines order by name`).map((r) => r.name));
      await conn`select pgmq.send('upkeep_probe'::text, '{"id": 1}'::jsonb)`;
      const [{ result }] = await conn`select conveyor.wake_pending_pipelines() as result`;
      assert.equal(typeof result.upkeep_probe, "number", `a pg_net request for the probe pipeline: ${JSON.stringify(result)}`);
      await conn`rollback`; // nothing is sent: pg_net sends after commit
    });
  } finally {
    await endClient(sql);
  }
});
