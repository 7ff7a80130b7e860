/**
 * Every command of the project prints usage on --help (exit 0) and one line naming the problem on
 * a flag or value it cannot read (exit 2), never a stack trace. Nothing here touches a database:
 * the command line is read before anything else happens.
 */
import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url);
const commands = ["requeue", "import", "demo", "bench", "stack", "test", "db", "status"] as const;

async function run(script: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `scripts/${script}.ts`, ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

for (const name of commands) {
  Deno.test(`deno task ${name} --help prints usage and exits 0`, async () => {
    const { code, stdout } = await run(name, ["--help"]);
    assert.equal(code, 0, stdout);
    assert.match(stdout, new RegExp(`^Usage: deno task ${name} `));
    assert.match(stdout, /-h, --help/);
  });

  Deno.test(`deno task ${name} with an unknown flag says so in one line and exits 2`, async () => {
    const { code, stdout, stderr } = await run(name, ["--no-such-flag"]);
    assert.equal(code, 2, stderr);
    assert.equal(stdout, "");
    assert.equal(stderr.trim().split("\n").length, 1, stderr);
    assert.match(stderr, new RegExp(`^${name}: unknown option '--no-such-flag'`));
  });
}

Deno.test("a bad option value is one line naming the flag", async () => {
  const cases: [string, string[], RegExp][] = [
    ["requeue", ["--status", "lost"], /^requeue: --status: /],
    ["requeue", ["--batch", "not-a-uuid"], /^requeue: --batch: /],
    ["demo", ["--records", "-5"], /^demo: --records: /],
    ["bench", ["--warm-up", "many"], /^bench: --warm-up: /],
    ["bench", ["import", "--import-rows", "0"], /^bench: --import-rows: 0 skips the import phase/],
    ["bench", ["--import-rows", "-1"], /^bench: --import-rows: /],
    ["bench", ["sideways"], /^bench: unknown phase "sideways"/],
    ["demo", ["--import-rows", "some"], /^demo: --import-rows: /],
    ["stack", ["sideways"], /^stack: unknown command "sideways"/],
    ["db", ["check", "--database", "staging"], /^db: --database: /],
    ["db", ["frob"], /^db: unknown command "frob"/],
    ["status", ["--connect-timeout", "never"], /^status: --connect-timeout: /],
  ];
  for (const [name, args, expected] of cases) {
    const { code, stderr } = await run(name, args);
    assert.equal(code, 2, `${name} ${args.join(" ")}: ${stderr}`);
    assert.equal(stderr.trim().split("\n").length, 1, stderr);
    assert.match(stderr, expected);
  }
});

Deno.test("a command that fails (here: the stack's port is taken) says why in one line and exits 1, no stack trace", async () => {
  const occupant = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const stateDir = await Deno.makeTempDir({ prefix: "conveyor-one-line-" });
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "scripts/demo.ts", "--records", "10"],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
      env: {
        NO_COLOR: "1",
        CONVEYOR_STATE_DIR: stateDir,
        CONVEYOR_LOCAL_DB_PORT: String((occupant.addr as Deno.NetAddr).port),
      },
    }).output();
    const stderr = new TextDecoder().decode(output.stderr).trim();
    assert.equal(output.code, 1, stderr);
    assert.equal(stderr.split("\n").length, 1, stderr);
    assert.match(stderr, /^demo: nothing started: port \d+ for the local database is taken/);
  } finally {
    occupant.close();
    await Deno.remove(stateDir, { recursive: true });
  }
});
