/**
 * The two throwaway PostgreSQL 15 clusters of the local stack: creation, start, stop, the
 * Supabase look-alike bootstrap, the extension stand-ins, and migrations through the real
 * Supabase CLI.
 */
import postgres from "postgres";
import { type ClusterSpec, dbPassword, dbUrl, pathExists, pgBin, repoRoot, stateDir } from "./settings.ts";
import { isRoot, run, runChecked, waitFor } from "./processes.ts";
import { extensionControlFile, hasExtension } from "./postgres-install.ts";
import { ensureVaultKeyFiles } from "./vault-key.ts";

/** Extensions that Supabase has and Debian does not: real when installed, else our stand-in. */
export const replaceableExtensions = [
  { extension: "pgmq", schema: "pgmq", standin: "pgmq.sql" },
  { extension: "pg_net", schema: "net", standin: "pg_net.sql" },
  { extension: "supabase_vault", schema: "vault", standin: "vault.sql" },
] as const;

export type ReplaceableExtension = (typeof replaceableExtensions)[number]["extension"];

/** What each Debian package provides; extensions are looked for where the PostgreSQL run has them. */
const debianPackages = [
  { file: () => `${pgBin}/postgres`, pkg: "postgresql-15" },
  { file: () => extensionControlFile("pg_cron"), pkg: "postgresql-15-cron" },
  { file: () => extensionControlFile("pgtap"), pkg: "postgresql-15-pgtap" },
  { file: () => extensionControlFile("plpgsql_check"), pkg: "postgresql-15-plpgsql-check" },
  { file: () => "/usr/bin/pg_prove", pkg: "libtap-parser-sourcehandler-pgtap-perl" },
  { file: () => "/usr/bin/psql", pkg: "postgresql-client-15" },
  /** The transaction-mode pooler in front of a cluster (scripts/local-stack/pgbouncer.ts). */
  { file: () => "/usr/sbin/pgbouncer", pkg: "pgbouncer" },
];

/** Installs the Debian packages the stack needs when root; otherwise says which command does. */
export async function ensurePackages(log: (line: string) => void): Promise<void> {
  const missing = debianPackages.filter((p) => !pathExists(p.file())).map((p) => p.pkg);
  if (missing.length === 0) return;
  const command = `apt-get update && apt-get install -y ${missing.join(" ")}`;
  if (!isRoot) {
    throw new Error(
      `missing Debian packages: ${missing.join(", ")}.\nInstall them with:\n  sudo sh -c '${command}'`,
    );
  }
  log(`installing Debian packages: ${missing.join(", ")}`);
  const env = { ...Deno.env.toObject(), DEBIAN_FRONTEND: "noninteractive" };
  await runChecked("apt-get update", ["apt-get", "update", "-qq"], { env });
  await runChecked("apt-get install", ["apt-get", "install", "-y", "-qq", ...missing], { env });
}

/** Which of the replaceable extensions are really installed in the PostgreSQL the stack runs. */
export function realExtensions(): Set<ReplaceableExtension> {
  const found = new Set<ReplaceableExtension>();
  for (const { extension } of replaceableExtensions) {
    if (hasExtension(extension)) found.add(extension);
  }
  return found;
}

let postgresUid: number | undefined;

/** The uid that owns the clusters' files: the `postgres` user when the stack runs as root. */
export async function postgresOwner(): Promise<number | undefined> {
  if (!isRoot) return undefined;
  if (postgresUid === undefined) {
    postgresUid = Number((await runChecked("id -u postgres", ["id", "-u", "postgres"])).trim());
  }
  return postgresUid;
}

/**
 * The folder that holds the clusters. It is `.local/clusters`, unless the stack runs as root in
 * a checkout the `postgres` user cannot reach (a `mktemp -d` folder is 0700): then the clusters
 * live in /var/tmp and `.local/clusters` links there.
 */
export async function clustersRoot(): Promise<string> {
  const link = `${stateDir}/clusters`;
  if (pathExists(link)) return Deno.realPathSync(link);
  Deno.mkdirSync(stateDir, { recursive: true });
  const uid = await postgresOwner();
  if (uid === undefined) {
    Deno.mkdirSync(link, { recursive: true });
    return link;
  }
  Deno.mkdirSync(link);
  Deno.chownSync(link, uid, null);
  const reachable = await run(["test", "-w", link], { asPostgres: true });
  if (reachable.code === 0) return link;
  Deno.removeSync(link);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(stateDir)));
  const hex = [...digest.slice(0, 6)].map((b) => b.toString(16).padStart(2, "0")).join("");
  const elsewhere = `/var/tmp/conveyor-${hex}`;
  Deno.mkdirSync(elsewhere, { recursive: true, mode: 0o700 });
  Deno.chownSync(elsewhere, uid, null);
  Deno.symlinkSync(elsewhere, link);
  return elsewhere;
}

export async function dataDir(spec: ClusterSpec): Promise<string> {
  return `${await clustersRoot()}/${spec.name}`;
}

export async function clusterLog(spec: ClusterSpec): Promise<string> {
  return `${await clustersRoot()}/${spec.name}.log`;
}

function pg(cmd: string, ...args: string[]): string[] {
  return [`${pgBin}/${cmd}`, ...args];
}

export async function isInitialised(spec: ClusterSpec): Promise<boolean> {
  return pathExists(`${await dataDir(spec)}/PG_VERSION`);
}

/** Set once the Supabase look-alike bootstrap has completed, so a failed `up` retries it. */
export async function isBootstrapped(spec: ClusterSpec): Promise<boolean> {
  return pathExists(`${await dataDir(spec)}/conveyor.bootstrapped`);
}

/** True when the postmaster of this cluster runs (by its pid file) and answers on its port. */
export async function isRunning(spec: ClusterSpec): Promise<boolean> {
  if (!(await isInitialised(spec))) return false;
  const status = await run(pg("pg_ctl", "status", "-D", await dataDir(spec)), { asPostgres: true });
  if (status.code !== 0) return false;
  const ready = await run(pg("pg_isready", "-q", "-h", "127.0.0.1", "-p", String(spec.port)));
  return ready.code === 0;
}

/** A string setting as postgresql.conf reads it. */
function confString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/**
 * The libraries the server loads at start: pg_cron always; real pg_net (its background worker
 * sends the requests) and real supabase_vault (it reads the root key at start) when installed.
 */
export function preloadLibraries(real: Set<ReplaceableExtension>): string[] {
  return ["pg_cron", ...(["pg_net", "supabase_vault"] as const).filter((extension) => real.has(extension))];
}

function settingsFor(spec: ClusterSpec, real: Set<ReplaceableExtension>, vaultKeyScript?: string): string {
  return [
    "# written by the Conveyor local stack; throwaway cluster, tuned for speed, not durability",
    "listen_addresses = '127.0.0.1'",
    `port = ${spec.port}`,
    "unix_socket_directories = ''",
    "max_connections = 200",
    "shared_buffers = 256MB",
    "work_mem = 16MB",
    "maintenance_work_mem = 128MB",
    "fsync = off",
    "synchronous_commit = off",
    "full_page_writes = off",
    "max_wal_size = 2GB",
    "max_worker_processes = 32",
    `shared_preload_libraries = ${confString(preloadLibraries(real).join(","))}`,
    ...(vaultKeyScript ? [`vault.getkey_script = ${confString(vaultKeyScript)}`] : []),
    "cron.database_name = 'postgres'",
    "cron.use_background_workers = on",
    "max_locks_per_transaction = 256",
    "log_min_messages = warning",
    "log_line_prefix = '%m [%p] %q%u@%d '",
    "timezone = 'UTC'",
    "",
  ].join("\n");
}

async function writeOwned(path: string, text: string): Promise<void> {
  Deno.writeTextFileSync(path, text);
  const uid = await postgresOwner();
  if (uid !== undefined) Deno.chownSync(path, uid, null);
}

export async function initCluster(spec: ClusterSpec): Promise<void> {
  const dir = await dataDir(spec);
  const pwFile = `${await clustersRoot()}/.pw-${spec.name}`;
  await writeOwned(pwFile, `${dbPassword}\n`);
  try {
    await runChecked(
      `initdb (${spec.name})`,
      pg(
        "initdb",
        "-D",
        dir,
        "-U",
        "postgres",
        "--pwfile",
        pwFile,
        "--auth-host=scram-sha-256",
        "--auth-local=trust",
        "--encoding=UTF8",
        "--locale=C.UTF-8",
      ),
      { asPostgres: true },
    );
  } finally {
    Deno.removeSync(pwFile);
  }
  const real = realExtensions();
  const vaultKeyScript = real.has("supabase_vault")
    ? ensureVaultKeyFiles(await clustersRoot(), await postgresOwner()).script
    : undefined;
  await writeOwned(`${dir}/conveyor.conf`, settingsFor(spec, real, vaultKeyScript));
  await writeOwned(extensionsRecord(dir), `${JSON.stringify([...real].sort())}\n`);
  const conf = Deno.readTextFileSync(`${dir}/postgresql.conf`);
  await writeOwned(`${dir}/postgresql.conf`, `${conf}\ninclude 'conveyor.conf'\n`);
}

/** Which replaceable extensions were real when the cluster was created. */
function extensionsRecord(dir: string): string {
  return `${dir}/conveyor.extensions.json`;
}

/**
 * Refuses to run a cluster made for other extensions than the PostgreSQL now has: its schemas
 * hold the stand-ins (or the real ones) and its settings preload what was there, so it would
 * fail in confusing ways. A cluster from before this record existed is let through.
 */
export async function assertSameExtensions(spec: ClusterSpec): Promise<void> {
  let recorded: string[];
  try {
    recorded = JSON.parse(Deno.readTextFileSync(extensionsRecord(await dataDir(spec))));
  } catch {
    return;
  }
  const now = [...realExtensions()].sort();
  if (JSON.stringify(recorded) === JSON.stringify(now)) return;
  const described = (real: string[]) =>
    replaceableExtensions.map(({ extension }) => `${extension} ${real.includes(extension) ? "real" : "stand-in"}`).join(", ");
  throw new Error(
    `the ${spec.name} cluster was created with ${described(recorded)}, but the PostgreSQL in ${pgBin} now has ` +
      `${described(now)}: run \`deno task stack reset\` (wipes both clusters) to re-create it`,
  );
}

export async function startCluster(spec: ClusterSpec): Promise<void> {
  const dir = await dataDir(spec);
  const start = pg("pg_ctl", "start", "-w", "-t", "60", "-D", dir, "-l", await clusterLog(spec));
  // After a postmaster was killed, its orphaned backends hold the shared memory for a moment
  // ("pre-existing shared memory block is still in use"): give them time to notice and exit.
  for (let attempt = 1;; attempt++) {
    const result = await run(start, { asPostgres: true });
    if (result.code === 0) break;
    if (attempt >= 20) {
      throw new Error(
        `starting the ${spec.name} cluster failed: ${result.stderr}${result.stdout}\nsee ${await clusterLog(spec)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  await waitFor(`the ${spec.name} cluster on port ${spec.port}`, () => isRunning(spec));
}

export async function stopCluster(spec: ClusterSpec): Promise<boolean> {
  if (!(await isInitialised(spec))) return false;
  const dir = await dataDir(spec);
  const status = await run(pg("pg_ctl", "status", "-D", dir), { asPostgres: true });
  if (status.code !== 0) return false;
  await runChecked(`stopping the ${spec.name} cluster`, pg("pg_ctl", "stop", "-w", "-m", "fast", "-D", dir), {
    asPostgres: true,
  });
  return true;
}

export async function wipeCluster(spec: ClusterSpec): Promise<void> {
  await stopCluster(spec);
  const dir = await dataDir(spec);
  if (pathExists(dir)) await runChecked("removing cluster data", ["rm", "-rf", dir]);
}

/**
 * Runs a SQL file with psql against the cluster, stopping at the first error; `settings` are
 * server settings for that session (PGOPTIONS), e.g. check_function_bodies.
 */
export async function psqlFile(spec: ClusterSpec, file: string, settings: Record<string, string> = {}): Promise<void> {
  const options = Object.entries(settings).map(([name, value]) => `-c ${name}=${value}`).join(" ");
  await runChecked(`applying ${file.replace(`${repoRoot}/`, "")} to ${spec.name}`, [
    "psql",
    dbUrl(spec.port),
    "-X",
    "-q",
    "-v",
    "ON_ERROR_STOP=1",
    "-f",
    file,
  ], options ? { env: { ...Deno.env.toObject(), PGOPTIONS: options } } : {});
}

/**
 * Makes a fresh cluster look like a Supabase database: roles, schemas, auth helpers, pgTAP,
 * then each replaceable extension as the real one (created by the migrations themselves) or,
 * when not installed, as the project's stand-in.
 */
export async function bootstrapCluster(spec: ClusterSpec): Promise<void> {
  await psqlFile(spec, `${repoRoot}/scripts/local-stack/supabase-database.sql`);
  const real = realExtensions();
  for (const { extension, standin } of replaceableExtensions) {
    if (extension === "supabase_vault" && real.has(extension)) {
      // Supabase ships Vault enabled; the migrations only use it.
      await runChecked("creating supabase_vault", [
        "psql",
        dbUrl(spec.port),
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        "create extension if not exists supabase_vault cascade",
      ]);
      continue;
    }
    if (!real.has(extension)) {
      await psqlFile(spec, `${repoRoot}/scripts/local-stack/standins/${standin}`);
    }
  }
  await writeOwned(`${await dataDir(spec)}/conveyor.bootstrapped`, `${new Date().toISOString()}\n`);
}

/** Applies the cluster's migration set with the real Supabase CLI, recording them in history. */
export async function pushMigrations(spec: ClusterSpec): Promise<string> {
  const supabase = `${repoRoot}/node_modules/.bin/supabase`;
  const result = await run(
    [supabase, "db", "push", "--db-url", dbUrl(spec.port), "--workdir", spec.workdir, "--include-all", "--yes"],
    { env: { ...Deno.env.toObject(), SUPABASE_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1" } },
  );
  if (result.code !== 0) {
    throw new Error(`supabase db push (${spec.name}) failed:\n${result.stderr}${result.stdout}`);
  }
  return result.stdout + result.stderr;
}

/** What the database itself says about the replaceable extensions: real, stand-in or missing. */
export async function extensionKinds(
  spec: ClusterSpec,
): Promise<Record<ReplaceableExtension, "real" | "stand-in" | "missing">> {
  const sql = postgres(dbUrl(spec.port), { max: 1, onnotice: () => {}, connect_timeout: 3 });
  try {
    const rows = await sql<{ extension: ReplaceableExtension; installed: boolean; schema_exists: boolean }[]>`
      select e.extension,
             exists (select from pg_catalog.pg_extension x where x.extname = e.extension) as installed,
             to_regnamespace(e.schema_name) is not null as schema_exists
        from (values ('pgmq', 'pgmq'), ('pg_net', 'net'), ('supabase_vault', 'vault'))
             as e(extension, schema_name)`;
    const kinds = {} as Record<ReplaceableExtension, "real" | "stand-in" | "missing">;
    for (const row of rows) {
      kinds[row.extension] = row.installed ? "real" : row.schema_exists ? "stand-in" : "missing";
    }
    return kinds;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
