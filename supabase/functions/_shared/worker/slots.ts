/**
 * Worker slots: how many runs may drain a queue at once. A slot is a lease row with an expiry
 * (conveyor.worker_leases), taken, renewed and released by single statements, so it stays correct
 * through a transaction-mode pooler where session state (advisory locks) does not survive the
 * transaction. A run that dies frees its slot when its lease runs out.
 */
import type { Sql } from "../db.ts";

export interface SlotLeases {
  /** The lowest free (or expired) slot 1..maxSlots, leased to holder; null when all are held. */
  take(worker: string, maxSlots: number, holder: string, leaseSeconds: number): Promise<number | null>;
  /** Extends holder's lease; false when the slot is no longer holder's. */
  renew(worker: string, slot: number, holder: string, leaseSeconds: number): Promise<boolean>;
  /** Frees holder's slot at once. */
  release(worker: string, slot: number, holder: string): Promise<void>;
}

export function databaseSlotLeases(sql: Sql): SlotLeases {
  return {
    async take(worker, maxSlots, holder, leaseSeconds) {
      const [row] = await sql<{ slot: number | null }[]>`
        select conveyor.take_worker_slot(${worker}, ${maxSlots}::integer, ${holder}::uuid, ${leaseSeconds}::float8) as slot`;
      return row.slot;
    },
    async renew(worker, slot, holder, leaseSeconds) {
      const [row] = await sql<{ renewed: boolean }[]>`
        select conveyor.renew_worker_slot(${worker}, ${slot}::integer, ${holder}::uuid, ${leaseSeconds}::float8) as renewed`;
      return row.renewed;
    },
    async release(worker, slot, holder) {
      await sql`select conveyor.release_worker_slot(${worker}, ${slot}::integer, ${holder}::uuid)`;
    },
  };
}
