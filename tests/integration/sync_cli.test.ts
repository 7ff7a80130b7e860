/**
 * `deno task sync` for people, on the stack's two databases: the progress bar's total is the rows
 * the run then reads (past the cursors, tombstones too; with --full, the whole table; for a pull,
 * the production table); on a terminal the bar shows it, and with --json on a terminal the output
 * is the JSON object alone; a run refused because another run holds a table is logged as busy,
 * shown by `sync status` and the health check, and exits 1 with one line naming the table; a
 * production connection ending as it opens fails the run, logged, instead of ending the process.
 */
import assert from "node:assert/strict";
import { selectDefinitions, syncDefinitions } from "../../supabase/functions/_shared/sync/definitions.ts";
import { runSync } from "../../supabase/functions/_shared/sync/run.ts";
import type { DefinitionTally } from "../../supabase/functions/_shared/sync/run_control.ts";
import { rowsPastCursor } from "../../supabase/functions/_shared/sync/status.ts";
import { expectedRows, rowsReadOf, syncProgressView } from "../../lib/sync_progress.ts";
import { formatCount } from "../../lib/progress_bar.ts";
import { endClient } from "../support/connections.ts";
import { startTypeFetchBreaker } from "../support/type_fetch_breaker.ts";
import {
  cloudClient,
  createSyncedTable,
  dropSyncedTables,
  env,
  homeClient,
  pushOf,
  runSyncCli,
  shopsHomeHasIntoProduction,
  syncCliArgs,
  tag,
} from "../support/sync_tables.ts";

const root = new URL("../../", import.meta.url).pathname;
const cliEnv = { DB_URL: env.DB_URL, CONVEYOR_PRODUCTION_DB_URL: env.CLOUD_POOLER_URL, NO_COLOR: "1" };
const syncArgs = syncCliArgs;

/** `deno task sync ...` with its output piped (no terminal). */
const syncCli = (...args: string[]) => runSyncCli(env.CLOUD_POOLER_URL, args);

const shellQuote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;

/**
 * `deno task sync ...` on a terminal: util-linux `script` runs it on a pseudo-terminal, so stdout
 * and stderr are both a TTY (and both end up in `output`, as a person sees them).
 */
async function syncCliOnTerminal(...args: string[]): Promise<{ code: number; output: string }> {
  const command = [Deno.execPath(), ...syncArgs(args)].map(shellQuote).join(" ");
  const output = await new Deno.Command("script", {
    args: ["--quiet", "--return", "--command", command, "/dev/null"],
    cwd: root,
    env: { ...cliEnv, TERM: "xterm" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).output();
  return { code: output.code, output: new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr) };
}

Deno.test("the progress bar's total is what the run reads: rows and tombstones past the cursors, the whole table with --full, production's rows for a pull", async () => {
  const home = homeClient();
  const cloud = cloudClient();
  const production = cloudClient(env.CLOUD_POOLER_URL);
  const table = tag("bar");
  try {
    await createSyncedTable(home, cloud, table, "id bigint primary key, name text not null");
    const definition = pushOf(table, table);
    const run = async (options: { dryRun?: boolean; full?: boolean } = {}) => {
      const reported: DefinitionTally[] = [];
      const summary = await runSync({
        home,
        production,
        direction: "push",
        definitions: [definition],
        allDefinitions: [definition],
        batchRows: 1000,
        onBatch: (tally) => reported.push({ ...tally }),
        ...options,
      });
      assert.equal(summary.status, "succeeded", summary.error);
      return { read: summary.tables[0].rowsRead, reported };
    };
    const expect = async (full = false) => (await expectedRows(home, production, [definition], { full })).get(table);

    await home.unsafe(`insert into sync_test.${table} (id, name) select g, 'row ' || g from generate_series(1, 2500) as g`);
    assert.equal(await expect(), 2500);
    const first = await run();
    assert.equal(first.read, 2500);
    assert.deepEqual(first.reported.map((t) => t.rowsRead), [1000, 2000, 2500], "one report per batch");
    const last = syncProgressView(new Map([[table, 2500]]), new Map([[table, rowsReadOf(first.reported[2], 2500)]]), table, 1);
    assert.deepEqual([last.value, last.total, last.payload.rows], [2500, 2500, "2,500 of 2,500 rows"]);

    await home.unsafe(`update sync_test.${table} set name = name || ' changed' where id <= 10`);
    await home.unsafe(`delete from sync_test.${table} where id between 11 and 15`);
    await home.unsafe(`insert into sync_test.${table} (id, name) select g, 'row ' || g from generate_series(2501, 2507) as g`);
    assert.equal(await expect(), 10 + 7 + 5, "10 changed and 7 new rows, 5 tombstones");
    assert.equal((await run({ dryRun: true })).read, 22, "a dry run reads the same");
    assert.equal((await run()).read, 22);
    assert.equal(await expect(), 0, "nothing past the cursors after the run");
    assert.equal(await expect(true), 2502, "--full: the table's rows (its tombstones were purged by the run)");
    assert.equal((await run({ dryRun: true, full: true })).read, 2502);

    const shops = selectDefinitions(syncDefinitions, "pull", ["shops"]);
    const [inProduction] = await cloud`select count(*)::int as n from public.shops`;
    assert.equal((await expectedRows(home, production, shops)).get("shops"), inProduction.n, "a pull reads production's table whole");
  } finally {
    await dropSyncedTables(home, cloud, [table], [table]).catch(() => {});
    await endClient(production);
    await endClient(cloud);
    await endClient(home);
  }
});

Deno.test("on a terminal the push shows its bar with the rows counted before it; with --json the output is the JSON object alone, whole", async () => {
  const home = homeClient();
  const cloud = cloudClient();
  const names = [tag("bar_maker_a"), tag("bar_maker_b"), tag("bar_maker_c")];
  try {
    await shopsHomeHasIntoProduction(home, cloud);
    await home`insert into public.manufacturers (name, name_key) select n, n from unnest(${names}::text[]) as n`;
    const manufacturers = selectDefinitions(syncDefinitions, "push", ["manufacturers"])[0];
    const behind = (await rowsPastCursor(home, manufacturers))!;
    assert.ok(behind >= 3);

    const dry = await syncCliOnTerminal("push", "--table", "manufacturers", "--dry-run");
    assert.equal(dry.code, 0, dry.output);
    assert.ok(dry.output.includes(`100% | ${formatCount(behind)} of ${formatCount(behind)} rows |`), dry.output);
    assert.match(dry.output, /rows\/s \| ETA 0s \| manufacturers/);
    assert.match(dry.output, /push \(dry run: nothing written\): succeeded/);

    const pushed = await syncCliOnTerminal("push", "--json");
    assert.equal(pushed.code, 0, pushed.output);
    assert.ok(!pushed.output.includes("\x1b"), "no terminal control sequence");
    assert.doesNotMatch(pushed.output, /rows\/s/, "no bar");
    const summary = JSON.parse(pushed.output);
    assert.equal(summary.status, "succeeded", summary.error);
    assert.equal(summary.complete, true);
    assert.equal(summary.dryRun, false);
    assert.equal(typeof summary.seconds, "number");
    assert.deepEqual(
      summary.tables.map((t: { definition: string }) => t.definition),
      selectDefinitions(syncDefinitions, "push").map((d) => d.name),
      "every push definition, in run order",
    );
    const made = summary.tables.find((t: { definition: string }) => t.definition === "manufacturers");
    assert.equal(made.rowsRead, behind);
    const arrived = await cloud`select count(*)::int as n from public.manufacturers where name = any(${names})`;
    assert.equal(arrived[0].n, 3);
  } finally {
    await home`delete from public.manufacturers where name = any(${names})`.catch(() => {});
    await cloud`delete from public.manufacturers where name = any(${names})`.catch(() => {});
    await endClient(cloud);
    await endClient(home);
  }
});

Deno.test("a run refused because another run holds a table is logged as busy, shown by sync status and the health check, and exits 1 naming the table", async () => {
  const home = homeClient();
  const holder = crypto.randomUUID();
  const started = (await home`select clock_timestamp()::text as now`)[0].now;
  try {
    const [slot] = await home`select conveyor.take_worker_slot('sync:manufacturers', 1, ${holder}::uuid, 60) as slot`;
    assert.equal(slot.slot, 1, "the test holds manufacturers as a running push would");

    const refused = await syncCli("push", "--table", "manufacturers,categories");
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.equal(refused.stdout, "");
    const lines = refused.stderr.trim().split("\n");
    assert.equal(lines.length, 1, refused.stderr);
    assert.match(lines[0], /^sync push: another sync run holds manufacturers: not started/);

    const logged = await home`
      select definition, status, error, finished_at is not null as finished, dry_run
        from conveyor.sync_runs where started_at >= ${started}::timestamptz and status = 'busy' order by definition`;
    assert.deepEqual(logged.map((r) => [r.definition, r.status, r.finished, r.dry_run]), [
      ["categories", "busy", true, false],
      ["manufacturers", "busy", true, false],
    ]);
    for (const row of logged) assert.match(row.error, /another sync run holds manufacturers/);

    const asJson = await syncCli("push", "--table", "manufacturers", "--json");
    assert.equal(asJson.code, 1);
    const summary = JSON.parse(asJson.stdout);
    assert.equal(summary.status, "busy");
    assert.match(summary.error, /another sync run holds manufacturers/);

    const status = await syncCli("status", "--table", "manufacturers", "--json");
    assert.equal(status.code, 0, "a refused run is not a failure of the sync");
    const lastRun = JSON.parse(status.stdout).tables[0].lastRun;
    assert.equal(lastRun.status, "busy");
    assert.match(lastRun.error, /another sync run holds manufacturers/);
    const table = await syncCli("status", "--table", "manufacturers");
    assert.match(table.stdout, /manufacturers\s+push\s+.*\bbusy \d{4}-\d\d-\d\d .*: another sync run holds manufacturers/);

    const [health] = await home`
      select detail from conveyor.pipeline_health where check_name = 'sync_lag_seconds' and subject = 'manufacturers'`;
    assert.match(health.detail, /; refused \d+ time\(s\) since \(another run held it\), the last at /);
  } finally {
    await home`select conveyor.release_worker_slot('sync:manufacturers', 1, ${holder}::uuid)`.catch(() => {});
    await home`delete from conveyor.sync_runs where started_at >= ${started}::timestamptz and status = 'busy'`.catch(() => {});
    await endClient(home);
  }
});

Deno.test("deno task sync survives a production connection that ends as it opens: the run fails naming the table and the cause, is logged as failed, and exits 1", async () => {
  // postgres.js reads the types of every new connection in a query whose failure nobody can catch;
  // unguarded, it ended the process mid-run (the run left `running`, its leases held).
  const breaker = startTypeFetchBreaker({ upstreamPort: Number(new URL(env.CLOUD_DB_URL).port), breaks: [1] });
  const home = homeClient();
  const started = (await home`select clock_timestamp()::text as now`)[0].now;
  try {
    const run = await runSyncCli(breaker.url(env.CLOUD_DB_URL), ["pull"]);
    assert.equal(breaker.broken(), 1, `the run's first production connection ended as it opened: ${run.stderr}`);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stderr, /^sync pull: pull shops: terminating connection due to administrator command$/m);
    const logged = await home`
      select definition, status, error from conveyor.sync_runs where started_at >= ${started}::timestamptz and direction = 'pull'`;
    assert.deepEqual(logged.map((r) => [r.definition, r.status]), [["shops", "failed"]]);
    assert.match(logged[0].error, /terminating connection due to administrator command/);
  } finally {
    await home`delete from conveyor.sync_runs where started_at >= ${started}::timestamptz and direction = 'pull'`.catch(() => {});
    await endClient(home);
    await breaker.stop();
  }
});
