/** What one run of a worker did, logged at its end and returned to a caller that waits for it. */
export type StopReason = "empty" | "wall_budget" | "cpu_budget" | "busy" | "transient_error" | "lease_lost";

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

export function emptySummary(): DrainSummary {
  return {
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
}
