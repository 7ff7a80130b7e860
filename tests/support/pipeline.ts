/**
 * Helpers for tests of the sales pipeline against the running local stack: database clients,
 * ingest calls, pausing the automatic wakes so a test can drive workers itself, and a worker
 * configuration for fast retries.
 */
import postgres from "postgres";
import { type WorkerConfig, workerConfig } from "../../supabase/functions/_shared/config.ts";
import { log, type Logger } from "../../supabase/functions/_shared/log.ts";
import { drainSalesQueue, type DrainSummary } from "../../supabase/functions/process-sales/drain.ts";
import { seedShops } from "../../lib/sales_client.ts";
import { stackEnv } from "./stack_env.ts";

export const env = stackEnv();

export function database(options: postgres.Options<Record<string, postgres.PostgresType>> = {}) {
  return postgres(env.DB_URL, { max: 4, onnotice: () => {}, ...options });
}

export type Sql = ReturnType<typeof database>;

export async function prepareShops(sql: Sql): Promise<void> {
  await seedShops(sql);
}

/** A unique prefix for external ids and dictionary names, so tests never see each other's rows. */
export function uniqueTag(label: string): string {
  return `${label}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/**
 * A valid record whose dictionary names carry the tag: display names are "the first form seen",
 * so names shared with other runs (the demo, other tests) would make assertions depend on order.
 */
export function saleRecord(tag: string, n: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    source: "moba",
    external_id: `${tag}-${n}`,
    occurred_at: "2026-11-20T14:03:00+03:00",
    type: "sale",
    quantity: 2,
    unit_price: "1 499,50",
    currency: "RUB",
    product: {
      sku: `${tag}-sku-${n % 5}`,
      name: `Дисплей ${tag} ${n % 5}`,
      manufacturer: `Maker ${tag}`,
      category: `Дисплеи ${tag}`,
      group: `Запчасти для телефонов ${tag}`,
      kind: `Оригинал ${tag}`,
    },
    supplier: { name: `ООО Мобайл ${tag}`, tax_id: taxIdFor(tag) },
    location: { name: `Склад ${tag}`, city: "Краснодар", address: "ул. Красная, 1" },
    ...overrides,
  };
}

/** A 10-digit tax id of the tag's own, so its supplier is new to the database. */
export function taxIdFor(tag: string): string {
  let hash = 7;
  for (const char of tag) hash = (hash * 31 + char.charCodeAt(0)) % 1_000_000_000;
  return String(7_000_000_000 + hash);
}

export async function postIngest(
  body: string,
  options: { contentType?: string; key?: string | null; method?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = { "content-type": options.contentType ?? "application/json" };
  const key = options.key === undefined ? env.SERVICE_ROLE_KEY : options.key;
  if (key) headers.authorization = `Bearer ${key}`;
  const response = await fetch(`${env.FUNCTIONS_URL}/ingest`, {
    method: options.method ?? "POST",
    headers,
    body: options.method === "GET" ? undefined : body,
  });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = { text };
  }
  return { status: response.status, body: parsed };
}

/** Stops triggers and pg_cron from waking process-sales, and waits until no worker runs. */
export async function pauseAutomaticWakes(sql: Sql): Promise<void> {
  await sql`
    insert into conveyor.function_wakes (function_name, paused) values ('process-sales', true)
    on conflict (function_name) do update set paused = true`;
  await waitForIdleWorkers(sql);
}

export async function resumeAutomaticWakes(sql: Sql): Promise<void> {
  await sql`update conveyor.function_wakes set paused = false where function_name = 'process-sales'`;
}

/** Waits until no process-sales worker holds a slot (an unexpired lease). */
export async function waitForIdleWorkers(sql: Sql, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [row] = await sql<{ busy: number }[]>`
      select count(*)::int as busy from conveyor.worker_leases
       where worker = 'process-sales' and expires_at > clock_timestamp()`;
    if (row.busy === 0) return;
    if (Date.now() > deadline) throw new Error(`process-sales workers still busy after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function testWorkerConfig(overrides: Partial<Record<keyof WorkerConfig, string>> = {}): WorkerConfig {
  return workerConfig({
    SUPABASE_DB_URL: env.DB_URL,
    PROCESS_SALES_LINGER_MS: "100",
    ...overrides,
  });
}

/** Runs one worker drain in this process, as the edge function would. */
export async function drainInProcess(sql: Sql, config: WorkerConfig): Promise<DrainSummary> {
  const errorsOnly: Logger = (level, msg, fields = {}) => {
    if (level === "error") log(level, msg, { function: "process-sales", test: true, ...fields });
  };
  return await drainSalesQueue(sql, config, errorsOnly);
}

export async function statuses(sql: Sql, tag: string): Promise<Record<string, number>> {
  const rows = await sql<{ status: string; n: number }[]>`
    select status, count(*)::int as n from conveyor.sales_input
     where payload ->> 'external_id' like ${tag + "%"} group by status`;
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

export async function waitForStatuses(
  sql: Sql,
  tag: string,
  done: (counts: Record<string, number>) => boolean,
  timeoutMs = 30000,
): Promise<Record<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const counts = await statuses(sql, tag);
    if (done(counts)) return counts;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${tag}: ${JSON.stringify(counts)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
