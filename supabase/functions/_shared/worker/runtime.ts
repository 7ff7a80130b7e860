/**
 * The queue-worker runtime: one run of a worker drains its queue through a pipeline. It takes a
 * slot (at most maxWorkers runs at once), reads a batch, plans it, applies it in one transaction,
 * and loops until the queue stays empty for the linger time or the run's wall-clock or CPU budget
 * is spent; then it hands over to a fresh invocation if work remains. While it works, a heartbeat
 * renews its slot and keeps the batch's messages hidden. A full batch wakes one peer (scale-out).
 * A transient failure defers the batch by a backoff with jitter and ends the run; a record the
 * database refuses alone is isolated by bisection and rejected; planning sends records past their
 * last attempt to the dead letter.
 */
import { errorMessage, type Logger } from "../log.ts";
import { backoffSeconds } from "./backoff.ts";
import { applyIsolating } from "./bisect.ts";
import { measuredCpu, RunBudget } from "./budgets.ts";
import { Heartbeat } from "./heartbeat.ts";
import { heartbeatInterval, type WorkerOptions } from "./options.ts";
import type { QueuedMessage, QueuePipeline } from "./pipeline.ts";
import type { WorkerPlatform } from "./platform.ts";
import { type DrainSummary, emptySummary } from "./summary.ts";

/**
 * A full batch means a backlog; a slot above this run's may be free (slots are taken lowest
 * first). Each run wakes at most one peer, so workers ramp up one by one to the limit.
 */
export function shouldWakePeer(
  messagesRead: number,
  slot: number,
  options: Pick<WorkerOptions, "batchSize" | "maxWorkers">,
): boolean {
  return messagesRead >= options.batchSize && slot < options.maxWorkers;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function drainQueue<Message extends QueuedMessage, Plan>(
  pipeline: QueuePipeline<Message, Plan>,
  platform: WorkerPlatform,
  options: WorkerOptions,
  log: Logger,
): Promise<DrainSummary> {
  const budget = new RunBudget(options.wallBudgetMs, options.cpuBudgetMs);
  const summary = emptySummary();
  const holder = crypto.randomUUID();
  const delaySeconds = (attempt: number) => backoffSeconds(attempt, options.backoffBaseSeconds, options.backoffMaxSeconds);
  try {
    const slot = await platform.slots.take(pipeline.name, options.maxWorkers, holder, options.leaseSeconds);
    summary.slot = slot;
    if (slot === null) {
      summary.stopped = "busy";
      return summary;
    }
    const heartbeat = new Heartbeat(platform, {
      worker: pipeline.name,
      queue: pipeline.queue,
      slot,
      holder,
      leaseSeconds: options.leaseSeconds,
      visibilitySeconds: options.visibilitySeconds,
      intervalMs: heartbeatInterval(options),
    }, log);
    heartbeat.start();
    try {
      let lastWorkAt = performance.now();
      for (;;) {
        const spent = budget.spent();
        if (spent) {
          summary.stopped = spent;
          break;
        }
        if (!heartbeat.holdsSlot()) {
          summary.stopped = "lease_lost";
          break;
        }
        const messages = await pipeline.read(options.batchSize, options.visibilitySeconds);
        if (messages.length === 0) {
          if (performance.now() - lastWorkAt > options.lingerMs) break;
          await sleep(options.pollMs ?? 50);
          continue;
        }
        heartbeat.hold(messages.map((m) => m.msgId));
        try {
          if (!summary.wokePeer && shouldWakePeer(messages.length, slot, options)) {
            // a backlog: start the next worker now rather than at the next coalesced wake
            summary.wokePeer = await platform.wakePeer(pipeline.name, "scale_out");
          }
          const batchStarted = performance.now();
          log("info", "batch start", { messages: messages.length, first_msg_id: messages[0].msgId });
          const plan = measuredCpu(() => pipeline.plan(messages, { maxAttempts: options.maxAttempts }));
          const skipped = pipeline.skipped(plan);
          summary.batches++;
          summary.messages += messages.length;
          summary.skipped += skipped;
          try {
            const counts = await applyIsolating(pipeline, plan, platform.isTransient, log);
            summary.processed += counts.processed;
            summary.rejected += counts.rejected;
            summary.failed += counts.failed;
            log("info", "batch done", {
              messages: messages.length,
              ...counts,
              skipped,
              ms: Math.round(performance.now() - batchStarted),
            });
          } catch (error) {
            log("error", "batch failed", {
              msg_ids: messages.map((m) => m.msgId).slice(0, 20),
              messages: messages.length,
              error: errorMessage(error),
              transient: platform.isTransient(error),
            });
            await heartbeat.release(); // the backoff, not the heartbeat, decides when they return
            summary.deferred += await pipeline.defer(plan, error, delaySeconds).catch((deferError) => {
              log("error", "deferring the batch failed; its messages return after the visibility timeout", {
                error: errorMessage(deferError),
              });
              return 0;
            });
            summary.stopped = "transient_error";
            break;
          }
        } finally {
          await heartbeat.release();
        }
        lastWorkAt = performance.now();
        summary.peakHeapMb = Math.max(summary.peakHeapMb, Math.round(Deno.memoryUsage().heapUsed / 2 ** 20));
      }
    } finally {
      await heartbeat.stop();
      await platform.slots.release(pipeline.name, slot, holder).catch((error) => {
        log("warn", "releasing the worker slot failed; it is free when its lease expires", { slot, error: errorMessage(error) });
      });
    }
    if (summary.stopped === "wall_budget" || summary.stopped === "cpu_budget") {
      await platform.wakeSelf(pipeline.name, "continue");
      summary.handedOver = true;
    } else if (summary.stopped === "empty") {
      // a message that arrived as this run released its slot must not wait for cron
      summary.handedOver = await platform.wakeIfPending(pipeline.name, pipeline.queue);
    }
    return summary;
  } finally {
    summary.ms = Math.round(budget.elapsedMs());
    summary.cpuMs = Math.round(budget.cpuSpentMs());
  }
}
