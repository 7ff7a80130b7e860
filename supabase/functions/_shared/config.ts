/**
 * Function configuration from the environment, validated with zod at start-up. Supabase injects
 * SUPABASE_*; our own settings come from `supabase secrets set` (hosted) or
 * `supabase/functions/.env` (local), and may not start with SUPABASE_.
 */
import { z } from "zod";
import { DEFAULT_OCCURRED_AT_WINDOW, type OccurredAtWindow } from "./normalise/time.ts";

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const baseSchema = z.object({
  SUPABASE_DB_URL: z.string().min(1, "is required (the direct database connection string)"),
  SUPABASE_SERVICE_ROLE_KEY: z.string().optional(),
  /** New-style secret keys: a JSON object of name -> sb_secret_... key. */
  SUPABASE_SECRET_KEYS: z.string().optional(),
  /** An extra shared secret accepted from pg_net/pg_cron wake calls. */
  CONVEYOR_WORKER_KEY: z.string().min(16).optional(),
  CONVEYOR_DB_POOL_SIZE: positiveInt(3),
  /** false through a transaction pooler other than Supavisor's port 6543 (pgbouncer); unset: off on 6543 only. */
  CONVEYOR_DB_PREPARE: z.enum(["true", "false"]).transform((v) => v === "true").optional(),
});

const ingestSchema = baseSchema.extend({
  INGEST_MAX_RECORDS: positiveInt(10_000),
  INGEST_MAX_BYTES: positiveInt(10 * 1024 * 1024),
});

const workerSchema = baseSchema.extend({
  PROCESS_SALES_BATCH_SIZE: positiveInt(1_000),
  /** Short: the worker keeps a batch's messages hidden while it works on them (a heartbeat). */
  PROCESS_SALES_VISIBILITY_SECONDS: positiveInt(15),
  /** A worker slot's lease; the visibility timeout when unset. */
  PROCESS_SALES_LEASE_SECONDS: z.coerce.number().int().positive().optional(),
  PROCESS_SALES_MAX_ATTEMPTS: positiveInt(5),
  PROCESS_SALES_MAX_WORKERS: positiveInt(2),
  PROCESS_SALES_WALL_BUDGET_MS: positiveInt(60_000),
  PROCESS_SALES_CPU_BUDGET_MS: positiveInt(1_000),
  PROCESS_SALES_LINGER_MS: positiveInt(1_500),
  PROCESS_SALES_BACKOFF_BASE_SECONDS: positiveInt(2),
  PROCESS_SALES_BACKOFF_MAX_SECONDS: positiveInt(300),
  /** A record dated more than this many hours ahead of the moment it is processed is rejected. */
  SALES_OCCURRED_AT_MAX_AHEAD_HOURS: z.coerce.number().positive().finite()
    .default(DEFAULT_OCCURRED_AT_WINDOW.maxAheadMs / 3_600_000),
  /** A record dated before this instant (ISO 8601; a date alone is midnight UTC) is rejected. */
  SALES_OCCURRED_AT_FLOOR: z.string()
    .refine((s) => /^\d{4}-\d{2}-\d{2}/.test(s) && Number.isFinite(Date.parse(s)), "must be an ISO 8601 date such as 2000-01-01")
    .default(new Date(DEFAULT_OCCURRED_AT_WINDOW.floorMs).toISOString()),
});

const importSchema = baseSchema.extend({
  /** Records stored per chunk: one insert and one progress/checkpoint update, in one transaction. */
  IMPORT_CHUNK_ROWS: positiveInt(5_000),
  /** Jobs of one shop that may run at once; the others wait, pending. */
  IMPORT_MAX_RUNNING_PER_SHOP: positiveInt(2),
  /** Transient failures (connection reset, 5xx, timeouts) of a job before it fails with the last one. */
  IMPORT_MAX_ATTEMPTS: positiveInt(5),
  /** Wall-clock time of one run before it hands its job over to a fresh invocation. */
  IMPORT_WALL_BUDGET_MS: positiveInt(120_000),
  /** Synchronous CPU (parsing, mapping) of one run before it hands over. */
  IMPORT_CPU_BUDGET_MS: positiveInt(1_500),
  IMPORT_BACKOFF_BASE_MS: positiveInt(1_000),
  IMPORT_BACKOFF_MAX_MS: positiveInt(30_000),
  /** How often a running job's heartbeat_at is renewed (and a cancel noticed between chunks). */
  IMPORT_HEARTBEAT_MS: positiveInt(5_000),
  /** A source that sends nothing for this long (connecting or mid-file) is a transient error. */
  IMPORT_READ_TIMEOUT_MS: positiveInt(30_000),
});

const syncSchema = baseSchema.extend({
  /** The production project's database (its pooler URL, transaction mode): a secret, never in git. */
  CONVEYOR_PRODUCTION_DB_URL: z.string().regex(/^postgres(ql)?:\/\//, "must be a postgresql:// connection string (the production project's pooler)"),
  /** One invocation's wall-clock slice before it hands over to the next. */
  SYNC_WALL_BUDGET_MS: positiveInt(25_000),
  /** Bytes one invocation moves before it hands over: the COPY bytes pass through the isolate, so they stand for its CPU. */
  SYNC_BYTES_BUDGET: positiveInt(64 * 1024 * 1024),
  SYNC_BATCH_ROWS: positiveInt(20_000),
  /** Hand-overs one request may chain before it stops (the next scheduled run goes on). */
  SYNC_MAX_HANDOVERS: positiveInt(50),
});

export type BaseConfig = z.infer<typeof baseSchema>;
export type ImportConfig = z.infer<typeof importSchema>;
export type SyncConfig = z.infer<typeof syncSchema>;
export type IngestConfig = z.infer<typeof ingestSchema>;
export type WorkerConfig = z.infer<typeof workerSchema>;

function load<T extends z.ZodType>(schema: T, env: Record<string, string | undefined>, what: string): z.infer<T> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`${what} configuration: ${problems}`);
  }
  return parsed.data;
}

export function ingestConfig(env: Record<string, string | undefined> = Deno.env.toObject()): IngestConfig {
  return load(ingestSchema, env, "ingest");
}

export function workerConfig(env: Record<string, string | undefined> = Deno.env.toObject()): WorkerConfig {
  return load(workerSchema, env, "process-sales");
}

/** The `import` API needs only the database and the keys. */
export function importApiConfig(env: Record<string, string | undefined> = Deno.env.toObject()): BaseConfig {
  return load(baseSchema, env, "import");
}

export function importConfig(env: Record<string, string | undefined> = Deno.env.toObject()): ImportConfig {
  return load(importSchema, env, "process-import");
}

export function syncConfig(env: Record<string, string | undefined> = Deno.env.toObject()): SyncConfig {
  return load(syncSchema, env, "sync");
}

/** The worker's occurred_at window from its configuration. */
export function occurredAtWindow(config: WorkerConfig): OccurredAtWindow {
  return {
    floorMs: Date.parse(config.SALES_OCCURRED_AT_FLOOR),
    maxAheadMs: config.SALES_OCCURRED_AT_MAX_AHEAD_HOURS * 3_600_000,
  };
}
