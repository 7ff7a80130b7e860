/**
 * Draining the sales queue: read a batch (with its staging rows, one round trip), normalise it in
 * TypeScript, persist it set-based in one transaction, and loop until the queue stays empty for
 * the linger time or the run's wall-clock or CPU budget is spent; then hand over to a fresh
 * invocation if work remains. Transient failures push the batch's messages out by a backoff;
 * rule failures reject single records; a record that breaks the database alone is isolated by
 * bisecting the batch.
 */
import { z } from "zod";
import { occurredAtWindow, type WorkerConfig } from "../_shared/config.ts";
import { isTransientDbError, type Sql } from "../_shared/db.ts";
import { errorMessage, type Logger } from "../_shared/log.ts";
import { claimWorkerSlot, releaseWorkerSlot, wakeFunction, wakeIfPending, wakePeer } from "../_shared/queue.ts";
import { backoffSeconds } from "./backoff.ts";
import {
  type ApplyBatch,
  encodeSalesBatch,
  planSalesBatch,
  type QueuedSale,
  salesBatchDocument,
  type ShopRecord,
  splitBatch,
} from "./plan.ts";

export const workerName = "process-sales";
export const queueName = "sales_input";

type Reserved = Awaited<ReturnType<Sql["reserve"]>>;

export type StopReason = "empty" | "wall_budget" | "cpu_budget" | "busy" | "transient_error";

export interface DrainSummary {
  slot: number | null;
  batches: number;
  messages: number;
  processed: number;
  rejected: number;
  failed: number;
  deferred: number;
  skipped: number;
  stopped: StopReason;
  /** This run read a full batch with a worker slot free and woke another invocation to take it. */
  wokePeer: boolean;
  handedOver: boolean;
  ms: number;
  cpuMs: number;
  /** Highest V8 heap in use seen after a batch (the edge runtime's limit is 256 MB). */
  peakHeapMb: number;
}

interface ApplyCounts {
  processed: number;
  rejected: number;
  failed: number;
}

/**
 * Reads a batch of messages, then their staging rows in a second statement. Not one statement:
 * pgmq.read runs its query with a newer snapshot than the statement around it, so a join could
 * miss a staging row committed together with its message and take the message for a stray.
 */
/** A sales queue message: the staging id of one record, nothing else. */
export const salesMessageSchema = z.object({ id: z.number().int().positive() });

async function readSalesBatch(conn: Reserved, config: WorkerConfig, log: Logger): Promise<QueuedSale[]> {
  const messages = await conn<{ msg_id: string; read_ct: number; message: unknown }[]>`
    select m.msg_id, m.read_ct, m.message
      from etl.read_sales_messages(${config.PROCESS_SALES_VISIBILITY_SECONDS}::integer,
                                   ${config.PROCESS_SALES_BATCH_SIZE}::integer) as m
     order by m.msg_id`;
  if (messages.length === 0) return [];
  const parsed = messages.map((m) => ({ ...m, body: salesMessageSchema.safeParse(m.message) }));
  const ids = parsed.flatMap((m) => (m.body.success ? [m.body.data.id] : []));
  const staged = await conn<{ id: string; status: string; payload: unknown; error: string | null }[]>`
    select s.id, s.status, s.payload, s.error from etl.sales_input as s where s.id = any (${ids}::bigint[])`;
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

async function loadShops(conn: Reserved): Promise<Map<string, ShopRecord>> {
  const rows = await conn<ShopRecord[]>`select code, timezone, active from public.shops`;
  return new Map(rows.map((shop) => [shop.code, shop]));
}

/**
 * Synchronous work (planning, serialising) in this isolate: the part of the edge CPU limit the
 * worker can see. Runs sharing an isolate share the count, which errs on the safe side.
 */
let cpuSpentMs = 0;

function measuredCpu<T>(work: () => T): T {
  const started = performance.now();
  try {
    return work();
  } finally {
    cpuSpentMs += performance.now() - started;
  }
}

async function applyBatch(conn: Reserved, batch: ApplyBatch): Promise<ApplyCounts> {
  const body = measuredCpu(() => JSON.stringify(salesBatchDocument(encodeSalesBatch(batch))));
  const [row] = await conn<{ result: ApplyCounts }[]>`
    select etl.apply_sales_batch(${body}::text::jsonb) as result`;
  return row.result;
}

/**
 * Applies a batch; when the database refuses it for a reason in the data (not a transient one),
 * bisects until the offending record is alone and rejects it with the database's message.
 */
async function applyIsolating(conn: Reserved, batch: ApplyBatch, log: Logger): Promise<ApplyCounts> {
  try {
    return await applyBatch(conn, batch);
  } catch (error) {
    if (isTransientDbError(error)) throw error;
    if (batch.processed.length === 0) throw error;
    if (batch.processed.length === 1) {
      const [sale] = batch.processed;
      log("warn", "record rejected by the database", { input_id: sale.input_id, error: errorMessage(error) });
      return await applyBatch(conn, {
        ...batch,
        processed: [],
        rejected: [...batch.rejected, {
          input_id: sale.input_id,
          msg_id: sale.msg_id,
          attempts: sale.attempts,
          error: `database: ${errorMessage(error)}`,
        }],
      });
    }
    const [first, second] = splitBatch(batch);
    const a = await applyIsolating(conn, first, log);
    const b = await applyIsolating(conn, second, log);
    return { processed: a.processed + b.processed, rejected: a.rejected + b.rejected, failed: a.failed + b.failed };
  }
}

async function deferBatch(conn: Reserved, batch: ApplyBatch, config: WorkerConfig, error: unknown): Promise<number> {
  const deferrals = [...batch.processed, ...batch.rejected, ...batch.failed].map((m) => ({
    input_id: m.input_id,
    msg_id: m.msg_id,
    attempts: m.attempts,
    delay_seconds: backoffSeconds(
      m.attempts,
      config.PROCESS_SALES_BACKOFF_BASE_SECONDS,
      config.PROCESS_SALES_BACKOFF_MAX_SECONDS,
    ),
  }));
  if (deferrals.length === 0) return 0;
  const [row] = await conn<{ deferred: number }[]>`
    select etl.defer_sales_messages(${JSON.stringify(deferrals)}::text::jsonb, ${errorMessage(error)}) as deferred`;
  return row.deferred;
}

/**
 * A full batch means a backlog; a slot above this worker's may be free (slots are taken lowest
 * first). Each worker wakes at most one peer per run, so workers ramp up one by one to the limit.
 */
export function shouldWakePeer(messagesRead: number, slot: number, config: WorkerConfig): boolean {
  return messagesRead >= config.PROCESS_SALES_BATCH_SIZE && slot < config.PROCESS_SALES_MAX_WORKERS;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function drainSalesQueue(sql: Sql, config: WorkerConfig, log: Logger): Promise<DrainSummary> {
  const started = performance.now();
  const cpuAtStart = cpuSpentMs;
  const summary: DrainSummary = {
    slot: null,
    batches: 0,
    messages: 0,
    processed: 0,
    rejected: 0,
    failed: 0,
    deferred: 0,
    skipped: 0,
    stopped: "empty",
    wokePeer: false,
    handedOver: false,
    ms: 0,
    cpuMs: 0,
    peakHeapMb: 0,
  };
  const conn = await sql.reserve();
  try {
    summary.slot = await claimWorkerSlot(conn, workerName, config.PROCESS_SALES_MAX_WORKERS);
    if (summary.slot === null) {
      summary.stopped = "busy";
      return summary;
    }
    try {
      const shops = await loadShops(conn);
      let lastWorkAt = performance.now();
      for (;;) {
        if (performance.now() - started > config.PROCESS_SALES_WALL_BUDGET_MS) {
          summary.stopped = "wall_budget";
          break;
        }
        summary.cpuMs = cpuSpentMs - cpuAtStart;
        if (summary.cpuMs > config.PROCESS_SALES_CPU_BUDGET_MS) {
          summary.stopped = "cpu_budget";
          break;
        }
        const messages = await readSalesBatch(conn, config, log);
        if (messages.length === 0) {
          if (performance.now() - lastWorkAt > config.PROCESS_SALES_LINGER_MS) break;
          await sleep(50);
          continue;
        }
        if (!summary.wokePeer && shouldWakePeer(messages.length, summary.slot, config)) {
          // a backlog: start the next worker now rather than at the next coalesced wake
          summary.wokePeer = await wakePeer(conn, workerName, "scale_out");
        }
        const batchStarted = performance.now();
        log("info", "batch start", { messages: messages.length, first_msg_id: messages[0].msgId });
        const batch = measuredCpu(() => planSalesBatch(messages, shops, config.PROCESS_SALES_MAX_ATTEMPTS, occurredAtWindow(config)));
        summary.batches++;
        summary.messages += messages.length;
        summary.skipped += batch.done_msg_ids.length;
        try {
          const counts = await applyIsolating(conn, batch, log);
          summary.processed += counts.processed;
          summary.rejected += counts.rejected;
          summary.failed += counts.failed;
          log("info", "batch done", {
            messages: messages.length,
            ...counts,
            skipped: batch.done_msg_ids.length,
            ms: Math.round(performance.now() - batchStarted),
          });
        } catch (error) {
          log("error", "batch failed", {
            msg_ids: messages.map((m) => m.msgId).slice(0, 20),
            messages: messages.length,
            error: errorMessage(error),
            transient: isTransientDbError(error),
          });
          summary.deferred += await deferBatch(conn, batch, config, error).catch((deferError) => {
            log("error", "deferring the batch failed; its messages return after the visibility timeout", {
              error: errorMessage(deferError),
            });
            return 0;
          });
          summary.stopped = "transient_error";
          break;
        }
        lastWorkAt = performance.now();
        summary.peakHeapMb = Math.max(summary.peakHeapMb, Math.round(Deno.memoryUsage().heapUsed / 2 ** 20));
      }
    } finally {
      await releaseWorkerSlot(conn, workerName, summary.slot).catch(() => {});
    }
    if (summary.stopped === "wall_budget" || summary.stopped === "cpu_budget") {
      await wakeFunction(conn, workerName, "continue");
      summary.handedOver = true;
    } else if (summary.stopped === "empty") {
      // a message that arrived as this worker released its slot must not wait for cron
      summary.handedOver = await wakeIfPending(conn, workerName, queueName);
    }
    return summary;
  } finally {
    conn.release();
    summary.ms = Math.round(performance.now() - started);
    summary.cpuMs = Math.round(cpuSpentMs - cpuAtStart);
  }
}
