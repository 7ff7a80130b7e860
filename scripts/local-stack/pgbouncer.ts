/**
 * pgbouncer in front of a cluster, as a transaction-mode pooler like Supavisor's port 6543:
 * session state (advisory locks, prepared statements, SET) does not outlive a transaction. Each
 * instance has its own folder (ini, userlist, pid, log) under the stack's clusters folder, listens
 * on 127.0.0.1 at a free port, authenticates its clients with the cluster's password and logs in
 * to the cluster with it; as root it runs as the `postgres` user. Stopped by its pid.
 *
 *   const pooler = await startPgBouncer({ name: "slots", upstreamPort: 54322, poolSize: 2 });
 *   postgres(pooler.url, { prepare: false });   // then: await pooler.stop();
 */
import { clustersRoot } from "./cluster.ts";
import { accepts, freePort, isAlive, isRoot, runChecked } from "./processes.ts";
import { dbPassword } from "./settings.ts";

export const pgbouncerBin = Deno.env.get("CONVEYOR_PGBOUNCER_BIN") ?? "/usr/sbin/pgbouncer";

export interface PgBouncerOptions {
  /** Names this instance's folder: pgbouncer-<name>. */
  name: string;
  /** The cluster's port on 127.0.0.1. */
  upstreamPort: number;
  /** Server connections per database and user (default_pool_size). */
  poolSize: number;
  poolMode?: "transaction" | "session" | "statement";
  user?: string;
  password?: string;
  maxClientConnections?: number;
  /** The port to listen on at 127.0.0.1; default: a free one. */
  port?: number;
}

export interface PgBouncer {
  pid: number;
  port: number;
  /** The connection string of a database through the pooler. */
  url: string;
  dir: string;
  log: string;
  stop(): Promise<void>;
}

function iniFor(options: Required<Omit<PgBouncerOptions, "port">>, port: number, dir: string): string {
  return [
    "; written by the Conveyor local stack (scripts/local-stack/pgbouncer.ts)",
    "[databases]",
    `* = host=127.0.0.1 port=${options.upstreamPort}`,
    "",
    "[pgbouncer]",
    "listen_addr = 127.0.0.1",
    `listen_port = ${port}`,
    "unix_socket_dir =",
    "auth_type = scram-sha-256",
    `auth_file = ${dir}/userlist.txt`,
    `pool_mode = ${options.poolMode}`,
    `default_pool_size = ${options.poolSize}`,
    "min_pool_size = 0",
    "reserve_pool_size = 0",
    `max_client_conn = ${options.maxClientConnections}`,
    // After the database was down, log in again within a second (default 15 s).
    "server_login_retry = 1",
    `pidfile = ${dir}/pgbouncer.pid`,
    `logfile = ${dir}/pgbouncer.log`,
    // postgres.js sends these at start-up; pgbouncer would refuse a parameter it does not track
    "ignore_startup_parameters = extra_float_digits,search_path,statement_timeout,lock_timeout",
    "",
  ].join("\n");
}

function readPidFile(path: string): number | undefined {
  try {
    const pid = Number(Deno.readTextFileSync(path).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Stops a pgbouncer by its pid: SIGTERM (immediate shutdown), SIGKILL after a grace period. */
export async function stopPgBouncer(pid: number, graceMs = 5000): Promise<void> {
  if (!isAlive(pid)) return;
  try {
    Deno.kill(pid, "SIGTERM");
  } catch { /* exited meanwhile */ }
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  if (isAlive(pid)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* exited meanwhile */ }
  }
}

export async function startPgBouncer(input: PgBouncerOptions): Promise<PgBouncer> {
  const options: Required<Omit<PgBouncerOptions, "port">> = {
    poolMode: "transaction",
    user: "postgres",
    password: dbPassword,
    maxClientConnections: 200,
    ...input,
  };
  if (!/^[a-z0-9_-]+$/i.test(options.name)) throw new Error(`pgbouncer name ${options.name}: letters, digits, - and _ only`);
  const dir = `${await clustersRoot()}/pgbouncer-${options.name}`;
  const pidPath = `${dir}/pgbouncer.pid`;
  const stale = readPidFile(pidPath);
  if (stale && isAlive(stale)) await stopPgBouncer(stale);
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const port = input.port ?? freePort();
  const quote = (s: string) => `"${s.replaceAll('"', '""')}"`;
  Deno.writeTextFileSync(`${dir}/userlist.txt`, `${quote(options.user)} ${quote(options.password)}\n`, { mode: 0o600 });
  Deno.writeTextFileSync(`${dir}/pgbouncer.ini`, iniFor(options, port, dir), { mode: 0o600 });
  try {
    Deno.removeSync(pidPath);
  } catch { /* none */ }
  if (isRoot) {
    const uid = Number((await runChecked("id -u postgres", ["id", "-u", "postgres"])).trim());
    for (const file of ["", "/userlist.txt", "/pgbouncer.ini"]) Deno.chownSync(`${dir}${file}`, uid, null);
  }
  const argv = [pgbouncerBin, "-d", `${dir}/pgbouncer.ini`];
  await runChecked("starting pgbouncer", isRoot ? ["runuser", "-u", "postgres", "--", ...argv] : argv);
  const deadline = Date.now() + 10_000;
  let pid: number | undefined;
  while (Date.now() < deadline) {
    pid = readPidFile(pidPath);
    if (pid && (await accepts(port))) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  if (!pid || !(await accepts(port))) {
    const log = (() => {
      try {
        return Deno.readTextFileSync(`${dir}/pgbouncer.log`).split("\n").slice(-10).join("\n");
      } catch {
        return "(no log)";
      }
    })();
    if (pid) await stopPgBouncer(pid);
    throw new Error(`pgbouncer did not start on 127.0.0.1:${port} within 10 s; its log:\n${log}`);
  }
  const running = pid;
  return {
    pid: running,
    port,
    url: `postgresql://${encodeURIComponent(options.user)}:${encodeURIComponent(options.password)}@127.0.0.1:${port}/postgres`,
    dir,
    log: `${dir}/pgbouncer.log`,
    stop: () => stopPgBouncer(running),
  };
}
