/**
 * Recovery after a crash, for the benchmark: N records through the ingest API and drained
 * undisturbed, then N more with the process-sales function process killed (SIGKILL) mid-drain,
 * each timed from its first request until the pipeline has drained it. The killed workers'
 * batches come back when their visibility (kept short by the workers' heartbeat) runs out, and
 * the safety net or a peer drains them; the ratio of the two times is the price of the crash.
 */
import {
  batchProgress,
  encodeBatches,
  type IngestTarget,
  nextSalesStart,
  sendBatches,
  type Sql,
  waitUntilDrained,
} from "../../lib/sales_client.ts";
import { generateSales } from "../../lib/sales_sample.ts";

export interface CrashRecovery {
  records: number;
  undisturbedMs: number;
  /** From the first request of the disturbed feed until it was drained. */
  disturbedMs: number;
  ratio: number;
  /** From its first request until the kill. */
  killedAtMs: number | null;
  /** From the kill until drained: the recovery. */
  recoveryMs: number | null;
  /** Records already done when the worker was killed. */
  doneAtKill: number;
  killedPids: number[];
  processed: number;
  rejected: number;
  failed: number;
}

export interface CrashRecoveryOptions {
  records: number;
  runId: string;
  /** The process-sales function processes to kill. */
  workerPids: () => number[];
  /** Waits until the queue is empty and no worker holds a slot. */
  waitForQuiet: () => Promise<void>;
  say: (line: string) => void;
  chunkSize?: number;
  /** The share of the feed done before the kill (default: a tenth). */
  killAfterShare?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function drainTimed(
  sql: Sql,
  target: IngestTarget,
  records: unknown[],
  chunkSize: number,
  duringDrain?: (batchIds: string[], started: number) => Promise<void>,
) {
  const batches = encodeBatches(records, chunkSize);
  const started = performance.now();
  const batchIds = await sendBatches(target, batches, { concurrency: 2 });
  await duringDrain?.(batchIds, started);
  const { drainedAt, ...progress } = await waitUntilDrained(sql, batchIds, { timeoutMs: 600_000, progressMs: 5000 });
  return { ms: drainedAt - started, drainedAt, progress };
}

export async function measureCrashRecovery(sql: Sql, target: IngestTarget, options: CrashRecoveryOptions): Promise<CrashRecovery> {
  const n = options.records;
  const chunkSize = options.chunkSize ?? 10_000;
  const killAfter = Math.ceil(n * (options.killAfterShare ?? 0.1));
  options.say(`\ncrash recovery: ${n} records drained undisturbed, then ${n} more with the process-sales process killed mid-drain`);
  const feed = generateSales({ count: 2 * n, runId: `${options.runId}-crash`, seed: 7, badShare: 0.01, startAt: await nextSalesStart(sql) });

  await options.waitForQuiet();
  const undisturbed = await drainTimed(sql, target, feed.slice(0, n), chunkSize);
  options.say(`  undisturbed: ${(undisturbed.ms / 1000).toFixed(2)} s`);

  await options.waitForQuiet();
  let killedAt: number | null = null;
  let killStarted = 0;
  let doneAtKill = 0;
  const killedPids: number[] = [];
  const disturbed = await drainTimed(sql, target, feed.slice(n), chunkSize, async (batchIds, started) => {
    killStarted = started;
    const deadline = Date.now() + 120_000;
    for (;;) {
      const progress = await batchProgress(sql, batchIds);
      doneAtKill = progress.total - progress.received;
      if (progress.received === 0) {
        options.say("  the feed drained before the kill: no crash measured (try more --records)");
        return;
      }
      if (doneAtKill >= killAfter || Date.now() > deadline) break;
      await sleep(20);
    }
    for (const pid of options.workerPids()) {
      try {
        Deno.kill(pid, "SIGKILL");
        killedPids.push(pid);
      } catch { /* exited meanwhile */ }
    }
    killedAt = performance.now();
    options.say(`  killed pid ${killedPids.join(", ") || "(none found)"} with ${doneAtKill}/${n} done`);
  });
  const recoveryMs = killedAt === null ? null : disturbed.drainedAt - killedAt;
  options.say(
    `  disturbed: ${(disturbed.ms / 1000).toFixed(2)} s` +
      (recoveryMs === null ? "" : `, ${(recoveryMs / 1000).toFixed(2)} s of it after the kill`),
  );
  return {
    records: n,
    undisturbedMs: undisturbed.ms,
    disturbedMs: disturbed.ms,
    ratio: disturbed.ms / undisturbed.ms,
    killedAtMs: killedAt === null ? null : killedAt - killStarted,
    recoveryMs,
    doneAtKill,
    killedPids,
    processed: disturbed.progress.processed,
    rejected: disturbed.progress.rejected,
    failed: disturbed.progress.failed,
  };
}

/** One line for the benchmark's notes. */
export function crashRecoveryNote(c: CrashRecovery): string {
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  if (c.recoveryMs === null || c.killedAtMs === null) {
    return `Crash recovery: ${c.records} records drained before the kill could happen; nothing measured.`;
  }
  return `Crash recovery: ${c.records.toLocaleString("en-US")} records drained in ${s(c.disturbedMs)} with the ` +
    `process-sales process killed (SIGKILL) ${s(c.killedAtMs)} after the first request (${c.doneAtKill} done), ` +
    `against ${s(c.undisturbedMs)} undisturbed: ${c.ratio.toFixed(1)}x; drained ${s(c.recoveryMs)} after the kill; ` +
    `${c.processed} processed, ${c.rejected} rejected, ${c.failed} failed.`;
}
