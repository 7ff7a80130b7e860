/**
 * The runtime's settings, a plain typed object: each pipeline maps its own environment variables
 * (PROCESS_SALES_* for sales) onto it, so workers of other queues can use their own prefixes.
 */
export interface WorkerOptions {
  /** Messages read per batch. */
  batchSize: number;
  /** How long a read message stays hidden; extended while its batch is being worked on. */
  visibilitySeconds: number;
  /** How long a slot's lease lasts without renewal; a dead worker's slot is free after it. */
  leaseSeconds: number;
  /** Workers that may drain the queue at once (slots 1..maxWorkers). */
  maxWorkers: number;
  /** Deliveries before a record goes to the dead letter. */
  maxAttempts: number;
  /** Wall-clock time of one run before it hands over to a fresh invocation. */
  wallBudgetMs: number;
  /** Synchronous CPU of one run (planning, encoding) before it hands over. */
  cpuBudgetMs: number;
  /** How long an empty queue is watched before the run ends. */
  lingerMs: number;
  backoffBaseSeconds: number;
  backoffMaxSeconds: number;
  /** Pause between reads of an empty queue while lingering. */
  pollMs?: number;
  /** How often the lease and the batch's visibility are renewed; a third of the shorter of the two by default. */
  heartbeatMs?: number;
}

export function heartbeatInterval(options: WorkerOptions): number {
  return options.heartbeatMs ??
    Math.max(100, Math.floor(Math.min(options.leaseSeconds, options.visibilitySeconds) * 1000 / 3));
}
