/**
 * The local functions server behaves like `supabase functions serve`: routes, injected env,
 * secrets from .env, the edge runtime's heap limit, verify_jwt per function, isolation of a broken
 * function, restart after a crash, one log line per request. It runs here as a real process over
 * fixture functions.
 */
import assert from "node:assert/strict";
import { signJwt } from "../../scripts/local-stack/keys.ts";
import { freePort } from "../../scripts/local-stack/processes.ts";

const root = new URL("../../", import.meta.url).pathname;
const jwtSecret = "fixture-jwt-secret-with-at-least-32-characters";

async function withServer(run: (origin: string, logs: () => string) => Promise<void>): Promise<void> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `--config=${root}deno.json`, `${root}scripts/local-stack/functions-server.ts`],
    env: {
      CONVEYOR_FUNCTIONS_PORT: String(port),
      CONVEYOR_JWT_SECRET: jwtSecret,
      CONVEYOR_FUNCTIONS_DIR: `${root}tests/fixtures/functions`,
      CONVEYOR_CONFIG_TOML: `${root}tests/fixtures/functions/config.toml`,
      SUPABASE_URL: `http://127.0.0.1:${port}`,
      SUPABASE_DB_URL: "postgresql://postgres:postgres@127.0.0.1:1/postgres",
      SUPABASE_ANON_KEY: "anon-key",
      SUPABASE_SERVICE_ROLE_KEY: "service-key",
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) output += chunk;
  };
  const collecting = Promise.all([collect(child.stdout), collect(child.stderr)]);
  const origin = `http://127.0.0.1:${port}`;
  try {
    const deadline = Date.now() + 15000;
    for (;;) {
      try {
        const health = await fetch(`${origin}/health`);
        await health.body?.cancel();
        if (health.ok) break;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) throw new Error(`functions server did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await run(origin, () => output);
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await collecting;
  }
}

async function call(url: string, init: RequestInit = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {} };
}

Deno.test("the functions server serves functions the way supabase functions serve does", async (t) => {
  await withServer(async (origin, logs) => {
    const anon = await signJwt({ role: "anon", exp: Math.floor(Date.now() / 1000) + 600 }, jwtSecret);

    await t.step("a function is served at /functions/v1/<name> and sees the path /<name>/...", async () => {
      const { status, body } = await call(`${origin}/functions/v1/hello/sub/path?x=1`, {
        headers: { authorization: `Bearer ${anon}` },
      });
      assert.equal(status, 200);
      assert.equal(body.path, "/hello/sub/path");
    });

    await t.step("functions get SUPABASE_* env and secrets from functions/.env, never SUPABASE_ ones from it", async () => {
      const { body } = await call(`${origin}/functions/v1/hello`, { headers: { authorization: `Bearer ${anon}` } });
      assert.deepEqual(body.has, {
        SUPABASE_URL: true,
        SUPABASE_DB_URL: true,
        SUPABASE_ANON_KEY: true,
        SUPABASE_SERVICE_ROLE_KEY: true,
      });
      assert.equal(body.fixture_secret, "from-dotenv");
      assert.equal(body.leaked_jwt_secret, null);
    });

    await t.step("a function's V8 heap is sized by the edge runtime's memory limit, 256 MB", async () => {
      const { body } = await call(`${origin}/functions/v1/hello`, { headers: { authorization: `Bearer ${anon}` } });
      assert.equal(body.heap_limit_mb, 256);
    });

    await t.step("verify_jwt (default true) refuses a call without a valid JWT", async () => {
      assert.equal((await call(`${origin}/functions/v1/hello`)).status, 401);
      const forged = await signJwt({ role: "service_role" }, "another-secret-of-at-least-32-characters!");
      assert.equal((await call(`${origin}/functions/v1/hello`, { headers: { authorization: `Bearer ${forged}` } })).status, 401);
      const expired = await signJwt({ role: "anon", exp: 1000 }, jwtSecret);
      assert.equal((await call(`${origin}/functions/v1/hello`, { headers: { authorization: `Bearer ${expired}` } })).status, 401);
    });

    await t.step("verify_jwt = false in config.toml lets a call through without a JWT", async () => {
      const { status, body } = await call(`${origin}/functions/v1/open`);
      assert.equal(status, 200);
      assert.deepEqual(body, { open: true });
    });

    await t.step("a function that fails to boot answers 503 and the others keep working", async () => {
      const broken = await call(`${origin}/functions/v1/broken`, { headers: { authorization: `Bearer ${anon}` } });
      assert.equal(broken.status, 503);
      assert.equal(broken.body.code, "BOOT_ERROR");
      assert.match(String(broken.body.detail), /fails at start-up/);
      assert.equal((await call(`${origin}/functions/v1/open`)).status, 200);
    });

    await t.step("a function whose process dies is started again on the next request", async () => {
      const auth = { headers: { authorization: `Bearer ${anon}` } };
      assert.equal((await call(`${origin}/functions/v1/crasher`, auth)).status, 200);
      assert.equal((await call(`${origin}/functions/v1/crasher?die=1`, auth)).status, 502);
      const again = await call(`${origin}/functions/v1/crasher`, auth);
      assert.equal(again.status, 200);
      assert.deepEqual(again.body, { alive: true });
    });

    await t.step("an unknown function is 404", async () => {
      assert.equal((await call(`${origin}/functions/v1/no-such-function`)).status, 404);
      assert.equal((await call(`${origin}/functions/v1/_shared`)).status, 404);
    });

    await t.step("every request is logged as one JSON line", () => {
      const requestLines = logs().split("\n").filter((line) => line.includes('"msg":"request"'));
      assert.ok(requestLines.length >= 10, `expected a line per request, got ${requestLines.length}`);
      const line = JSON.parse(requestLines.find((l) => l.includes("/functions/v1/open"))!);
      assert.equal(line.method, "GET");
      assert.equal(typeof line.status, "number");
      assert.equal(typeof line.ms, "number");
    });
  });
});
