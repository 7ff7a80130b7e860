/**
 * A run's budgets: wall-clock time since it started, and the synchronous CPU (planning,
 * serialising) it spent in this isolate, the part of the edge runtime's CPU limit a worker can
 * see. Runs sharing an isolate share the CPU count, which errs on the safe side.
 */
let cpuSpentMs = 0;

/** Runs synchronous work and counts its time against the CPU budget of every run in this isolate. */
export function measuredCpu<T>(work: () => T): T {
  const started = performance.now();
  try {
    return work();
  } finally {
    cpuSpentMs += performance.now() - started;
  }
}

export type BudgetSpent = "wall_budget" | "cpu_budget";

export class RunBudget {
  readonly startedAt = performance.now();
  private readonly cpuAtStart = cpuSpentMs;

  constructor(private readonly wallMs: number, private readonly cpuMs: number) {}

  elapsedMs(): number {
    return performance.now() - this.startedAt;
  }

  cpuSpentMs(): number {
    return cpuSpentMs - this.cpuAtStart;
  }

  /** Which budget is spent, if any. */
  spent(): BudgetSpent | null {
    if (this.elapsedMs() > this.wallMs) return "wall_budget";
    if (this.cpuSpentMs() > this.cpuMs) return "cpu_budget";
    return null;
  }
}
