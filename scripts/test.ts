/**
 * The whole test suite: brings the local stack up (installing what is missing), runs the Deno
 * tests (unit, stand-ins, integration through HTTP and SQL) and the pgTAP tests, prints one
 * closing line `N passed, N failed`, and stops the stack again if it was not running before.
 *
 *   deno task test            everything
 *   deno task test unit       only the tests under tests/unit (no database needed)
 */
import { z } from "zod";
import { commandLine, parseCommandLine } from "./command_line.ts";
import { bringUp, describeStack, stackDown, stackEnvLines } from "./local-stack/stack.ts";
import { repoRoot } from "./local-stack/settings.ts";

const program = commandLine(
  "test",
  "The whole test suite against the local stack (started if needed, stopped again if this run started it); prints `N passed, N failed`.",
).argument("[part]", "unit: only tests/unit, no database needed");
const parsed = parseCommandLine("test", program, z.object({}));
const only = parsed.args[0];
if (only !== undefined && only !== "unit") {
  console.error(`test: unknown part "${only}": the only part is unit (see deno task test --help)`);
  Deno.exit(2);
}
const say = (line: string) => console.error(`test: ${line}`);

interface Outcome {
  passed: number;
  failed: number;
  ok: boolean;
}

async function runAndCount(label: string, cmd: string[], env: Record<string, string>, count: (out: string) => Outcome): Promise<Outcome> {
  say(`${label}: ${cmd.join(" ")}`);
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    cwd: repoRoot,
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const relay = async (stream: ReadableStream<Uint8Array>, sink: typeof Deno.stdout) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      output += decoder.decode(chunk, { stream: true });
      await sink.write(chunk);
    }
  };
  await Promise.all([relay(child.stdout, Deno.stdout), relay(child.stderr, Deno.stderr)]);
  const status = await child.status;
  const outcome = count(output);
  return { ...outcome, ok: outcome.ok && status.success };
}

function stripAnsi(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}

function countDeno(output: string): Outcome {
  const plain = stripAnsi(output);
  const match = plain.match(/(ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/);
  if (!match) return { passed: 0, failed: 1, ok: false };
  return { passed: Number(match[2]), failed: Number(match[3]), ok: match[1] === "ok" };
}

function countProve(output: string): Outcome {
  const plain = stripAnsi(output);
  const tests = plain.match(/Files=\d+, Tests=(\d+)/);
  const failedLines = [...plain.matchAll(/Failed (\d+)\/(\d+) subtests/g)];
  const failed = failedLines.reduce((sum, m) => sum + Number(m[1]), 0);
  const total = tests ? Number(tests[1]) : 0;
  const ok = /Result: PASS/.test(plain);
  return { passed: total - failed, failed: ok ? failed : Math.max(failed, 1), ok };
}

async function main(): Promise<number> {
  const deno = Deno.execPath();
  const baseEnv = { ...Deno.env.toObject(), NO_COLOR: "1" };
  if (only === "unit") {
    const unit = await runAndCount("unit tests", [deno, "test", "-A", "tests/unit/"], baseEnv, countDeno);
    console.log(`${unit.passed} passed, ${unit.failed} failed`);
    return unit.ok ? 0 : 1;
  }

  const wasRunning = (await describeStack()).allUp;
  await bringUp(say);
  const status = await describeStack();
  console.log(status.text);
  const stackEnv = await stackEnvLines();
  const env = { ...baseEnv, ...stackEnv };
  const outcomes: Outcome[] = [];
  try {
    outcomes.push(await runAndCount("deno lint", [deno, "lint"], env, (out) => {
      const problems = Number(/Found (\d+) problems?/.exec(stripAnsi(out))?.[1] ?? 0);
      return { passed: problems === 0 ? 1 : 0, failed: problems === 0 ? 0 : 1, ok: problems === 0 };
    }));
    outcomes.push(await runAndCount("deno tests", [deno, "test", "-A", "--no-check=remote", "tests/"], env, countDeno));
    outcomes.push(
      await runAndCount(
        "plpgsql_check lint (supabase db lint)",
        [`${repoRoot}/node_modules/.bin/supabase`, "db", "lint", "--db-url", stackEnv.DB_URL, "-s", "conveyor,public", "--level", "warning", "--fail-on", "warning"],
        env,
        (out) => {
          const clean = /No schema errors found/.test(out);
          return { passed: clean ? 1 : 0, failed: clean ? 0 : 1, ok: clean };
        },
      ),
    );
    const pgtapFiles = [...Deno.readDirSync(`${repoRoot}/tests/pgtap`)]
      .filter((e) => e.name.endsWith(".sql"))
      .map((e) => `tests/pgtap/${e.name}`)
      .sort();
    if (pgtapFiles.length > 0) {
      const url = new URL(stackEnv.DB_URL);
      outcomes.push(
        await runAndCount(
          "pgTAP tests",
          ["pg_prove", "--ext", ".sql", "-h", url.hostname, "-p", url.port, "-U", url.username, "-d", url.pathname.slice(1), ...pgtapFiles],
          { ...env, PGPASSWORD: decodeURIComponent(url.password) },
          countProve,
        ),
      );
    }
  } finally {
    if (!wasRunning && !Deno.env.get("CONVEYOR_KEEP_STACK")) {
      say("stopping the local stack this run started (set CONVEYOR_KEEP_STACK=1 to keep it)");
      await stackDown(say);
    }
  }
  const passed = outcomes.reduce((s, o) => s + o.passed, 0);
  const failed = outcomes.reduce((s, o) => s + o.failed, 0);
  const kinds = Object.entries(status.extensions.local ?? {}).map(([k, v]) => `${k}=${v}`).join(" ");
  console.log(`extensions under test: ${kinds}`);
  console.log(`${passed} passed, ${failed} failed`);
  return outcomes.every((o) => o.ok) ? 0 : 1;
}

try {
  Deno.exit(await main());
} catch (error) {
  console.error(`test: ${error instanceof Error ? error.message : String(error)}`);
  if (Deno.env.get("CONVEYOR_DEBUG") && error instanceof Error && error.stack) console.error(error.stack);
  Deno.exit(1);
}
