/**
 * The local functions server: what `supabase functions serve` does, without Docker. It serves
 * every `supabase/functions/<name>/index.ts` at `/functions/v1/<name>`, each function in its own
 * Deno process (started on first use, restarted after a crash), with the env Supabase injects,
 * `verify_jwt` honoured per function from `supabase/config.toml`, and one JSON log line per
 * request. A function that fails to boot answers 503 and leaves the others alone. Each function's
 * V8 heap is sized as the edge runtime sizes a worker's: from the platform's memory limit
 * (docs/decisions/function-heap-as-edge-runtime.md).
 *
 *   deno run -A scripts/local-stack/functions-server.ts
 * Env: CONVEYOR_FUNCTIONS_PORT, CONVEYOR_JWT_SECRET, SUPABASE_URL, SUPABASE_DB_URL,
 *      SUPABASE_ANON_KEY, SUPABASE_SERVICE_ROLE_KEY; CONVEYOR_FUNCTION_WALL_CLOCK_MS (150000),
 *      CONVEYOR_FUNCTION_MEMORY_MB (256).
 */
import { parse as parseToml } from "smol-toml";
import { z } from "zod";
import { verifyJwt } from "./keys.ts";
import { freePort } from "./processes.ts";
import { repoRoot } from "./settings.ts";

const envSchema = z.object({
  CONVEYOR_FUNCTIONS_PORT: z.coerce.number().int().default(54321),
  CONVEYOR_JWT_SECRET: z.string().min(32),
  CONVEYOR_FUNCTION_WALL_CLOCK_MS: z.coerce.number().int().positive().default(150_000),
  /**
   * Supabase's Edge Functions limit "Maximum Memory: 256MB". The edge runtime creates each
   * worker's isolate with V8 heap limits of that size (heap_limits(0, limit)), from which V8 sizes
   * both generations; `--max-heap-size` does the same for a Deno process.
   */
  CONVEYOR_FUNCTION_MEMORY_MB: z.coerce.number().int().positive().default(256),
  SUPABASE_URL: z.string().url(),
  SUPABASE_DB_URL: z.string().min(1),
  SUPABASE_ANON_KEY: z.string().min(1),
  SUPABASE_SERVICE_ROLE_KEY: z.string().min(1),
  CONVEYOR_PRODUCTION_DB_URL: z.string().optional(),
});

// Overridable so tests can serve a folder of fixture functions with their own config.toml.
const functionsDir = Deno.env.get("CONVEYOR_FUNCTIONS_DIR") ?? `${repoRoot}/supabase/functions`;
const configToml = Deno.env.get("CONVEYOR_CONFIG_TOML") ?? `${repoRoot}/supabase/config.toml`;
const functionNamePattern = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

function log(fields: Record<string, unknown>): void {
  console.log(JSON.stringify({ ts: new Date().toISOString(), ...fields }));
}

/** `verify_jwt` per function from config.toml; Supabase's default is true. */
export function verifyJwtSetting(config: unknown, name: string): boolean {
  const parsed = z.object({
    functions: z.record(z.string(), z.object({ verify_jwt: z.boolean().optional() }).passthrough()).optional(),
  }).passthrough().safeParse(config);
  if (!parsed.success) return true;
  return parsed.data.functions?.[name]?.verify_jwt ?? true;
}

/** `KEY=value` lines of `supabase/functions/.env`, as `supabase functions serve` reads them. */
export function parseDotEnv(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const match = line.match(/^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/);
    if (!match) continue;
    let value = match[2];
    if ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'"))) {
      value = value.slice(1, -1);
    }
    values[match[1]] = value;
  }
  return values;
}

function readDotEnv(): Record<string, string> {
  try {
    const values = parseDotEnv(Deno.readTextFileSync(`${functionsDir}/.env`));
    for (const key of Object.keys(values)) {
      if (key.startsWith("SUPABASE_")) {
        log({ level: "warn", msg: "ignoring secret with the reserved SUPABASE_ prefix", key });
        delete values[key];
      }
    }
    return values;
  } catch {
    return {};
  }
}

interface Host {
  port: number;
  child: Deno.ChildProcess;
  ready: Promise<void>;
  exited: boolean;
}

async function pipeLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      onLine(buffer.slice(0, newline));
      buffer = buffer.slice(newline + 1);
    }
  }
  if (buffer) onLine(buffer);
}

export class FunctionsServer {
  private hosts = new Map<string, Host>();
  private env: z.infer<typeof envSchema>;

  constructor(env: z.infer<typeof envSchema>) {
    this.env = env;
  }

  private functionEnv(): Record<string, string> {
    return {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/tmp",
      ...(Deno.env.get("DENO_DIR") ? { DENO_DIR: Deno.env.get("DENO_DIR")! } : {}),
      ...(this.env.CONVEYOR_PRODUCTION_DB_URL ? { CONVEYOR_PRODUCTION_DB_URL: this.env.CONVEYOR_PRODUCTION_DB_URL } : {}),
      ...readDotEnv(),
      SUPABASE_URL: this.env.SUPABASE_URL,
      SUPABASE_DB_URL: this.env.SUPABASE_DB_URL,
      SUPABASE_ANON_KEY: this.env.SUPABASE_ANON_KEY,
      SUPABASE_SERVICE_ROLE_KEY: this.env.SUPABASE_SERVICE_ROLE_KEY,
    };
  }

  private startHost(name: string): Host {
    const port = freePort();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "--no-prompt",
        // V8 sizes its heap as for the edge runtime's worker; without it, from the machine's memory
        `--v8-flags=--max-heap-size=${this.env.CONVEYOR_FUNCTION_MEMORY_MB}`,
        `--config=${repoRoot}/deno.json`,
        `${repoRoot}/scripts/local-stack/function-host.ts`,
        `${functionsDir}/${name}/index.ts`,
        String(port),
      ],
      cwd: repoRoot,
      clearEnv: true,
      env: this.functionEnv(),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const bootErrors: string[] = [];
    let markReady: () => void = () => {};
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      child.status.then((status) => {
        host.exited = true;
        if (this.hosts.get(name) === host) this.hosts.delete(name);
        log({ level: "warn", msg: "function process exited", function: name, code: status.code });
        reject(new Error(bootErrors.join("\n").slice(-4000) || `exited with code ${status.code}`));
      });
    });
    ready.catch(() => {}); // observed by callers; avoid an unhandled rejection after boot
    const host: Host = { port, child, ready, exited: false };
    pipeLines(child.stdout, (line) => {
      if (line.includes('"function ready"')) markReady();
      console.log(`[${name}] ${line}`);
    });
    pipeLines(child.stderr, (line) => {
      bootErrors.push(line);
      if (bootErrors.length > 50) bootErrors.shift();
      console.error(`[${name}] ${line}`);
    });
    this.hosts.set(name, host);
    return host;
  }

  private hostFor(name: string): Host {
    const existing = this.hosts.get(name);
    if (existing && !existing.exited) return existing;
    return this.startHost(name);
  }

  private config: { mtime: number; parsed: unknown } | undefined;

  /** config.toml, parsed again only when the file changes (it is read on every request). */
  private projectConfig(): unknown {
    try {
      const mtime = Deno.statSync(configToml).mtime?.getTime() ?? 0;
      if (this.config?.mtime !== mtime) {
        this.config = { mtime, parsed: parseToml(Deno.readTextFileSync(configToml)) };
      }
      return this.config.parsed;
    } catch (error) {
      log({ level: "warn", msg: "could not read config.toml", error: String(error) });
      return {};
    }
  }

  private async authorise(name: string, request: Request): Promise<Response | null> {
    if (!verifyJwtSetting(this.projectConfig(), name)) return null;
    const header = request.headers.get("authorization") ?? "";
    const token = header.match(/^Bearer\s+(.+)$/i)?.[1];
    if (token && (await verifyJwt(token, this.env.CONVEYOR_JWT_SECRET))) return null;
    return Response.json({ msg: token ? "Invalid JWT" : "Missing authorization header" }, { status: 401 });
  }

  async handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/health") return Response.json({ ok: true });
    const match = url.pathname.match(/^\/functions\/v1\/([^/]+)(\/.*)?$/);
    if (!match) return Response.json({ msg: "not found" }, { status: 404 });
    const name = match[1];
    try {
      if (!functionNamePattern.test(name) || name.startsWith("_")) throw new Deno.errors.NotFound();
      Deno.statSync(`${functionsDir}/${name}/index.ts`);
    } catch {
      return Response.json({ code: "NOT_FOUND", message: `function ${name} not found` }, { status: 404 });
    }
    if (request.method !== "OPTIONS") {
      const denied = await this.authorise(name, request);
      if (denied) return denied;
    }
    const host = this.hostFor(name);
    try {
      await host.ready;
    } catch (error) {
      return Response.json(
        { code: "BOOT_ERROR", message: `function ${name} failed to start`, detail: String(error) },
        { status: 503 },
      );
    }
    const target = `http://127.0.0.1:${host.port}/${name}${match[2] ?? ""}${url.search}`;
    const headers = new Headers(request.headers);
    headers.delete("host");
    try {
      // Buffered, as Supabase's gateway does: a function may answer (413, 401) before reading
      // the body, and must not turn that into a broken upload.
      const body = request.body ? await request.arrayBuffer() : undefined;
      const response = await fetch(target, {
        method: request.method,
        headers,
        body,
        redirect: "manual",
        signal: AbortSignal.timeout(this.env.CONVEYOR_FUNCTION_WALL_CLOCK_MS),
      });
      return new Response(response.body, { status: response.status, headers: response.headers });
    } catch (error) {
      const timedOut = error instanceof DOMException && error.name === "TimeoutError";
      if (!timedOut) {
        // The process dropped the connection: when it is dying, see its exit before answering,
        // so that the next request starts a fresh process instead of meeting a closed port.
        await Promise.race([host.child.status, new Promise((resolve) => setTimeout(resolve, 1000))]);
      }
      return Response.json(
        { code: timedOut ? "WALL_CLOCK_LIMIT" : "WORKER_ERROR", message: `function ${name}: ${String(error)}` },
        { status: timedOut ? 504 : 502 },
      );
    }
  }

  async shutdown(): Promise<void> {
    const hosts = [...this.hosts.values()];
    for (const host of hosts) {
      try {
        host.child.kill("SIGTERM");
      } catch { /* already gone */ }
    }
    await Promise.race([
      Promise.allSettled(hosts.map((h) => h.child.status)),
      new Promise((resolve) => setTimeout(resolve, 5000)),
    ]);
  }
}

if (import.meta.main) {
  const parsed = envSchema.safeParse(Deno.env.toObject());
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    console.error(`functions server: ${issue.path.join(".")}: ${issue.message}`);
    Deno.exit(2);
  }
  const server = new FunctionsServer(parsed.data);
  const http = Deno.serve({
    hostname: "127.0.0.1",
    port: parsed.data.CONVEYOR_FUNCTIONS_PORT,
    onListen: ({ port }) => log({ level: "info", msg: "functions server listening", port }),
  }, async (request) => {
    const started = performance.now();
    const response = await server.handle(request);
    const url = new URL(request.url);
    log({
      level: response.status >= 500 ? "error" : "info",
      msg: "request",
      method: request.method,
      path: url.pathname,
      status: response.status,
      ms: Math.round(performance.now() - started),
    });
    return response;
  });
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, async () => {
      log({ level: "info", msg: "functions server stopping", signal });
      await server.shutdown();
      await http.shutdown();
      Deno.exit(0);
    });
  }
}
