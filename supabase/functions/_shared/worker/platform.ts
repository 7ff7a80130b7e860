/**
 * What the runtime needs from the database besides the pipeline: slot leases, the visibility of
 * messages being worked on, and wake-ups. `databasePlatform` is the real one; unit tests give the
 * runtime an in-memory one.
 */
import { isTransientDbError, type Sql } from "../db.ts";
import { wakeFunction, wakeIfPending, wakePeer } from "../queue.ts";
import { databaseSlotLeases, type SlotLeases } from "./slots.ts";

export interface WorkerPlatform {
  slots: SlotLeases;
  /** Hides these messages for `seconds` from now; rows being deleted by their batch are skipped. */
  extendVisibility(queue: string, msgIds: number[], seconds: number): Promise<void>;
  /** Wakes another invocation at once unless an operator paused the wakes; true when it did. */
  wakePeer(worker: string, reason: string): Promise<boolean>;
  /** Hands over to a fresh invocation (after a budget is spent). */
  wakeSelf(worker: string, reason: string): Promise<void>;
  /** Wakes a fresh invocation only if the queue holds visible messages; true when it did. */
  wakeIfPending(worker: string, queue: string): Promise<boolean>;
  /** Errors that say nothing about the data (connection loss, deadlock, timeout). */
  isTransient(error: unknown): boolean;
}

export function databasePlatform(sql: Sql): WorkerPlatform {
  return {
    slots: databaseSlotLeases(sql),
    async extendVisibility(queue, msgIds, seconds) {
      await sql`select conveyor.extend_message_visibility(${queue}, ${msgIds}::bigint[], ${Math.ceil(seconds)}::integer)`;
    },
    wakePeer: (worker, reason) => wakePeer(sql, worker, reason),
    wakeSelf: (worker, reason) => wakeFunction(sql, worker, reason),
    wakeIfPending: (worker, queue) => wakeIfPending(sql, worker, queue),
    isTransient: isTransientDbError,
  };
}
