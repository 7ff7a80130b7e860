/**
 * The queue-worker runtime (supabase/functions/_shared/worker) against an in-memory queue and
 * in-memory slots: what a run does with an empty queue, its budgets, scale-out, a poison record,
 * a transient failure, a busy worker, and its heartbeat. No database: the pipeline and platform
 * below keep their state in memory, as a pgmq queue and the lease table would.
 */
import assert from "node:assert/strict";
import type { Logger } from "../../supabase/functions/_shared/log.ts";
import type { WorkerOptions } from "../../supabase/functions/_shared/worker/options.ts";
import type { QueuePipeline } from "../../supabase/functions/_shared/worker/pipeline.ts";
import type { WorkerPlatform } from "../../supabase/functions/_shared/worker/platform.ts";
import { drainQueue } from "../../supabase/functions/_shared/worker/runtime.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const quiet: Logger = () => {};

interface Message {
  msgId: number;
  value: string;
  readCount: number;
}

interface Plan {
  records: Message[];
  rejected: { msgId: number; error: string }[];
}

/** A pgmq-like queue in memory: visibility by time, read counts, delete on apply. */
class MemoryQueue {
  private next = 1;
  readonly messages = new Map<number, { value: string; readCount: number; visibleAt: number }>();
  readonly applied: string[] = [];
  readonly rejected: { value: string; error: string }[] = [];
  readonly deferredFor: number[] = [];
  applyCalls = 0;

  send(...values: string[]): void {
    for (const value of values) this.messages.set(this.next++, { value, readCount: 0, visibleAt: 0 });
  }

  read(limit: number, visibilitySeconds: number): Message[] {
    const now = performance.now();
    const out: Message[] = [];
    for (const [msgId, m] of this.messages) {
      if (out.length >= limit) break;
      if (m.visibleAt > now) continue;
      m.readCount++;
      m.visibleAt = now + visibilitySeconds * 1000;
      out.push({ msgId, value: m.value, readCount: m.readCount });
    }
    return out;
  }
}

interface Behaviour {
  /** Applying a plan waits this long (a slow transaction). */
  applyMs?: number;
  /** Planning burns this much CPU. */
  planCpuMs?: number;
  /** The next N applies fail with a deadlock. */
  transientFailures?: number;
}

function memoryPipeline(queue: MemoryQueue, behaviour: Behaviour = {}): QueuePipeline<Message, Plan> {
  let transientLeft = behaviour.transientFailures ?? 0;
  return {
    name: "memory-worker",
    queue: "memory",
    read: (limit, vt) => Promise.resolve(queue.read(limit, vt)),
    plan(messages) {
      const until = performance.now() + (behaviour.planCpuMs ?? 0);
      while (performance.now() < until) Math.sqrt(Math.random());
      return { records: messages, rejected: [] };
    },
    async apply(plan) {
      queue.applyCalls++;
      if (behaviour.applyMs) await sleep(behaviour.applyMs);
      if (transientLeft > 0) {
        transientLeft--;
        throw Object.assign(new Error("deadlock detected"), { code: "40P01" });
      }
      const poison = plan.records.find((r) => r.value === "poison");
      if (poison) throw Object.assign(new Error(`value too long: ${poison.value}`), { code: "22001" });
      for (const r of plan.records) {
        queue.applied.push(r.value);
        queue.messages.delete(r.msgId);
      }
      for (const r of plan.rejected) {
        queue.rejected.push({ value: `#${r.msgId}`, error: r.error });
        queue.messages.delete(r.msgId);
      }
      return { processed: plan.records.length, rejected: plan.rejected.length, failed: 0 };
    },
    size: (plan) => plan.records.length,
    skipped: () => 0,
    split(plan) {
      const middle = Math.ceil(plan.records.length / 2);
      return [
        { records: plan.records.slice(0, middle), rejected: plan.rejected },
        { records: plan.records.slice(middle), rejected: [] },
      ];
    },
    rejectAlone(plan, error) {
      return { records: [], rejected: [...plan.rejected, { msgId: plan.records[0].msgId, error: `database: ${(error as Error).message}` }] };
    },
    defer(plan, _error, delaySeconds) {
      for (const r of plan.records) {
        const delay = delaySeconds(r.readCount);
        queue.deferredFor.push(delay);
        queue.messages.get(r.msgId)!.visibleAt = performance.now() + delay * 1000;
      }
      return Promise.resolve(plan.records.length);
    },
  };
}

/** Slots with expiring leases, wakes and visibility extensions recorded, all in memory. */
class MemoryPlatform implements WorkerPlatform {
  readonly leases = new Map<number, { holder: string; expiresAt: number }>();
  readonly wakes: { kind: "peer" | "self" | "if_pending"; reason: string }[] = [];
  readonly extended: number[][] = [];
  renewals = 0;
  refuseRenewal = false;

  slots = {
    take: (_worker: string, maxSlots: number, holder: string, leaseSeconds: number) => {
      const now = performance.now();
      for (let slot = 1; slot <= maxSlots; slot++) {
        const lease = this.leases.get(slot);
        if (!lease || lease.expiresAt <= now) {
          this.leases.set(slot, { holder, expiresAt: now + leaseSeconds * 1000 });
          return Promise.resolve(slot);
        }
      }
      return Promise.resolve(null);
    },
    renew: (_worker: string, slot: number, holder: string, leaseSeconds: number) => {
      this.renewals++;
      const lease = this.leases.get(slot);
      if (this.refuseRenewal || lease?.holder !== holder) return Promise.resolve(false);
      lease.expiresAt = performance.now() + leaseSeconds * 1000;
      return Promise.resolve(true);
    },
    release: (_worker: string, slot: number, holder: string) => {
      if (this.leases.get(slot)?.holder === holder) this.leases.delete(slot);
      return Promise.resolve();
    },
  };

  extendVisibility(_queue: string, msgIds: number[]): Promise<void> {
    this.extended.push(msgIds);
    return Promise.resolve();
  }
  wakePeer(_worker: string, reason: string): Promise<boolean> {
    this.wakes.push({ kind: "peer", reason });
    return Promise.resolve(true);
  }
  wakeSelf(_worker: string, reason: string): Promise<void> {
    this.wakes.push({ kind: "self", reason });
    return Promise.resolve();
  }
  wakeIfPending(_worker: string, reason: string): Promise<boolean> {
    this.wakes.push({ kind: "if_pending", reason });
    return Promise.resolve(false);
  }
  isTransient(error: unknown): boolean {
    return (error as { code?: string }).code === "40P01";
  }
}

function options(overrides: Partial<WorkerOptions> = {}): WorkerOptions {
  return {
    batchSize: 10,
    visibilitySeconds: 15,
    leaseSeconds: 15,
    maxWorkers: 2,
    maxAttempts: 5,
    wallBudgetMs: 60_000,
    cpuBudgetMs: 60_000,
    lingerMs: 100,
    backoffBaseSeconds: 2,
    backoffMaxSeconds: 300,
    pollMs: 10,
    ...overrides,
  };
}

const values = (n: number, prefix = "r") => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

Deno.test("a run on an empty queue lingers for the linger time, then stops, frees its slot and wakes no one", async () => {
  const queue = new MemoryQueue();
  const platform = new MemoryPlatform();
  const summary = await drainQueue(memoryPipeline(queue), platform, options({ lingerMs: 150 }), quiet);
  assert.equal(summary.stopped, "empty");
  assert.equal(summary.batches, 0);
  assert.ok(summary.ms >= 150 && summary.ms < 1_000, `${summary.ms} ms`);
  assert.equal(platform.leases.size, 0, "the slot is released");
  assert.deepEqual(platform.wakes, [{ kind: "if_pending", reason: "memory" }]);
  assert.equal(summary.handedOver, false);
});

Deno.test("records that arrive while the run lingers are taken by the same run", async () => {
  const queue = new MemoryQueue();
  const platform = new MemoryPlatform();
  setTimeout(() => queue.send("late"), 40);
  const summary = await drainQueue(memoryPipeline(queue), platform, options({ lingerMs: 150 }), quiet);
  assert.equal(summary.processed, 1);
  assert.deepEqual(queue.applied, ["late"]);
});

Deno.test("a spent wall-clock budget stops the run after its batch and hands over to a fresh invocation", async () => {
  const queue = new MemoryQueue();
  queue.send(...values(100));
  const platform = new MemoryPlatform();
  const summary = await drainQueue(memoryPipeline(queue, { applyMs: 30 }), platform, options({ wallBudgetMs: 70 }), quiet);
  assert.equal(summary.stopped, "wall_budget");
  assert.ok(summary.batches >= 1 && summary.batches <= 4, `${summary.batches} batches`);
  assert.equal(queue.messages.size, 100 - summary.processed, "the rest stays queued");
  assert.equal(summary.handedOver, true);
  assert.deepEqual(platform.wakes.filter((w) => w.kind === "self"), [{ kind: "self", reason: "continue" }]);
  assert.equal(platform.leases.size, 0, "the slot is released before the hand-over");
});

Deno.test("a spent CPU budget stops the run and hands over", async () => {
  const queue = new MemoryQueue();
  queue.send(...values(100));
  const platform = new MemoryPlatform();
  const summary = await drainQueue(memoryPipeline(queue, { planCpuMs: 15 }), platform, options({ cpuBudgetMs: 40 }), quiet);
  assert.equal(summary.stopped, "cpu_budget");
  assert.ok(summary.batches >= 2 && summary.batches <= 4, `${summary.batches} batches`);
  assert.ok(summary.cpuMs >= 40, `${summary.cpuMs} ms of CPU`);
  assert.equal(summary.handedOver, true);
  assert.deepEqual(platform.wakes.filter((w) => w.kind === "self").length, 1);
});

Deno.test("full batches wake one peer, once per run", async () => {
  const queue = new MemoryQueue();
  queue.send(...values(35));
  const platform = new MemoryPlatform();
  const summary = await drainQueue(memoryPipeline(queue), platform, options({ batchSize: 10, maxWorkers: 3 }), quiet);
  assert.equal(summary.batches, 4);
  assert.equal(summary.wokePeer, true);
  assert.deepEqual(platform.wakes.filter((w) => w.kind === "peer"), [{ kind: "peer", reason: "scale_out" }]);
});

Deno.test("a partial batch, or a run in the last slot, wakes no peer", async () => {
  const partial = new MemoryQueue();
  partial.send(...values(9));
  const quietPlatform = new MemoryPlatform();
  assert.equal((await drainQueue(memoryPipeline(partial), quietPlatform, options(), quiet)).wokePeer, false);

  const full = new MemoryQueue();
  full.send(...values(30));
  const lastSlot = new MemoryPlatform();
  lastSlot.leases.set(1, { holder: "another run", expiresAt: performance.now() + 60_000 });
  const summary = await drainQueue(memoryPipeline(full), lastSlot, options({ maxWorkers: 2 }), quiet);
  assert.equal(summary.slot, 2);
  assert.equal(summary.wokePeer, false);
  assert.equal(lastSlot.wakes.filter((w) => w.kind === "peer").length, 0);
  assert.equal(summary.processed, 30);
});

Deno.test("a poison record is isolated by bisection and rejected alone with the database's message; the rest applies", async () => {
  const queue = new MemoryQueue();
  queue.send("a", "b", "c", "d", "e", "poison", "g", "h");
  const platform = new MemoryPlatform();
  const summary = await drainQueue(memoryPipeline(queue), platform, options(), quiet);
  assert.equal(summary.processed, 7);
  assert.equal(summary.rejected, 1);
  assert.equal(summary.stopped, "empty");
  assert.deepEqual(queue.applied.sort(), ["a", "b", "c", "d", "e", "g", "h"]);
  assert.deepEqual(queue.rejected, [{ value: "#6", error: "database: value too long: poison" }]);
  assert.equal(queue.messages.size, 0);
  // 8 -> 4 + 4, the poisoned 4 -> 2 + 2, the poisoned 2 -> 1 + 1, then the rejection alone
  assert.equal(queue.applyCalls, 1 + 2 + 2 + 2 + 1);
});

Deno.test("a transient failure defers the batch by a jittered backoff and stops the run", async () => {
  const queue = new MemoryQueue();
  queue.send(...values(25));
  const platform = new MemoryPlatform();
  const summary = await drainQueue(
    memoryPipeline(queue, { transientFailures: 1 }),
    platform,
    options({ backoffBaseSeconds: 4, backoffMaxSeconds: 300 }),
    quiet,
  );
  assert.equal(summary.stopped, "transient_error");
  assert.equal(summary.batches, 1);
  assert.equal(summary.deferred, 10);
  assert.equal(summary.processed, 0);
  assert.equal(queue.messages.size, 25, "nothing is lost");
  // first attempt: ceiling 4 s, equal jitter keeps the delay between 2 and 4 s
  assert.ok(queue.deferredFor.every((d) => d >= 2 && d <= 4), JSON.stringify(queue.deferredFor));
  assert.equal(summary.handedOver, false, "a failing database is not hammered by a hand-over");
  assert.equal(platform.leases.size, 0);
});

Deno.test("with every slot held the run is busy and reads nothing", async () => {
  const queue = new MemoryQueue();
  queue.send(...values(5));
  const platform = new MemoryPlatform();
  const later = performance.now() + 60_000;
  platform.leases.set(1, { holder: "x", expiresAt: later });
  platform.leases.set(2, { holder: "y", expiresAt: later });
  const summary = await drainQueue(memoryPipeline(queue), platform, options({ maxWorkers: 2 }), quiet);
  assert.equal(summary.stopped, "busy");
  assert.equal(summary.slot, null);
  assert.equal(summary.batches, 0);
  assert.equal(queue.messages.size, 5);
  assert.deepEqual(platform.wakes, []);
});

Deno.test("an expired lease of a dead run is taken over", async () => {
  const queue = new MemoryQueue();
  const platform = new MemoryPlatform();
  platform.leases.set(1, { holder: "dead", expiresAt: performance.now() - 1 });
  platform.leases.set(2, { holder: "alive", expiresAt: performance.now() + 60_000 });
  const summary = await drainQueue(memoryPipeline(queue), platform, options({ maxWorkers: 2, lingerMs: 10 }), quiet);
  assert.equal(summary.slot, 1);
});

Deno.test("while a batch is applied the heartbeat renews the slot and keeps the batch's messages hidden", async () => {
  const queue = new MemoryQueue();
  queue.send(...values(3));
  const platform = new MemoryPlatform();
  await drainQueue(memoryPipeline(queue, { applyMs: 120 }), platform, options({ heartbeatMs: 20, lingerMs: 10 }), quiet);
  assert.ok(platform.renewals >= 3, `${platform.renewals} renewals`);
  assert.ok(platform.extended.length >= 3, `${platform.extended.length} extensions`);
  assert.ok(platform.extended.every((ids) => ids.join() === "1,2,3"));
});

Deno.test("a run whose lease was taken over stops after its batch", async () => {
  const queue = new MemoryQueue();
  queue.send(...values(50));
  const platform = new MemoryPlatform();
  platform.refuseRenewal = true;
  const summary = await drainQueue(memoryPipeline(queue, { applyMs: 40 }), platform, options({ heartbeatMs: 10 }), quiet);
  assert.equal(summary.stopped, "lease_lost");
  assert.ok(summary.batches >= 1 && summary.batches < 5, `${summary.batches} batches`);
  assert.equal(summary.handedOver, false);
});
