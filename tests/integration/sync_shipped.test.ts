/**
 * The shipped definitions on the stack's two databases, as a user runs them: `deno task sync pull`
 * takes shops from production, `deno task sync push` sends the final tables, `deno task sync
 * verify` exits 0 when both sides are equal and 1, naming the key, after a row is changed by hand
 * in production; `push --full` repairs it.
 */
import assert from "node:assert/strict";
import { syncDefinitions } from "../../supabase/functions/_shared/sync/definitions.ts";
import { runSync } from "../../supabase/functions/_shared/sync/run.ts";
import { endClient } from "../support/connections.ts";
import { cloudClient, env, homeClient, runSyncCli, shopsHomeHasIntoProduction, tag } from "../support/sync_tables.ts";

/** `deno task sync ...` with its output piped (no terminal). */
const syncCli = (...args: string[]) => runSyncCli(env.CLOUD_DB_URL, args);

Deno.test("pull of shops: new and changed shops arrive from production, a shop production no longer has is deleted", async () => {
  const home = homeClient();
  const cloud = cloudClient();
  const [kept, added, gone] = [tag("kept"), tag("added"), tag("gone")].map((s) => s.replaceAll("_", "-"));
  try {
    await home`insert into public.shops (code, name, city) values (${kept}, 'Kept', 'Omsk'), (${gone}, 'Gone', 'Omsk')`;
    await shopsHomeHasIntoProduction(home, cloud);
    await cloud`delete from public.shops where code = ${gone}`;
    await cloud`update public.shops set name = 'Kept, renamed', updated_at = now() where code = ${kept}`;
    await cloud`insert into public.shops (code, name, city, timezone) values (${added}, 'Added', 'Kazan', 'Europe/Moscow')`;
    const shops = syncDefinitions.filter((d) => d.name === "shops");
    const dry = await runSync({ home, production: cloud, direction: "pull", definitions: shops, allDefinitions: syncDefinitions, dryRun: true });
    const run = await runSync({ home, production: cloud, direction: "pull", definitions: shops, allDefinitions: syncDefinitions });
    assert.equal(run.status, "succeeded", run.error);
    const counts = (s: typeof run) => s.tables.map((t) => ({ inserted: t.inserted, updated: t.updated, deleted: t.deleted }));
    assert.deepEqual(counts(run), [{ inserted: 1, updated: 1, deleted: 1 }]);
    assert.deepEqual(counts(dry), counts(run), "the dry run predicted it");
    const rows = await home`select code, name from public.shops where code = any(${[kept, added, gone]}) order by code`;
    assert.deepEqual(rows.map((r) => ({ ...r })).sort((a, b) => a.code.localeCompare(b.code)), [
      { code: added, name: "Added" },
      { code: kept, name: "Kept, renamed" },
    ].sort((a, b) => a.code.localeCompare(b.code)));
    const again = await runSync({ home, production: cloud, direction: "pull", definitions: shops, allDefinitions: syncDefinitions });
    assert.deepEqual(counts(again), [{ inserted: 0, updated: 0, deleted: 0 }]);
    const cli = await syncCli("verify", "--table", "shops");
    assert.equal(cli.code, 0, cli.stdout + cli.stderr);
  } finally {
    await home`delete from public.shops where code = any(${[kept, added, gone]})`.catch(() => {});
    await cloud`delete from public.shops where code = any(${[kept, added, gone]})`.catch(() => {});
    await endClient(cloud);
    await endClient(home);
  }
});

Deno.test("deno task sync push sends the final tables; verify exits 0, then 1 naming the key of a row changed in production; push --full repairs it", async () => {
  const home = homeClient();
  const cloud = cloudClient();
  const name = tag("maker");
  try {
    await shopsHomeHasIntoProduction(home, cloud);
    const [maker] = await home`insert into public.manufacturers (name, name_key) values (${name}, ${name}) returning id::text as id`;
    const push = await syncCli("push");
    assert.equal(push.code, 0, push.stdout + push.stderr);
    assert.match(push.stdout, /push: succeeded/);
    const verify = await syncCli("verify");
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /verify: both sides are equal/);
    const status = await syncCli("status", "--json");
    assert.equal(status.code, 0, status.stderr);
    const operations = JSON.parse(status.stdout).tables.find((t: { definition: string }) => t.definition === "manufacturers");
    assert.equal(operations.rowsBehind, 0);

    await cloud`update public.manufacturers set name = 'changed by hand' where id = ${maker.id}::bigint`;
    const differs = await syncCli("verify", "--table", "manufacturers");
    assert.equal(differs.code, 1, differs.stdout + differs.stderr);
    assert.match(differs.stdout, new RegExp(`content differs: key \\(${maker.id}\\)`));
    const incremental = await syncCli("push", "--json");
    assert.equal(JSON.parse(incremental.stdout).tables.find((t: { definition: string }) => t.definition === "manufacturers").updated, 0,
      "an incremental push does not see a change made in production");
    const full = await syncCli("push", "--full", "--table", "manufacturers", "--json");
    assert.equal(full.code, 0, full.stdout + full.stderr);
    assert.equal(JSON.parse(full.stdout).tables[0].updated, 1);
    assert.equal((await syncCli("verify", "--table", "manufacturers")).code, 0);
  } finally {
    await endClient(cloud);
    await endClient(home);
  }
});

Deno.test("deno task sync refuses a table it has no definition for, naming it", async () => {
  const result = await syncCli("push", "--table", "nonsense");
  assert.equal(result.code, 2);
  assert.match(result.stderr, /no sync definition named nonsense/);
});
