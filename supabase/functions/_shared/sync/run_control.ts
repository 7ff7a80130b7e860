/** What a push or pull needs from the run around it: its settings, its destination transactions, its budget. */
import type { DestinationTransaction } from "./destination.ts";

export interface RunControl {
  dryRun: boolean;
  /** Read from the start instead of the cursors (rows unchanged in the destination stay unwritten). */
  full: boolean;
  batchRows: number;
  /** True when the run must stop before its next batch (budget spent, lease lost). */
  shouldStop(): boolean;
  /**
   * Runs a batch in a destination transaction (a dry run: all batches in one, rolled back at the
   * end). `abandon` stops its wait for a connection (an earlier batch has failed).
   */
  inDestination<T>(work: (tx: DestinationTransaction) => Promise<T>, abandon?: AbortSignal): Promise<T>;
  /** Called after each applied batch (lease renewal, progress). */
  afterBatch(definition: string): Promise<void>;
}

/** What a run did to one definition's destination. */
export interface DefinitionTally {
  definition: string;
  direction: "push" | "pull";
  inserted: number;
  updated: number;
  deleted: number;
  bytes: number;
  /** Source rows and tombstones read. */
  rowsRead: number;
  /** The definition the run failed on. */
  failedHere: boolean;
}

export function emptyTally(definition: string, direction: "push" | "pull"): DefinitionTally {
  return { definition, direction, inserted: 0, updated: 0, deleted: 0, bytes: 0, rowsRead: 0, failedHere: false };
}
