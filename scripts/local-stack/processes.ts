/**
 * Running commands and background services for the local stack. PostgreSQL refuses to run as
 * root, so when the stack is started by root the database commands drop to the `postgres` user.
 */
import { logDir, runDir } from "./settings.ts";

export const isRoot = Deno.uid() === 0;

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function run(
  cmd: string[],
  options: { asPostgres?: boolean; env?: Record<string, string>; cwd?: string; stdin?: string } = {},
): Promise<CommandResult> {
  const argv = options.asPostgres && isRoot ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: options.env,
    cwd: options.cwd,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Runs a command and throws with its output when it fails. */
export async function runChecked(
  what: string,
  cmd: string[],
  options: Parameters<typeof run>[1] = {},
): Promise<string> {
  const result = await run(cmd, options);
  if (result.code !== 0) {
    throw new Error(`${what} failed (exit ${result.code}): ${cmd.join(" ")}\n${result.stderr}${result.stdout}`);
  }
  return result.stdout;
}

export function pidFile(service: string): string {
  return `${runDir}/${service}.pid`;
}

export function logFile(service: string): string {
  return `${logDir}/${service}.log`;
}

export function readPid(service: string): number | undefined {
  try {
    const pid = Number(Deno.readTextFileSync(pidFile(service)).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // field 3 is the state; a zombie is not alive
    const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
    return state !== "Z";
  } catch {
    return false;
  }
}

/**
 * Starts a long-running service detached from this process (its own session), its output
 * appended to `.local/logs/<service>.log` and its pid in `.local/run/<service>.pid`.
 */
export async function startService(
  service: string,
  cmd: string[],
  env: Record<string, string> = {},
): Promise<number> {
  Deno.mkdirSync(runDir, { recursive: true });
  Deno.mkdirSync(logDir, { recursive: true });
  const quoted = cmd.map((part) => `'${part.replaceAll("'", `'\\''`)}'`).join(" ");
  const script = `echo $$ > '${pidFile(service)}'; exec ${quoted} >> '${logFile(service)}' 2>&1 < /dev/null`;
  try {
    Deno.removeSync(pidFile(service));
  } catch { /* none yet */ }
  await runChecked(`starting ${service}`, ["setsid", "-f", "sh", "-c", script], {
    env: { ...Deno.env.toObject(), ...env },
  });
  for (let i = 0; i < 100; i++) {
    const pid = readPid(service);
    if (pid) return pid;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`starting ${service}: no pid file appeared`);
}

function signalGroup(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pid, signal);
  } catch {
    try {
      Deno.kill(pid, signal);
    } catch { /* exited meanwhile */ }
  }
}

/** Stops a service by the pid it recorded: SIGTERM, then SIGKILL after a grace period. */
export async function stopService(service: string, graceMs = 5000): Promise<boolean> {
  const pid = readPid(service);
  if (!pid || !isAlive(pid)) {
    try {
      Deno.removeSync(pidFile(service));
    } catch { /* already gone */ }
    return false;
  }
  // Each service leads its own process group (setsid), so its children go with it.
  signalGroup(pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (isAlive(pid)) signalGroup(pid, "SIGKILL");
  try {
    Deno.removeSync(pidFile(service));
  } catch { /* already gone */ }
  return true;
}

export function serviceState(service: string): { pid?: number; up: boolean } {
  const pid = readPid(service);
  return { pid, up: pid !== undefined && isAlive(pid) };
}

export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 20000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** A TCP port on 127.0.0.1 that nothing listens on right now (the system picks it). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Whether something accepts TCP connections on 127.0.0.1:port right now. */
export async function accepts(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** Records the pid of a process started otherwise (a daemon that forks) as a service's, for `stopService`. */
export function recordPid(service: string, pid: number): void {
  Deno.mkdirSync(runDir, { recursive: true });
  Deno.writeTextFileSync(pidFile(service), `${pid}\n`);
}
