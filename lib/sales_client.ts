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
  const seed = await Deno.readTextFile(new URL("../supabase/seed.sql", import.meta.url));
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

/**
 * A batch already in the ingest API's JSON form, so that sending it costs no encoding: a
 * benchmark encodes its batches before it starts the clock, as the records themselves are
 * generated before it, and measures the pipeline rather than its own client.
 */
export interface EncodedBatch {
  json: string;
  records: number;
}

/** The records in chunks of `chunkSize`, each as the JSON array the ingest API takes. */
export function encodeBatches(records: unknown[], chunkSize = 5000): EncodedBatch[] {
  const batches: EncodedBatch[] = [];
  for (let i = 0; i < records.length; i += chunkSize) {
    const chunk = records.slice(i, i + chunkSize);
    batches.push({ json: JSON.stringify(chunk), records: chunk.length });
  }
  return batches;
}

/** Sends one batch to the ingest function with supabase-js, as a client app would. */
export async function ingestBatch(
  target: IngestTarget,
  batch: unknown[] | EncodedBatch,
): Promise<IngestReply> {
  const request = Array.isArray(batch)
    ? { body: batch }
    : { body: batch.json, headers: { "Content-Type": "application/json" } };
  const { data, error } = await clientFor(target).functions.invoke<IngestReply>("ingest", request);
  if (error) {
    const detail = error instanceof FunctionsHttpError
      ? `${error.context.status}: ${await error.context.text()}`
      : error.message;
    throw new Error(`ingest failed: ${detail}`);
  }
  if (!data) throw new Error("ingest answered without a body");
  return data;
}

/** Sends batches, `concurrency` requests at a time; returns their batch ids in order. */
export async function sendBatches(
  target: IngestTarget,
  batches: EncodedBatch[],
  options: { concurrency?: number; onBatch?: (sent: number) => void } = {},
): Promise<string[]> {
  const concurrency = options.concurrency ?? 2;
  const batchIds: string[] = new Array(batches.length);
  let next = 0;
  let sent = 0;
  async function lane() {
    while (next < batches.length) {
      const index = next++;
      const reply = await ingestBatch(target, batches[index]);
      batchIds[index] = reply.batch_id;
      sent += reply.received;
      options.onBatch?.(sent);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, batches.length) }, lane));
  return batchIds;
}

/** Sends records in chunks, `concurrency` requests at a time; returns the batch ids. */
export async function ingestAll(
  target: IngestTarget,
  records: unknown[],
  options: { chunkSize?: number; concurrency?: number; onBatch?: (sent: number) => void } = {},
): Promise<string[]> {
  return await sendBatches(target, encodeBatches(records, options.chunkSize), options);
}

export interface BatchProgress {
  total: number;
  received: number;
  processed: number;
  rejected: number;
  failed: number;
}

/**
 * Why a run did not process what it sent, or null when it did: records still waiting, failed
 * records (dead letter), or more records rejected than were made to break a rule on purpose
 * (for example every record dated beyond the worker's occurred_at horizon). The demo and the
 * benchmark exit non-zero with this message.
 */
export function unprocessedProblem(progress: BatchProgress, sent: number, deliberatelyBad: number): string | null {
  const problems: string[] = [];
  if (progress.total < sent) problems.push(`${sent - progress.total} of ${sent} records were not stored`);
  if (progress.received > 0) problems.push(`${progress.received} records were never processed`);
  if (progress.failed > 0) problems.push(`${progress.failed} records failed (dead letter)`);
  if (progress.rejected > deliberatelyBad) {
    problems.push(
      `${progress.rejected} records were rejected, but only ${deliberatelyBad} were made to break a rule`,
    );
  }
  return problems.length === 0 ? null : problems.join("; ");
}

export async function batchProgress(sql: Sql, batchIds: string[]): Promise<BatchProgress> {
  const [row] = await sql<BatchProgress[]>`
    select count(*)::int as total,
           count(*) filter (where status = 'received')::int as received,
           count(*) filter (where status = 'processed')::int as processed,
           count(*) filter (where status = 'rejected')::int as rejected,
           count(*) filter (where status = 'failed')::int as failed
      from conveyor.sales_input
     where batch_id = any (${batchIds}::uuid[])`;
  return row;
}

/** The oldest message of the sales queue from `fromId` on, by its primary key; none when empty. */
async function oldestQueuedFrom(sql: Sql, fromId: string): Promise<string | undefined> {
  const [row] = await sql<{ msg_id: string }[]>`
    select msg_id from pgmq.q_sales_input where msg_id >= ${fromId}::bigint order by msg_id limit 1`;
  return row?.msg_id;
}

/**
 * Waits until no record of these batches is still `received`; throws after `timeoutMs`. Each poll
 * only asks whether the sales queue still holds a message, from the oldest one the previous poll
 * found: one short walk of the queue's primary key over the messages deleted since, where
 * pgmq.metrics would count the whole queue and a plain exists would scan the dead rows of every
 * message drained so far. Ids are drawn before commit, so a message may appear below that mark;
 * an empty answer is therefore checked once from the start of the queue. The batches' records (a
 * scan of all of them) are counted when the queue is empty, and every `progressMs` (for
 * `onProgress`, and in case what is left in the queue is not these batches'). So waiting costs
 * the pipeline it measures next to nothing, and can poll often. `drainedAt` is the
 * performance.now() at which the poll saw the queue empty, before the records were counted: the
 * count checks that the pipeline has finished, it is not part of its work.
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
  let oldestSeen = "0";
  let countedWhileEmpty = false;
  for (;;) {
    let oldest = await oldestQueuedFrom(sql, oldestSeen);
    if (oldest === undefined && oldestSeen !== "0") oldest = await oldestQueuedFrom(sql, "0");
    const polledAt = performance.now();
    if (oldest !== undefined) {
      oldestSeen = oldest;
      countedWhileEmpty = false;
    }
    // Counted as soon as the queue is seen empty, and now and then otherwise: what the queue holds
    // may all be other batches', and records left without a message would never finish.
    const progressDue = Date.now() - lastProgress >= progressMs;
    const newlyEmpty = oldest === undefined && !countedWhileEmpty;
    if (newlyEmpty || progressDue) {
      if (oldest === undefined) countedWhileEmpty = true;
      lastProgress = Date.now();
      const progress = await batchProgress(sql, batchIds);
      options.onProgress?.(progress);
      if (progress.received === 0) {
        return { ...progress, drainedAt: oldest === undefined ? polledAt : performance.now() };
      }
    }
    if (Date.now() > deadline) {
      throw new Error(`pipeline did not drain in time: ${JSON.stringify(await batchProgress(sql, batchIds))}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 25));
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
      from conveyor.sales_input
     where batch_id = any (${batchIds}::uuid[]) and status in ('rejected', 'failed')
     group by 1
     order by 2 desc
     limit ${limit}`;
}
