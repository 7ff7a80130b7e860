/**
 * Where the local stack keeps its state and which ports it uses. Ports come from the
 * environment (CONVEYOR_LOCAL_DB_PORT, CONVEYOR_CLOUD_DB_PORT, CONVEYOR_FUNCTIONS_PORT,
 * CONVEYOR_CLOUD_POOLER_PORT, CONVEYOR_CLOUD_LINK_PORT) so two checkouts can run side by side;
 * defaults follow `supabase start` (54321/54322), put the cloud stand-in on 54422, and its pooler
 * and link on the two ports after the cloud's (so moving the cloud moves them too).
 */
import { z } from "zod";
import { parseBandwidth } from "./latency-proxy.ts";

export const repoRoot = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
/** Overridable so a test can run a second, independent stack beside the main one. */
export const stateDir = Deno.env.get("CONVEYOR_STATE_DIR") ?? `${repoRoot}/.local`;
export const logDir = `${stateDir}/logs`;
export const runDir = `${stateDir}/run`;
export const stackEnvFile = `${stateDir}/stack.env`;
export const keysFile = `${stateDir}/keys.json`;

export const pgBin = Deno.env.get("CONVEYOR_PG_BIN") ?? "/usr/lib/postgresql/15/bin";

const portSchema = z.coerce.number().int().min(1024).max(65535);

const envSchema = z.object({
  CONVEYOR_LOCAL_DB_PORT: portSchema.default(54322),
  CONVEYOR_CLOUD_DB_PORT: portSchema.default(54422),
  CONVEYOR_FUNCTIONS_PORT: portSchema.default(54321),
  CONVEYOR_SHADOW_DB_PORT: portSchema.default(54320),
  CONVEYOR_CLOUD_POOLER_PORT: portSchema.optional(),
  CONVEYOR_CLOUD_LINK_PORT: portSchema.optional(),
  CONVEYOR_CLOUD_LINK_DELAY_MS: z.coerce.number().min(0).max(10_000).default(40),
  CONVEYOR_CLOUD_LINK_BANDWIDTH: z.string().optional().transform((text, ctx) => {
    if (text === undefined || text.trim() === "") return undefined;
    try {
      return parseBandwidth(text);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
      return z.NEVER;
    }
  }),
});

function readSettings() {
  const parsed = envSchema.safeParse(Deno.env.toObject());
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`local stack settings: ${issue.path.join(".")}: ${issue.message}`);
  }
  return parsed.data;
}

const settings = readSettings();

export const ports = {
  CONVEYOR_LOCAL_DB_PORT: settings.CONVEYOR_LOCAL_DB_PORT,
  CONVEYOR_CLOUD_DB_PORT: settings.CONVEYOR_CLOUD_DB_PORT,
  CONVEYOR_FUNCTIONS_PORT: settings.CONVEYOR_FUNCTIONS_PORT,
  CONVEYOR_SHADOW_DB_PORT: settings.CONVEYOR_SHADOW_DB_PORT,
  CONVEYOR_CLOUD_POOLER_PORT: settings.CONVEYOR_CLOUD_POOLER_PORT ?? settings.CONVEYOR_CLOUD_DB_PORT + 1,
  CONVEYOR_CLOUD_LINK_PORT: settings.CONVEYOR_CLOUD_LINK_PORT ?? settings.CONVEYOR_CLOUD_DB_PORT + 2,
};

/**
 * The production project as the sync engine reaches it: pgbouncer in transaction mode in front of
 * the cloud cluster (the `cloud pooler`, like Supavisor's port 6543), and the latency proxy in
 * front of the pooler (the `cloud link`, a slow link from home).
 */
export const cloudLink = {
  /** Server connections per database and user: strict, so a client past it queues. */
  poolerPoolSize: 2,
  /** One-way delay each way (CONVEYOR_CLOUD_LINK_DELAY_MS; default 40 = 80 ms round trip). */
  delayMs: settings.CONVEYOR_CLOUD_LINK_DELAY_MS,
  /** Cap per direction in bytes/s (CONVEYOR_CLOUD_LINK_BANDWIDTH); undefined: unlimited. */
  bandwidthBytesPerSecond: settings.CONVEYOR_CLOUD_LINK_BANDWIDTH,
};

/** The two throwaway clusters: the working database and a stand-in for the cloud project. */
export type ClusterName = "local" | "cloud" | "shadow";

export interface ClusterSpec {
  name: ClusterName;
  port: number;
  /** Supabase project directory whose `supabase/migrations` this cluster receives. */
  workdir: string;
  /** Whether the pg_net dispatcher runs next to it (only the working database wakes functions). */
  wakesFunctions: boolean;
  /** The environment variable that moves its port. */
  portVariable: keyof typeof ports;
}

export const clusters: ClusterSpec[] = [
  {
    name: "local",
    port: ports.CONVEYOR_LOCAL_DB_PORT,
    workdir: repoRoot,
    wakesFunctions: true,
    portVariable: "CONVEYOR_LOCAL_DB_PORT",
  },
  {
    name: "cloud",
    port: ports.CONVEYOR_CLOUD_DB_PORT,
    workdir: `${repoRoot}/production`,
    wakesFunctions: false,
    portVariable: "CONVEYOR_CLOUD_DB_PORT",
  },
];

/** Local clusters use Supabase's local default password; they listen on 127.0.0.1 only. */
export const dbPassword = "postgres";

export function dbUrl(port: number, database = "postgres"): string {
  return `postgresql://postgres:${dbPassword}@127.0.0.1:${port}/${database}`;
}

/**
 * A throwaway cluster started on demand to build a declared schema in (`deno task db diff`, the
 * schema test), as Supabase's shadow database; never part of the running stack.
 */
export const shadowCluster: ClusterSpec = {
  name: "shadow",
  port: ports.CONVEYOR_SHADOW_DB_PORT,
  portVariable: "CONVEYOR_SHADOW_DB_PORT",
  workdir: repoRoot,
  wakesFunctions: false,
};

export const functionsOrigin = `http://127.0.0.1:${ports.CONVEYOR_FUNCTIONS_PORT}`;

/** True when a file or folder is there (of the stack's state, a PostgreSQL install, a tool). */
export function pathExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
