/**
 * Talking to a running Conveyor from outside, as a user's parser would: seed shops, send records
 * to the ingest API, wait until the pipeline has finished them, and summarise what it did. Used by
 * the demo, the benchmark and the integration tests.
 */
import { createClient, FunctionsHttpError, type SupabaseClient } from "@supabase/supabase-js";
import postgres from "postgres";

export type Sql = postgres.Sql;

export interface IngestTarget {
  /** The project URL (API_URL): http://127.0.0.1:54321 locally, https://<ref>.supabase.co hosted. */
  apiUrl: string;
  serviceRoleKey: string;
}

export interface IngestReply {
  received: number;
  batch_id: string;
}

export async function seedShops(sql: Sql): Promise<void> {
  const seed = await Deno.readTextFile(new URL("../../supabase/seed.sql", import.meta.url));
  await sql.unsafe(seed);
}

/**
 * When the next generated sales should start: an hour after the latest operation stored, so that
 * each run's sales come after every earlier run's, as in a live feed. Replaying old timestamps
 * would leave most products' attributes as they are (an older record never wins), which is
 * cheaper than what a live feed costs and would flatter the figures.
 */
export async function nextSalesStart(sql: Sql): Promise<Date | undefined> {
  const [row] = await sql<{ next: Date | null }[]>`
    select max(occurred_at) + interval '1 hour' as next from public.operations`;
  return row.next ?? undefined;
}

const clients = new Map<string, SupabaseClient>();

function clientFor(target: IngestTarget): SupabaseClient {
  const key = `${target.apiUrl} ${target.serviceRoleKey}`;
  let client = clients.get(key);
  if (!client) {
    client = createClient(target.apiUrl, target.serviceRoleKey, { auth: { persistSession: false } });
    clients.set(key, client);
  }
  return client;
}

/** Sends one batch to the ingest function with supabase-js, as a client app would. */
export async function ingestBatch(target: IngestTarget, records: unknown[]): Promise<IngestReply> {
  const { data, error } = await clientFor(target).functions.invoke<IngestReply>("ingest", { body: records });
  if (error) {
    const detail = error instanceof FunctionsHttpError
      ? `${error.context.status}: ${await error.context.text()}`
      : error.message;
    throw new Error(`ingest failed: ${detail}`);
  }
  if (!data) throw new Error("ingest answered without a body");
  return data;
}

/** Sends records in chunks, `concurrency` requests at a time; returns the batch ids. */
export async function ingestAll(
  target: IngestTarget,
  records: unknown[],
  options: { chunkSize?: number; concurrency?: number; onBatch?: (sent: number) => void } = {},
): Promise<string[]> {
  const chunkSize = options.chunkSize ?? 5000;
  const concurrency = options.concurrency ?? 2;
  const chunks: unknown[][] = [];
  for (let i = 0; i < records.length; i += chunkSize) chunks.push(records.slice(i, i + chunkSize));
  const batchIds: string[] = new Array(chunks.length);
  let next = 0;
  let sent = 0;
  async function lane() {
    while (next < chunks.length) {
      const index = next++;
      const reply = await ingestBatch(target, chunks[index]);
      batchIds[index] = reply.batch_id;
      sent += reply.received;
      options.onBatch?.(sent);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, chunks.length) }, lane));
  return batchIds;
}

export interface BatchProgress {
  total: number;
  received: number;
  processed: number;
  rejected: number;
  failed: number;
}

export async function batchProgress(sql: Sql, batchIds: string[]): Promise<BatchProgress> {
  const [row] = await sql<BatchProgress[]>`
    select count(*)::int as total,
           count(*) filter (where status = 'received')::int as received,
           count(*) filter (where status = 'processed')::int as processed,
           count(*) filter (where status = 'rejected')::int as rejected,
           count(*) filter (where status = 'failed')::int as failed
      from etl.sales_input
     where batch_id = any (${batchIds}::uuid[])`;
  return row;
}

/**
 * Waits until no record of these batches is still `received`; throws after `timeoutMs`. Each poll
 * only asks whether the sales queue holds any message at all (one index probe, where
 * pgmq.metrics would count the whole queue); the batches' records (a scan of all of them) are
 * counted when the queue is empty, and every `progressMs` for `onProgress`. So waiting costs
 * the pipeline it measures next to nothing. `drainedAt` is the performance.now() at which the
 * poll saw the queue empty, before the records were counted: the count (a scan of all the
 * batches' staging rows) checks that the pipeline has finished, it is not part of its work.
 */
export async function waitUntilDrained(
  sql: Sql,
  batchIds: string[],
  options: {
    timeoutMs?: number;
    pollMs?: number;
    progressMs?: number;
    onProgress?: (p: BatchProgress) => void;
  } = {},
): Promise<BatchProgress & { drainedAt: number }> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  const progressMs = options.progressMs ?? 2000;
  let lastProgress = Date.now();
  for (;;) {
    const [queue] = await sql<{ pending: boolean }[]>`
      select exists (select from pgmq.q_sales_input) as pending`;
    const polledAt = performance.now();
    const progressDue = options.onProgress !== undefined && Date.now() - lastProgress >= progressMs;
    if (!queue.pending || progressDue) {
      lastProgress = Date.now();
      const progress = await batchProgress(sql, batchIds);
      options.onProgress?.(progress);
      if (progress.received === 0) return { ...progress, drainedAt: queue.pending ? performance.now() : polledAt };
    }
    if (Date.now() > deadline) {
      throw new Error(`pipeline did not drain in time: ${JSON.stringify(await batchProgress(sql, batchIds))}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 100));
  }
}

export interface PipelineTotals {
  operations: number;
  products: number;
  manufacturers: number;
  categories: number;
  product_groups: number;
  product_kinds: number;
  suppliers: number;
  locations: number;
}

export async function pipelineTotals(sql: Sql): Promise<PipelineTotals> {
  const [row] = await sql<PipelineTotals[]>`
    select (select count(*) from public.operations)::int as operations,
           (select count(*) from public.products)::int as products,
           (select count(*) from public.manufacturers)::int as manufacturers,
           (select count(*) from public.categories)::int as categories,
           (select count(*) from public.product_groups)::int as product_groups,
           (select count(*) from public.product_kinds)::int as product_kinds,
           (select count(*) from public.suppliers)::int as suppliers,
           (select count(*) from public.locations)::int as locations`;
  return row;
}

export async function topRejections(sql: Sql, batchIds: string[], limit = 5): Promise<{ error: string; records: number }[]> {
  return await sql<{ error: string; records: number }[]>`
    select regexp_replace(error, '"[^"]*"', '"…"', 'g') as error, count(*)::int as records
      from etl.sales_input
     where batch_id = any (${batchIds}::uuid[]) and status in ('rejected', 'failed')
     group by 1
     order by 2 desc
     limit ${limit}`;
}
