/**
 * `stack up` when another program already listens on one of the stack's ports (a running
 * `supabase start` on 54322, say): one line that names the port, the part that needs it and the
 * variable that moves it; a non-zero exit; nothing started. Run on a stack of its own (state
 * folder and ports), so the suite's main stack is untouched.
 */
import assert from "node:assert/strict";
import { freePort } from "../../scripts/local-stack/processes.ts";

const root = new URL("../../", import.meta.url).pathname;

function isFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

const parts = [
  { variable: "CONVEYOR_LOCAL_DB_PORT", part: "local database" },
  { variable: "CONVEYOR_CLOUD_DB_PORT", part: "cloud database" },
  { variable: "CONVEYOR_FUNCTIONS_PORT", part: "functions server" },
  { variable: "CONVEYOR_CLOUD_POOLER_PORT", part: "cloud pooler" },
  { variable: "CONVEYOR_CLOUD_LINK_PORT", part: "cloud link" },
] as const;

for (const taken of parts) {
  Deno.test(`stack up with the ${taken.part}'s port taken says so in one line, naming ${taken.variable}, and starts nothing`, async () => {
    const stateDir = await Deno.makeTempDir({ prefix: "conveyor-port-test-" });
    await Deno.chmod(stateDir, 0o755); // the postgres user must reach it when tests run as root
    const occupant = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const env: Record<string, string> = { CONVEYOR_STATE_DIR: stateDir, NO_COLOR: "1" };
    for (const { variable } of parts) {
      env[variable] = String(variable === taken.variable ? (occupant.addr as Deno.NetAddr).port : freePort());
    }
    const stack = (command: string) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", `--config=${root}deno.json`, `${root}scripts/stack.ts`, command],
        env,
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(60_000),
      }).output();
    try {
      const out = await stack("up");
      const stderr = new TextDecoder().decode(out.stderr).trim();
      assert.notEqual(out.code, 0);
      assert.equal(stderr.split("\n").length, 1, `one line:\n${stderr}`);
      assert.match(
        stderr,
        new RegExp(`port ${env[taken.variable]} for the ${taken.part} is taken .*set ${taken.variable} to a free port`),
      );
      assert.doesNotMatch(stderr, /\bat .*:\d+:\d+|warning|chdir/i);

      // Nothing started: no service, no cluster, the other ports still free.
      const running = [...Deno.readDirSync(stateDir)].map((e) => e.name);
      assert.ok(!running.includes("run"), `no service was started: ${running.join(", ")}`);
      for (const cluster of ["local", "cloud"]) {
        let postmaster = false;
        try {
          Deno.statSync(`${stateDir}/clusters/${cluster}/postmaster.pid`);
          postmaster = true;
        } catch { /* none */ }
        assert.equal(postmaster, false, `the ${cluster} cluster was not started`);
      }
      for (const { variable } of parts) {
        if (variable !== taken.variable) assert.ok(isFree(Number(env[variable])), `${variable} ${env[variable]} still free`);
      }
    } finally {
      occupant.close();
      await stack("down"); // should there be anything to stop, before its state folder goes
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  });
}
