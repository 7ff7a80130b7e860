/**
 * What a queue pipeline gives the worker runtime: how to read a batch of its queue, plan it (the
 * pure part: validation and rules), apply a plan in one transaction, and split or defer a plan.
 * The runtime does the rest (slots, budgets, linger, scale-out, hand-over, bisection, backoff,
 * visibility, summary and logs) the same way for every queue.
 */

/** What applying a plan did to its records. */
export interface ApplyCounts {
  processed: number;
  rejected: number;
  failed: number;
}

/** A message as the runtime needs to see it: its pgmq id (for visibility and logs). */
export interface QueuedMessage {
  msgId: number;
}

/** Settings the runtime hands to planning: after maxAttempts deliveries a record goes to the dead letter. */
export interface PlanContext {
  maxAttempts: number;
}

export interface QueuePipeline<Message extends QueuedMessage, Plan> {
  /** The worker's (and its edge function's) name: slots, wakes and logs go by it. */
  readonly name: string;
  /** The pgmq queue it drains. */
  readonly queue: string;
  /** Reads up to `limit` messages, hidden for `visibilitySeconds`, with whatever the plan needs. */
  read(limit: number, visibilitySeconds: number): Promise<Message[]>;
  /** Pure and synchronous: decides each record's fate (counted against the CPU budget). */
  plan(messages: Message[], context: PlanContext): Plan;
  /** Writes a plan in one transaction, all or nothing. */
  apply(plan: Plan): Promise<ApplyCounts>;
  /** The records of a plan that bisection can split (those the database may refuse). */
  size(plan: Plan): number;
  /** Messages the plan acknowledges without work (duplicates of finished records, strays). */
  skipped(plan: Plan): number;
  /** Two halves of a plan of size 2 or more, each applicable on its own. */
  split(plan: Plan): [Plan, Plan];
  /** A plan of size 1 with its record rejected for the database's error, naming it. */
  rejectAlone(plan: Plan, error: unknown): Plan;
  /**
   * After a transient failure: records the error and hides each message for its backoff delay
   * (`delaySeconds(attempt)`); returns how many messages were deferred.
   */
  defer(plan: Plan, error: unknown, delaySeconds: (attempt: number) => number): Promise<number>;
}
