/**
 * While a run works, a heartbeat renews its slot's lease and keeps the messages of the batch in
 * hand hidden, so both can be short: a run that dies frees its slot and its messages within
 * seconds. A run learns here that it lost its slot (renewal refused, or not renewed in time).
 */
import { errorMessage, type Logger } from "../log.ts";
import type { WorkerPlatform } from "./platform.ts";

export interface HeartbeatTarget {
  worker: string;
  queue: string;
  slot: number;
  holder: string;
  leaseSeconds: number;
  visibilitySeconds: number;
  intervalMs: number;
}

export class Heartbeat {
  private inHand: number[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private beating: Promise<void> = Promise.resolve();
  private running = false;
  private renewedAt = performance.now();
  private refused = false;

  constructor(private readonly platform: WorkerPlatform, private readonly target: HeartbeatTarget, private readonly log: Logger) {}

  start(): void {
    this.renewedAt = performance.now();
    this.timer = setInterval(() => {
      if (this.running) return; // a slow beat is not queued behind
      this.running = true;
      this.beating = this.beat().finally(() => {
        this.running = false;
      });
    }, this.target.intervalMs);
  }

  /** False once another run may have taken the slot: the renewal was refused, or is overdue. */
  holdsSlot(): boolean {
    return !this.refused && performance.now() - this.renewedAt < this.target.leaseSeconds * 1000;
  }

  /** The messages of the batch now in hand, kept hidden until `release`. */
  hold(msgIds: number[]): void {
    this.inHand = msgIds;
  }

  /** Stops extending the batch's messages, once a beat under way has finished. */
  async release(): Promise<void> {
    this.inHand = [];
    await this.beating;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.inHand = [];
    await this.beating;
  }

  private async beat(): Promise<void> {
    const { worker, queue, slot, holder, leaseSeconds, visibilitySeconds } = this.target;
    const started = performance.now();
    try {
      if (await this.platform.slots.renew(worker, slot, holder, leaseSeconds)) this.renewedAt = started;
      else if (!this.refused) {
        this.refused = true;
        this.log("warn", "worker slot lost: its lease expired and another run took it", { slot });
      }
    } catch (error) {
      this.log("warn", "renewing the worker slot failed; retried at the next beat", { slot, error: errorMessage(error) });
    }
    const msgIds = this.inHand;
    if (msgIds.length === 0) return;
    try {
      await this.platform.extendVisibility(queue, msgIds, visibilitySeconds);
    } catch (error) {
      this.log("warn", "extending the batch's visibility failed; retried at the next beat", { error: errorMessage(error) });
    }
  }
}
