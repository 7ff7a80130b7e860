/**
 * Queue plumbing shared by workers: worker slots (how many may drain a queue at once) and
 * wake-ups. Slots are session advisory locks on a reserved connection, so a worker that dies
 * frees its slot with its connection.
 */
import type { Sql } from "./db.ts";

type Reserved = Awaited<ReturnType<Sql["reserve"]>>;

/** A stable 32-bit lock namespace per worker name (PostgreSQL's hashtext). */
export async function claimWorkerSlot(conn: Reserved, workerName: string, maxWorkers: number): Promise<number | null> {
  const rows = await conn<{ slot: number }[]>`
    select s.slot
      from generate_series(1, ${maxWorkers}::int) as s(slot)
     where pg_try_advisory_lock(hashtext(${`conveyor:${workerName}`}), s.slot)
     limit 1`;
  return rows[0]?.slot ?? null;
}

export async function releaseWorkerSlot(conn: Reserved, workerName: string, slot: number): Promise<void> {
  await conn`select pg_advisory_unlock(hashtext(${`conveyor:${workerName}`}), ${slot}::int)`;
}

/** Wakes a function through pg_net (sent when this statement commits). */
export async function wakeFunction(sql: Sql | Reserved, functionName: string, reason: string): Promise<void> {
  await sql`select conveyor.wake_function(${functionName}, jsonb_build_object('reason', ${reason}::text))`;
}

/**
 * Wakes another invocation of a function at once (no coalescing window), unless an operator paused
 * its automatic wakes; true when it did. For a worker that finds more work than it can take alone.
 */
export async function wakePeer(sql: Sql | Reserved, functionName: string, reason: string): Promise<boolean> {
  const rows = await sql<{ request_id: string }[]>`
    select conveyor.wake_function(${functionName}, jsonb_build_object('reason', ${reason}::text)) as request_id
     where not exists (select from conveyor.function_wakes as w where w.function_name = ${functionName} and w.paused)`;
  return rows.length > 0;
}

/** Wakes a function only if its queue still holds visible messages; true when it did. */
export async function wakeIfPending(sql: Sql | Reserved, functionName: string, queueName: string): Promise<boolean> {
  const [row] = await sql<{ request_id: string | null }[]>`
    select conveyor.wake_if_pending(${functionName}, ${queueName}) as request_id`;
  return row.request_id !== null;
}
