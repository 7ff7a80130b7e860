/**
 * Wake-ups shared by workers and their callers. Worker slots are leases: see worker/slots.ts.
 */
import type { Sql } from "./db.ts";

type Reserved = Awaited<ReturnType<Sql["reserve"]>>;

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
