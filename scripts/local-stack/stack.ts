/**
 * The local stack as a whole: two clusters, the pg_net dispatcher (when pg_net is a stand-in;
 * real pg_net sends from a background worker inside the database), the functions server, and the
 * way the sync engine reaches the production project: pgbouncer in transaction mode in front of
 * the cloud cluster (the cloud pooler) and the latency proxy in front of it (the cloud link).
 * Every part records its pid under `.local/run`, so `down` stops exactly what `up` started and
 * `status` can tell when a part has died.
 */
import postgres from "postgres";
import {
  assertSameExtensions,
  bootstrapCluster,
  dataDir,
  ensurePackages,
  extensionKinds,
  initCluster,
  isBootstrapped,
  isInitialised,
  isRunning,
  pushMigrations,
  realExtensions,
  startCluster,
  stopCluster,
  wipeCluster,
} from "./cluster.ts";
import { ensureKeys } from "./keys.ts";
import { describeLink } from "./latency-proxy.ts";
import { startPgBouncer } from "./pgbouncer.ts";
import { portProblems } from "./ports.ts";
import { accepts, logFile, recordPid, serviceState, startService, stopService, waitFor } from "./processes.ts";
import { cloudLink, clusters, dbUrl, functionsOrigin, logDir, ports, repoRoot, runDir, stackEnvFile, stateDir } from "./settings.ts";

const localCluster = clusters.find((c) => c.name === "local")!;
const cloudCluster = clusters.find((c) => c.name === "cloud")!;

const deno = Deno.execPath();

/** Vault secrets the migrations' config lookup reads: where functions live and the key to call them. */
export const projectUrlSecret = "conveyor_project_url";
export const workerKeySecret = "conveyor_worker_key";

async function upsertVaultSecrets(values: Record<string, string>): Promise<void> {
  const sql = postgres(dbUrl(localCluster.port), { max: 1, onnotice: () => {} });
  try {
    for (const [name, value] of Object.entries(values)) {
      const [existing] = await sql<{ id: string }[]>`select id from vault.secrets where name = ${name}`;
      if (existing) {
        await sql`select vault.update_secret(${existing.id}::uuid, ${value})`;
      } else {
        await sql`select vault.create_secret(${value}, ${name})`;
      }
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function functionsServerAnswers(): Promise<boolean> {
  try {
    const response = await fetch(`${functionsOrigin}/health`, { signal: AbortSignal.timeout(1000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

export async function stackEnvLines(): Promise<Record<string, string>> {
  const keys = await ensureKeys();
  return {
    API_URL: functionsOrigin,
    FUNCTIONS_URL: `${functionsOrigin}/functions/v1`,
    DB_URL: dbUrl(localCluster.port),
    CLOUD_DB_URL: dbUrl(cloudCluster.port),
    CLOUD_POOLER_URL: dbUrl(ports.CONVEYOR_CLOUD_POOLER_PORT),
    CLOUD_LINK_URL: dbUrl(ports.CONVEYOR_CLOUD_LINK_PORT),
    ANON_KEY: keys.anonKey,
    SERVICE_ROLE_KEY: keys.serviceRoleKey,
    JWT_SECRET: keys.jwtSecret,
  };
}

/** Writes `.local/stack.env` and returns its text (KEY="value" lines, like `supabase status -o env`). */
export async function writeStackEnv(): Promise<string> {
  const lines = Object.entries(await stackEnvLines()).map(([k, v]) => `${k}="${v}"`).join("\n");
  Deno.mkdirSync(stateDir, { recursive: true });
  Deno.writeTextFileSync(stackEnvFile, `${lines}\n`, { mode: 0o600 });
  return lines;
}

/** Refuses, before anything starts, when a part that is not running yet cannot have its port. */
async function assertPortsFree(): Promise<void> {
  const claims = [];
  for (const spec of clusters) {
    claims.push({ part: `${spec.name} database`, port: spec.port, variable: spec.portVariable, running: await isRunning(spec) });
  }
  claims.push({
    part: "functions server",
    port: ports.CONVEYOR_FUNCTIONS_PORT,
    variable: "CONVEYOR_FUNCTIONS_PORT",
    running: serviceState("functions-server").up,
  });
  claims.push({
    part: "cloud pooler",
    port: ports.CONVEYOR_CLOUD_POOLER_PORT,
    variable: "CONVEYOR_CLOUD_POOLER_PORT",
    running: serviceState(cloudPoolerService).up,
  });
  claims.push({
    part: "cloud link",
    port: ports.CONVEYOR_CLOUD_LINK_PORT,
    variable: "CONVEYOR_CLOUD_LINK_PORT",
    running: serviceState(cloudLinkService).up,
  });
  const problems = portProblems(claims);
  if (problems.length > 0) throw new Error(`nothing started: ${problems.join("; ")}`);
}

const cloudPoolerService = "cloud-pooler";
const cloudLinkService = "cloud-link";

/** What the running cloud link was started with, kept beside its pid (`.local/run/cloud-link.json`). */
interface LinkSettings {
  upstreamPort: number;
  delayMs: number;
  bandwidthBytesPerSecond: number | null;
}

const linkSettingsFile = () => `${runDir}/${cloudLinkService}.json`;

function runningLinkSettings(): LinkSettings | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(linkSettingsFile())) as LinkSettings;
  } catch {
    return undefined;
  }
}

function wantedLinkSettings(): LinkSettings {
  return {
    upstreamPort: ports.CONVEYOR_CLOUD_POOLER_PORT,
    delayMs: cloudLink.delayMs,
    bandwidthBytesPerSecond: cloudLink.bandwidthBytesPerSecond ?? null,
  };
}

/** The cloud pooler (pgbouncer, transaction mode) and the cloud link (the latency proxy) in front of it. */
async function bringUpCloudLink(say: (line: string) => void): Promise<void> {
  if (!serviceState(cloudPoolerService).up) {
    say(`starting the cloud pooler (pgbouncer, transaction mode, pool ${cloudLink.poolerPoolSize}) on port ${ports.CONVEYOR_CLOUD_POOLER_PORT}`);
    const pooler = await startPgBouncer({
      name: "cloud",
      upstreamPort: cloudCluster.port,
      port: ports.CONVEYOR_CLOUD_POOLER_PORT,
      poolSize: cloudLink.poolerPoolSize,
    });
    recordPid(cloudPoolerService, pooler.pid);
  }
  const wanted = wantedLinkSettings();
  const running = runningLinkSettings();
  if (serviceState(cloudLinkService).up && JSON.stringify(running) !== JSON.stringify(wanted)) {
    say(`restarting the cloud link: now ${describeLink(wanted.delayMs, wanted.bandwidthBytesPerSecond ?? undefined)}`);
    await stopService(cloudLinkService);
  }
  if (!serviceState(cloudLinkService).up) {
    say(`starting the cloud link on port ${ports.CONVEYOR_CLOUD_LINK_PORT}: ${describeLink(wanted.delayMs, wanted.bandwidthBytesPerSecond ?? undefined)}`);
    await startService(cloudLinkService, [
      deno,
      "run",
      "--allow-all",
      `--config=${repoRoot}/deno.json`,
      `${repoRoot}/scripts/local-stack/latency-proxy.ts`,
      "--port",
      String(ports.CONVEYOR_CLOUD_LINK_PORT),
      "--upstream-port",
      String(wanted.upstreamPort),
      "--delay-ms",
      String(wanted.delayMs),
      ...(wanted.bandwidthBytesPerSecond === null ? [] : ["--bandwidth", String(wanted.bandwidthBytesPerSecond)]),
    ]);
    Deno.writeTextFileSync(linkSettingsFile(), JSON.stringify(wanted));
    await waitFor("the cloud link", () => accepts(ports.CONVEYOR_CLOUD_LINK_PORT), 15000).catch((error) => {
      throw new Error(`${error.message}; see ${logFile(cloudLinkService)}`);
    });
  }
}

/** What sends pg_net's requests: real pg_net's background worker, or the stand-in's dispatcher. */
export type PgNetSender = "background worker" | "dispatcher";

/** Asked of the database itself (which pg_net its migrations created), else of the installation. */
async function pgNetSender(): Promise<PgNetSender> {
  const kinds = await extensionKinds(localCluster).catch(() => undefined);
  const real = kinds ? kinds.pg_net === "real" : realExtensions().has("pg_net");
  return real ? "background worker" : "dispatcher";
}

/**
 * The local stack's tests and bench drive the sync themselves, so the sync's pg_cron jobs must not
 * push in the middle of them: its scheduled wakes are paused once, when the stack first sees the
 * function (resume: update conveyor.function_wakes set paused = false where function_name = 'sync').
 */
async function pauseScheduledSyncOnce(): Promise<void> {
  const local = clusters.find((spec) => spec.name === "local")!;
  const sql = postgres(dbUrl(local.port), { max: 1, onnotice: () => {} });
  try {
    const [{ migrated }] = await sql<{ migrated: boolean }[]>`
      select to_regclass('conveyor.function_wakes') is not null as migrated`;
    if (!migrated) return; // a database with only some migrations (a new baseline being generated)
    await sql`insert into conveyor.function_wakes (function_name, paused) values ('sync', true)
              on conflict (function_name) do nothing`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export async function bringUp(say: (line: string) => void): Promise<void> {
  await assertPortsFree();
  await ensurePackages(say);
  const keys = await ensureKeys();
  for (const spec of clusters) {
    const fresh = !(await isInitialised(spec));
    if (!fresh) await assertSameExtensions(spec);
    if (fresh) {
      say(`creating the ${spec.name} cluster in ${await dataDir(spec)}`);
      await initCluster(spec);
    }
    if (!(await isRunning(spec))) {
      say(`starting the ${spec.name} cluster on port ${spec.port}`);
      await startCluster(spec);
    }
    if (!(await isBootstrapped(spec))) await bootstrapCluster(spec);
    const pushed = await pushMigrations(spec);
    if (!/up to date/i.test(pushed)) say(`migrations applied to ${spec.name}`);
  }
  await pauseScheduledSyncOnce();
  await upsertVaultSecrets({ [projectUrlSecret]: functionsOrigin, [workerKeySecret]: keys.serviceRoleKey });
  await writeStackEnv();

  if ((await pgNetSender()) === "dispatcher" && !serviceState("net-dispatcher").up) {
    say("starting the pg_net dispatcher");
    await startService("net-dispatcher", [
      deno,
      "run",
      "--allow-all",
      `--config=${repoRoot}/deno.json`,
      `${repoRoot}/scripts/local-stack/net-dispatcher.ts`,
      "--db-url",
      dbUrl(localCluster.port),
    ]);
  }
  if (!serviceState("functions-server").up) {
    say(`starting the functions server on ${functionsOrigin}`);
    await startService(
      "functions-server",
      [deno, "run", "--allow-all", `--config=${repoRoot}/deno.json`, `${repoRoot}/scripts/local-stack/functions-server.ts`],
      {
        CONVEYOR_FUNCTIONS_PORT: String(ports.CONVEYOR_FUNCTIONS_PORT),
        CONVEYOR_JWT_SECRET: keys.jwtSecret,
        SUPABASE_URL: functionsOrigin,
        SUPABASE_DB_URL: dbUrl(localCluster.port),
        SUPABASE_ANON_KEY: keys.anonKey,
        SUPABASE_SERVICE_ROLE_KEY: keys.serviceRoleKey,
        // the sync function's production database: the cloud cluster through pgbouncer and the
        // latency proxy (supabase/functions/.env may name another)
        CONVEYOR_PRODUCTION_DB_URL: dbUrl(ports.CONVEYOR_CLOUD_LINK_PORT),
      },
    );
    await waitFor("the functions server", functionsServerAnswers, 30000).catch((error) => {
      throw new Error(`${error.message}; see ${logFile("functions-server")}`);
    });
  }
  await bringUpCloudLink(say);
}

export async function stackDown(say: (line: string) => void): Promise<void> {
  for (const service of [cloudLinkService, cloudPoolerService, "functions-server", "net-dispatcher"]) {
    if (await stopService(service)) say(`stopped ${service}`);
  }
  try {
    Deno.removeSync(linkSettingsFile());
  } catch { /* not running */ }
  for (const spec of clusters) {
    if (await stopCluster(spec)) say(`stopped the ${spec.name} cluster`);
  }
}

export async function wipeStack(say: (line: string) => void): Promise<void> {
  await stackDown(say);
  for (const spec of clusters) {
    await wipeCluster(spec);
    say(`wiped the ${spec.name} cluster`);
  }
}

export interface StackStatus {
  allUp: boolean;
  parts: { part: string; up: boolean; detail: string }[];
  extensions: Record<string, Record<string, string>>;
  /** The cloud link's settings as it runs (null when it does not). */
  cloudLink: (LinkSettings & { port: number; url: string }) | null;
  /** Each function woken from SQL: ok, paused, or failing (a Vault secret missing, ...). */
  wakes: { function: string; state: "ok" | "paused" | "failing"; detail: string }[];
  text: string;
}

/** The wakes the working database sends (conveyor.function_wakes), as operators need to see them. */
async function wakeStates(): Promise<StackStatus["wakes"]> {
  const sql = postgres(dbUrl(localCluster.port), { max: 1, onnotice: () => {}, connect_timeout: 3 });
  try {
    const rows = await sql<
      { function_name: string; paused: boolean; requests_sent: string; last_requested_at: Date; last_wake_error: string | null; last_wake_error_at: Date | null }[]
    >`
      select function_name, paused, requests_sent, last_requested_at, last_wake_error, last_wake_error_at
        from conveyor.function_wakes order by function_name`;
    return rows.map((w) => ({
      function: w.function_name,
      state: w.last_wake_error !== null ? "failing" : w.paused ? "paused" : "ok",
      detail: w.last_wake_error !== null
        ? `since ${w.last_wake_error_at?.toISOString()}: ${w.last_wake_error}`
        : `${w.paused ? "paused by an operator (select conveyor.resume_wakes(...)); " : ""}${w.requests_sent} sent`,
    }));
  } catch {
    return []; // not migrated yet
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function cronVersion(port: number): Promise<string> {
  const sql = postgres(dbUrl(port), { max: 1, onnotice: () => {}, connect_timeout: 3 });
  try {
    const [row] = await sql<{ extversion: string }[]>`select extversion from pg_extension where extname = 'pg_cron'`;
    return row?.extversion ?? "not created";
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** The background worker's pid, if real pg_net's worker runs in the working database. */
async function pgNetWorkerPid(): Promise<number | undefined> {
  const sql = postgres(dbUrl(localCluster.port), { max: 1, onnotice: () => {}, connect_timeout: 3 });
  try {
    const [row] = await sql<{ pid: number }[]>`
      select pid from pg_catalog.pg_stat_activity where backend_type ilike 'pg_net%' order by pid limit 1`;
    return row?.pid;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Whatever sends pg_net's requests, and whether it runs: real pg_net's worker or the dispatcher. */
async function pgNetState(): Promise<StackStatus["parts"][number]> {
  if ((await pgNetSender()) === "background worker") {
    const pid = await pgNetWorkerPid().catch(() => undefined);
    return {
      part: "pg_net",
      up: pid !== undefined,
      detail: pid !== undefined
        ? `real (background worker, pid ${pid})`
        : "real (background worker), not running: is the local database up, with pg_net in shared_preload_libraries?",
    };
  }
  const dispatcher = serviceState("net-dispatcher");
  return {
    part: "pg_net",
    up: dispatcher.up,
    detail: dispatcher.up ? `stand-in (dispatcher, pid ${dispatcher.pid})` : "stand-in (dispatcher), not running",
  };
}

/** What is running, checked afresh each time (pid alive and answering), never from a cache. */
export async function describeStack(): Promise<StackStatus> {
  const parts: StackStatus["parts"] = [];
  const extensions: StackStatus["extensions"] = {};
  for (const spec of clusters) {
    const up = await isRunning(spec);
    parts.push({ part: `${spec.name} database`, up, detail: dbUrl(spec.port) });
    if (up) {
      const kinds = await extensionKinds(spec).catch(() => undefined);
      if (kinds) extensions[spec.name] = { ...kinds, pg_cron: await cronVersion(spec.port).catch(() => "?") };
    }
  }
  const server = serviceState("functions-server");
  const serverUp = server.up && (await functionsServerAnswers());
  parts.push({ part: "functions server", up: serverUp, detail: `${functionsOrigin}/functions/v1` + (server.pid ? ` (pid ${server.pid})` : "") });
  parts.push(await pgNetState());
  const pooler = serviceState(cloudPoolerService);
  const poolerUp = pooler.up && (await accepts(ports.CONVEYOR_CLOUD_POOLER_PORT));
  parts.push({
    part: "cloud pooler",
    up: poolerUp,
    detail: `${dbUrl(ports.CONVEYOR_CLOUD_POOLER_PORT)}: pgbouncer, transaction mode, pool ${cloudLink.poolerPoolSize}` +
      (pooler.pid ? ` (pid ${pooler.pid})` : ""),
  });
  const link = serviceState(cloudLinkService);
  const linkUp = link.up && (await accepts(ports.CONVEYOR_CLOUD_LINK_PORT));
  const linkSettings = link.up ? runningLinkSettings() : undefined;
  const shown = linkSettings ?? wantedLinkSettings();
  parts.push({
    part: "cloud link",
    up: linkUp,
    detail: `${dbUrl(ports.CONVEYOR_CLOUD_LINK_PORT)}: ${describeLink(shown.delayMs, shown.bandwidthBytesPerSecond ?? undefined)}, ` +
      `to the cloud pooler` + (link.pid ? ` (pid ${link.pid})` : ""),
  });
  const width = Math.max(...parts.map((p) => p.part.length));
  const lines = ["Conveyor local stack"];
  for (const p of parts) lines.push(`  ${p.part.padEnd(width)}  ${p.up ? "up  " : "DOWN"}  ${p.detail}`);
  for (const [cluster, kinds] of Object.entries(extensions)) {
    const described = Object.entries(kinds).map(([ext, kind]) => `${ext}: ${kind}`).join(", ");
    lines.push(`  extensions (${cluster}): ${described}`);
  }
  const wakes = parts[0]?.up ? await wakeStates() : [];
  for (const wake of wakes) lines.push(`  wakes (${wake.function}): ${wake.state === "failing" ? "FAILING " : ""}${wake.detail}`);
  lines.push(`  logs: ${logDir}`);
  const cloudLinkState = linkUp && linkSettings
    ? { ...linkSettings, port: ports.CONVEYOR_CLOUD_LINK_PORT, url: dbUrl(ports.CONVEYOR_CLOUD_LINK_PORT) }
    : null;
  return { allUp: parts.every((p) => p.up), parts, extensions, cloudLink: cloudLinkState, wakes, text: lines.join("\n") };
}
