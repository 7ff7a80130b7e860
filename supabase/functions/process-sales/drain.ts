/**
 * The sales pipeline for the queue-worker runtime (_shared/worker): reading sales messages with
 * their staging rows, planning them with plan.ts, applying a plan with conveyor.apply_sales_batch in
 * one transaction, and deferring a batch after a transient failure. Slots, budgets, linger,
 * scale-out, hand-over, bisection and backoff are the runtime's.
 */
import { z } from "zod";
import { occurredAtWindow, type WorkerConfig } from "../_shared/config.ts";
import { type Sql } from "../_shared/db.ts";
import type { OccurredAtWindow } from "../_shared/normalise/time.ts";
import { errorMessage, type Logger } from "../_shared/log.ts";
import { measuredCpu } from "../_shared/worker/budgets.ts";
import type { WorkerOptions } from "../_shared/worker/options.ts";
import type { ApplyCounts, QueuePipeline } from "../_shared/worker/pipeline.ts";
import { databasePlatform } from "../_shared/worker/platform.ts";
import { drainQueue } from "../_shared/worker/runtime.ts";
import type { DrainSummary } from "../_shared/worker/summary.ts";
import {
  type ApplyBatch,
  encodeSalesBatch,
  planSalesBatch,
  type QueuedSale,
  salesBatchDocument,
  type ShopRecord,
  splitBatch,
} from "./plan.ts";

export type { DrainSummary, StopReason } from "../_shared/worker/summary.ts";

export const workerName = "process-sales";
export const queueName = "sales_input";

/** A sales queue message: the staging id of one record, nothing else. */
export const salesMessageSchema = z.object({ id: z.number().int().positive() });

/** The runtime's settings from the PROCESS_SALES_* environment variables. */
export function salesWorkerOptions(config: WorkerConfig): WorkerOptions {
  return {
    batchSize: config.PROCESS_SALES_BATCH_SIZE,
    visibilitySeconds: config.PROCESS_SALES_VISIBILITY_SECONDS,
    leaseSeconds: config.PROCESS_SALES_LEASE_SECONDS ?? config.PROCESS_SALES_VISIBILITY_SECONDS,
    maxWorkers: config.PROCESS_SALES_MAX_WORKERS,
    maxAttempts: config.PROCESS_SALES_MAX_ATTEMPTS,
    wallBudgetMs: config.PROCESS_SALES_WALL_BUDGET_MS,
    cpuBudgetMs: config.PROCESS_SALES_CPU_BUDGET_MS,
    lingerMs: config.PROCESS_SALES_LINGER_MS,
    backoffBaseSeconds: config.PROCESS_SALES_BACKOFF_BASE_SECONDS,
    backoffMaxSeconds: config.PROCESS_SALES_BACKOFF_MAX_SECONDS,
  };
}

/**
 * Reads a batch of messages, then their staging rows in a second statement. Not one statement:
 * pgmq.read runs its query with a newer snapshot than the statement around it, so a join could
 * miss a staging row committed together with its message and take the message for a stray.
 */
async function readSalesBatch(sql: Sql, limit: number, visibilitySeconds: number, log: Logger): Promise<QueuedSale[]> {
  const messages = await sql<{ msg_id: string; read_ct: number; message: unknown }[]>`
    select m.msg_id, m.read_ct, m.message
      from conveyor.read_messages('sales_input', ${visibilitySeconds}::integer, ${limit}::integer) as m
     order by m.msg_id`;
  if (messages.length === 0) return [];
  const parsed = messages.map((m) => ({ ...m, body: salesMessageSchema.safeParse(m.message) }));
  const ids = parsed.flatMap((m) => (m.body.success ? [m.body.data.id] : []));
  const staged = await sql<{ id: string; status: string; payload: unknown; error: string | null }[]>`
    select s.id, s.status, s.payload, s.error from conveyor.sales_input as s where s.id = any (${ids}::bigint[])`;
  const byId = new Map(staged.map((row) => [Number(row.id), row]));
  return parsed.map((m) => {
    if (!m.body.success) {
      log("warn", "malformed queue message dropped", { msg_id: m.msg_id, message: m.message });
      return { msgId: Number(m.msg_id), readCount: m.read_ct, malformed: true, inputId: null, status: null, payload: null, lastError: null };
    }
    const row = byId.get(m.body.data.id);
    return {
      msgId: Number(m.msg_id),
      readCount: m.read_ct,
      malformed: false,
      inputId: row ? Number(row.id) : null,
      status: row?.status ?? null,
      payload: row?.payload ?? null,
      lastError: row?.error ?? null,
    };
  });
}

async function loadShops(sql: Sql): Promise<Map<string, ShopRecord>> {
  const rows = await sql<ShopRecord[]>`select code, timezone, active from public.shops`;
  return new Map(rows.map((shop) => [shop.code, shop]));
}

/** The sales pipeline of one run; shops are read once per run, with its first batch. */
export function salesPipeline(sql: Sql, log: Logger, window: OccurredAtWindow): QueuePipeline<QueuedSale, ApplyBatch> {
  let shops: Map<string, ShopRecord> | undefined;
  return {
    name: workerName,
    queue: queueName,
    async read(limit, visibilitySeconds) {
      shops ??= await loadShops(sql);
      return await readSalesBatch(sql, limit, visibilitySeconds, log);
    },
    plan(messages, context) {
      return planSalesBatch(messages, shops ?? new Map(), context.maxAttempts, window);
    },
    async apply(batch) {
      const body = measuredCpu(() => JSON.stringify(salesBatchDocument(encodeSalesBatch(batch))));
      const [row] = await sql<{ result: ApplyCounts }[]>`select conveyor.apply_sales_batch(${body}::text::jsonb) as result`;
      return row.result;
    },
    size: (batch) => batch.processed.length,
    skipped: (batch) => batch.done_msg_ids.length,
    split: splitBatch,
    rejectAlone(batch, error) {
      const [sale] = batch.processed;
      log("warn", "sale rejected by the database", { input_id: sale.input_id, error: errorMessage(error) });
      return {
        ...batch,
        processed: [],
        rejected: [...batch.rejected, {
          input_id: sale.input_id,
          msg_id: sale.msg_id,
          attempts: sale.attempts,
          error: `database: ${errorMessage(error)}`,
        }],
      };
    },
    async defer(batch, error, delaySeconds) {
      const deferrals = [...batch.processed, ...batch.rejected, ...batch.failed].map((m) => ({
        input_id: m.input_id,
        msg_id: m.msg_id,
        attempts: m.attempts,
        delay_seconds: delaySeconds(m.attempts),
      }));
      if (deferrals.length === 0) return 0;
      const [row] = await sql<{ deferred: number }[]>`
        select conveyor.defer_messages('sales', ${JSON.stringify(deferrals)}::text::jsonb, ${errorMessage(error)}) as deferred`;
      return row.deferred;
    },
  };
}

export async function drainSalesQueue(sql: Sql, config: WorkerConfig, log: Logger): Promise<DrainSummary> {
  return await drainQueue(salesPipeline(sql, log, occurredAtWindow(config)), databasePlatform(sql), salesWorkerOptions(config), log);
}
