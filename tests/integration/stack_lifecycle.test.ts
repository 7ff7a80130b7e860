/**
 * The local stack's commands, run as a user runs them, on a second stack with its own state
 * folder and ports so the suite's main stack is untouched: up, up again (a no-op), status after a
 * part is killed, env, down (nothing left running), up again. Whichever pg_net and Vault the
 * PostgreSQL run has (real or stand-in), status says which sends the requests, and a Vault
 * secret outlives a restart.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { withClient } from "../support/connections.ts";
import { freePort } from "../../scripts/local-stack/processes.ts";

const root = new URL("../../", import.meta.url).pathname;

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

Deno.test("the local stack comes up, stays up on a second up, tells the truth, and goes down cleanly", async (t) => {
  const stateDir = await Deno.makeTempDir({ prefix: "conveyor-stack-test-" });
  await Deno.chmod(stateDir, 0o755); // the postgres user must reach it when tests run as root
  const env = {
    CONVEYOR_STATE_DIR: stateDir,
    CONVEYOR_LOCAL_DB_PORT: String(freePort()),
    CONVEYOR_CLOUD_DB_PORT: String(freePort()),
    CONVEYOR_FUNCTIONS_PORT: String(freePort()),
    CONVEYOR_CLOUD_POOLER_PORT: String(freePort()),
    CONVEYOR_CLOUD_LINK_PORT: String(freePort()),
    CONVEYOR_CLOUD_LINK_DELAY_MS: "15",
    CONVEYOR_CLOUD_LINK_BANDWIDTH: "",
    NO_COLOR: "1",
  };
  const stack = async (...args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `--config=${root}deno.json`, `${root}scripts/stack.ts`, ...args],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
  };
  const pids = () => {
    const found: Record<string, number> = {};
    for (const service of ["functions-server", "net-dispatcher", "cloud-pooler", "cloud-link"]) {
      try {
        found[service] = Number(Deno.readTextFileSync(`${stateDir}/run/${service}.pid`).trim());
      } catch { /* not running */ }
    }
    for (const cluster of ["local", "cloud"]) {
      try {
        found[cluster] = Number(Deno.readTextFileSync(`${stateDir}/clusters/${cluster}/postmaster.pid`).split("\n")[0]);
      } catch { /* not running */ }
    }
    return found;
  };

  const localDb = () =>
    postgres(`postgresql://postgres:postgres@127.0.0.1:${env.CONVEYOR_LOCAL_DB_PORT}/postgres`, {
      max: 1,
      onnotice: () => {},
    });
  const secretName = `conveyor-lifecycle-${crypto.randomUUID()}`;

  try {
    let first: Record<string, number> = {};
    let realPgNet = false;
    let rootKey: string | undefined;
    await t.step("up creates both clusters, applies migrations and starts the services", async () => {
      const up = await stack("up");
      assert.equal(up.code, 0, up.stderr + up.stdout);
      assert.match(up.stdout, /local database\s+up/);
      assert.match(up.stdout, /cloud database\s+up/);
      assert.match(up.stdout, /functions server\s+up/);
      assert.match(up.stdout, new RegExp(`cloud pooler\\s+up\\s+postgresql://\\S+:${env.CONVEYOR_CLOUD_POOLER_PORT}/postgres: pgbouncer, transaction mode, pool 2`));
      assert.match(up.stdout, new RegExp(`cloud link\\s+up\\s+postgresql://\\S+:${env.CONVEYOR_CLOUD_LINK_PORT}/postgres: 15 ms each way \\(30 ms round trip\\), bandwidth unlimited, to the cloud pooler`));
      const kinds = up.stdout.match(/extensions \(local\): pgmq: (real|stand-in), pg_net: (real|stand-in)/);
      assert.ok(kinds, up.stdout);
      realPgNet = kinds[2] === "real";
      first = pids();
      assert.ok(first.local && first.cloud && first["functions-server"] && first["cloud-pooler"] && first["cloud-link"], JSON.stringify(first));
    });

    await t.step("status names what sends pg_net's requests, and only the stand-in gets a dispatcher", async () => {
      const status = await stack("status");
      assert.equal(status.code, 0, status.stdout);
      if (realPgNet) {
        const [worker] = await withClient(localDb, (sql) =>
          sql<{ pid: number }[]>`select pid from pg_stat_activity where backend_type ilike 'pg_net%'`);
        assert.ok(worker, "real pg_net's background worker runs");
        assert.match(status.stdout, new RegExp(`pg_net\\s+up\\s+real \\(background worker, pid ${worker.pid}\\)`));
        assert.equal(first["net-dispatcher"], undefined, "no dispatcher is started for real pg_net");
        assert.doesNotMatch(status.stdout, /dispatcher/);
      } else {
        assert.ok(first["net-dispatcher"] && alive(first["net-dispatcher"]), JSON.stringify(first));
        assert.match(status.stdout, new RegExp(`pg_net\\s+up\\s+stand-in \\(dispatcher, pid ${first["net-dispatcher"]}\\)`));
      }
    });

    await t.step("a Vault secret is stored encrypted, under the stack's root key when Vault is real", async () => {
      await withClient(localDb, async (sql) => {
        await sql`select vault.create_secret('kept across restarts', ${secretName})`;
        const [{ real }] = await sql<{ real: boolean }[]>`
          select exists (select from pg_extension where extname = 'supabase_vault') as real`;
        const [{ preload }] = await sql<{ preload: string }[]>`select current_setting('shared_preload_libraries') as preload`;
        const libraries = preload.split(",").map((l) => l.trim());
        assert.ok(libraries.includes("pg_cron"), preload);
        assert.equal(libraries.includes("pg_net"), realPgNet, preload);
        assert.equal(libraries.includes("supabase_vault"), real, preload);
        if (!real) return;
        const [{ script }] = await sql<{ script: string }[]>`select current_setting('vault.getkey_script') as script`;
        const printed = await new Deno.Command(script, { stdout: "piped" }).output();
        assert.ok(printed.success, `${script} runs`);
        assert.match(new TextDecoder().decode(printed.stdout).split("\n")[0], /^[0-9a-f]{64}$/);
        rootKey = new TextDecoder().decode(printed.stdout);
        // Owned by the user the server runs as (`postgres` when the stack runs as root), private to it.
        const serverUid = Deno.statSync(`${stateDir}/clusters/local/PG_VERSION`).uid;
        const keyFile = `${script.slice(0, script.lastIndexOf("/"))}/root.key`;
        for (const [file, mode] of [[script, 0o700], [keyFile, 0o600]] as const) {
          const info = Deno.statSync(file);
          assert.equal(info.uid, serverUid, `${file} is owned by the server's user`);
          assert.equal(info.mode! & 0o777, mode, `${file} has mode ${mode.toString(8)}`);
        }
      });
    });

    await t.step("a second up is a no-op: same processes, nothing created", async () => {
      const again = await stack("up");
      assert.equal(again.code, 0, again.stderr);
      assert.doesNotMatch(again.stderr, /creating|starting/);
      assert.deepEqual(pids(), first);
    });

    await t.step("env prints the connection facts as KEY=\"value\" lines", async () => {
      const out = await stack("env");
      assert.equal(out.code, 0);
      for (const key of ["API_URL", "DB_URL", "CLOUD_DB_URL", "CLOUD_POOLER_URL", "CLOUD_LINK_URL", "FUNCTIONS_URL", "SERVICE_ROLE_KEY", "ANON_KEY"]) {
        assert.match(out.stdout, new RegExp(`^${key}=".+"$`, "m"), `${key} missing`);
      }
      assert.match(out.stdout, new RegExp(`DB_URL=".*:${env.CONVEYOR_LOCAL_DB_PORT}/postgres"`));
      assert.match(out.stdout, new RegExp(`^CLOUD_DB_URL=".*:${env.CONVEYOR_CLOUD_DB_PORT}/postgres"`, "m"));
      assert.match(out.stdout, new RegExp(`^CLOUD_POOLER_URL=".*:${env.CONVEYOR_CLOUD_POOLER_PORT}/postgres"`, "m"));
      assert.match(out.stdout, new RegExp(`^CLOUD_LINK_URL=".*:${env.CONVEYOR_CLOUD_LINK_PORT}/postgres"`, "m"));
    });

    await t.step("the cloud link reaches the cloud cluster through the pooler", async () => {
      const url = `postgresql://postgres:postgres@127.0.0.1:${env.CONVEYOR_CLOUD_LINK_PORT}/postgres`;
      const linked = () => postgres(url, { max: 1, prepare: false, onnotice: () => {} });
      const [row] = await withClient(linked, (sql) => sql<{ port: number }[]>`select current_setting('port')::int as port`);
      assert.equal(row.port, Number(env.CONVEYOR_CLOUD_DB_PORT));
    });

    await t.step("status tells the truth after the functions server and the cloud link are killed", async () => {
      for (const part of ["functions-server", "cloud-link"]) {
        Deno.kill(first[part], "SIGKILL");
        for (let i = 0; i < 50 && alive(first[part]); i++) await new Promise((r) => setTimeout(r, 50));
      }
      const status = await stack("status");
      assert.equal(status.code, 3);
      assert.match(status.stdout, /functions server\s+DOWN/);
      assert.match(status.stdout, /cloud link\s+DOWN/);
      assert.match(status.stdout, /cloud pooler\s+up/);
      assert.match(status.stdout, /local database\s+up/);
    });

    await t.step("status tells the truth after a database is killed", async () => {
      Deno.kill(first.cloud, "SIGKILL");
      for (let i = 0; i < 50 && alive(first.cloud); i++) await new Promise((r) => setTimeout(r, 50));
      const status = await stack("status");
      assert.equal(status.code, 3);
      assert.match(status.stdout, /cloud database\s+DOWN/);
    });

    await t.step("up brings the killed parts back", async () => {
      const up = await stack("up");
      assert.equal(up.code, 0, up.stderr + up.stdout);
      assert.match(up.stdout, /functions server\s+up/);
      assert.match(up.stdout, /cloud database\s+up/);
      assert.match(up.stdout, /cloud link\s+up/);
    });

    await t.step("up with another link delay and a bandwidth cap restarts the link with them, and only the link", async () => {
      const before = pids();
      env.CONVEYOR_CLOUD_LINK_DELAY_MS = "25";
      env.CONVEYOR_CLOUD_LINK_BANDWIDTH = "50mbit";
      const up = await stack("up");
      assert.equal(up.code, 0, up.stderr + up.stdout);
      assert.match(up.stderr, /restarting the cloud link: now 25 ms each way/);
      assert.match(up.stdout, /cloud link\s+up\s+\S+: 25 ms each way \(50 ms round trip\), capped at 6250000 bytes\/s \(50 Mbit\/s\) each way/);
      const after = pids();
      assert.notEqual(after["cloud-link"], before["cloud-link"]);
      assert.equal(alive(before["cloud-link"]), false, "the old link is stopped");
      assert.equal(after["cloud-pooler"], before["cloud-pooler"]);
      const status = JSON.parse((await stack("status", "--json")).stdout);
      assert.deepEqual(
        { delayMs: status.cloudLink.delayMs, bandwidth: status.cloudLink.bandwidthBytesPerSecond },
        { delayMs: 25, bandwidth: 6_250_000 },
      );
    });

    await t.step("down stops everything it started and leaves no process behind", async () => {
      const running = pids();
      const down = await stack("down");
      assert.equal(down.code, 0, down.stderr);
      for (const [part, pid] of Object.entries(running)) {
        for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
        assert.equal(alive(pid), false, `${part} (pid ${pid}) still running`);
      }
      const status = await stack("status");
      assert.equal(status.code, 3);
      assert.doesNotMatch(status.stdout, /\sup\s{2}/);
    });

    await t.step("up after down works again, keeping the data and the Vault secrets", async () => {
      const up = await stack("up");
      assert.equal(up.code, 0, up.stderr + up.stdout);
      assert.doesNotMatch(up.stderr, /creating the/);
      const status = await stack("status");
      assert.equal(status.code, 0, status.stdout);
      const [secret] = await withClient(localDb, (sql) =>
        sql<{ decrypted_secret: string }[]>`select decrypted_secret from vault.decrypted_secrets where name = ${secretName}`);
      assert.equal(secret?.decrypted_secret, "kept across restarts");
      if (rootKey !== undefined) {
        const [{ script }] = await withClient(localDb, (sql) =>
          sql<{ script: string }[]>`select current_setting('vault.getkey_script') as script`);
        const printed = await new Deno.Command(script, { stdout: "piped" }).output();
        assert.equal(new TextDecoder().decode(printed.stdout), rootKey, "the same root key after the restart");
      }
    });
  } finally {
    await stack("down");
    await Deno.remove(stateDir, { recursive: true }).catch(() => {});
  }
});
