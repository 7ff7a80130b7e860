/**
 * One sync run, as the CLI and the sync edge function (supabase/functions/sync) start it: takes a lease per
 * definition (conveyor.take_worker_slot with worker `sync:<definition>` and one slot, so two runs
 * never interleave on a table, through a transaction-mode pooler too), logs the run in
 * conveyor.sync_runs (a run refused because another holds one of its definitions too, as busy),
 * pushes or pulls in bounded slices (`shouldStop`), and releases the leases.
 * Everything it keeps is in the working database; the production project only receives rows.
 */
import type { Sql } from "../db.ts";
import { databaseSlotLeases } from "../worker/slots.ts";
import type { SyncDefinition, SyncDirection } from "./definitions.ts";
import { pullDefinitions } from "./pull.ts";
import { pushDefinitions } from "./push.ts";
import { type DefinitionTally, emptyTally, type RunControl } from "./run_control.ts";
import { type DestinationTransaction, inBatchTransaction } from "./destination.ts";

export interface SyncRunOptions {
  /** The working database. Up to three connections: the snapshot, the cursors and log, a COPY. */
  home: Sql;
  /** The production project: at most 2 connections, `prepare: false` through a pooler. */
  production: Sql;
  direction: SyncDirection;
  /** The definitions of that direction to run, in dependency order. */
  definitions: readonly SyncDefinition[];
  /** All definitions known (tombstones are purged only when one definition reads the table). */
  allDefinitions: readonly SyncDefinition[];
  dryRun?: boolean;
  full?: boolean;
  batchRows?: number;
  /** Stop before the next batch when true (a time or CPU budget); the next run resumes. */
  shouldStop?: () => boolean;
  leaseSeconds?: number;
  /** How long a batch waits for a destination connection before it fails (default 30 s). */
  connectionWaitMs?: number;
  onBatch?: (tally: DefinitionTally) => void;
}

export interface SyncRunSummary {
  runId: string;
  direction: SyncDirection;
  dryRun: boolean;
  /** false: stopped for its budget with work left; the next run resumes from the cursors. */
  complete: boolean;
  status: "succeeded" | "failed" | "busy";
  error?: string;
  tables: DefinitionTally[];
}

export const defaultBatchRows = 100_000;
const defaultLeaseSeconds = 60;

class DryRunRollback extends Error {}

export class SyncBusyError extends Error {
  constructor(readonly definitions: string[]) {
    super(`another sync run holds ${definitions.join(", ")}: not started (two runs never interleave on a table); try again when it has finished`);
    this.name = "SyncBusyError";
  }
}

export function leaseWorker(definition: string): string {
  return `sync:${definition}`;
}

/** Takes one lease per definition, all or none. */
async function takeLeases(home: Sql, definitions: readonly SyncDefinition[], holder: string, leaseSeconds: number): Promise<void> {
  const leases = databaseSlotLeases(home);
  const taken: string[] = [];
  const held: string[] = [];
  for (const definition of definitions) {
    const slot = await leases.take(leaseWorker(definition.name), 1, holder, leaseSeconds);
    if (slot === null) held.push(definition.name);
    else taken.push(definition.name);
  }
  if (held.length > 0) {
    for (const name of taken) await leases.release(leaseWorker(name), 1, holder);
    throw new SyncBusyError(held);
  }
}

async function releaseLeases(home: Sql, definitions: readonly SyncDefinition[], holder: string): Promise<void> {
  const leases = databaseSlotLeases(home);
  for (const definition of definitions) await leases.release(leaseWorker(definition.name), 1, holder).catch(() => {});
}

/** A refused run: one finished row per definition it asked for, status busy, the message naming the held ones. */
async function logRefusedRun(
  home: Sql,
  runId: string,
  direction: SyncDirection,
  dryRun: boolean,
  definitions: readonly SyncDefinition[],
  message: string,
): Promise<void> {
  await home`
    insert into conveyor.sync_runs (run_id, definition, direction, dry_run, finished_at, status, error)
    select ${runId}::uuid, d, ${direction}, ${dryRun}, pg_catalog.clock_timestamp(), 'busy', ${message}
      from unnest(${definitions.map((d) => d.name)}::text[]) as d`;
}

export async function runSync(options: SyncRunOptions): Promise<SyncRunSummary> {
  const { home, production, direction, definitions } = options;
  const dryRun = options.dryRun ?? false;
  const runId = crypto.randomUUID();
  const leaseSeconds = options.leaseSeconds ?? defaultLeaseSeconds;
  const tallies = new Map(definitions.map((d) => [d.name, emptyTally(d.name, direction)]));
  const summary = (status: SyncRunSummary["status"], complete: boolean, error?: string): SyncRunSummary => ({
    runId,
    direction,
    dryRun,
    complete,
    status,
    ...(error ? { error } : {}),
    tables: [...tallies.values()],
  });

  try {
    await takeLeases(home, definitions, runId, leaseSeconds);
  } catch (error) {
    if (!(error instanceof SyncBusyError)) throw error;
    await logRefusedRun(home, runId, direction, dryRun, definitions, error.message);
    return summary("busy", false, error.message);
  }
  let leaseLost: string | undefined;
  let lastRenewal = Date.now();
  const renewLeases = async () => {
    const leases = databaseSlotLeases(home);
    for (const definition of definitions) {
      if (!(await leases.renew(leaseWorker(definition.name), 1, runId, leaseSeconds))) leaseLost ??= definition.name;
    }
    lastRenewal = Date.now();
  };

  await home`
    insert into conveyor.sync_runs (run_id, definition, direction, dry_run)
    select ${runId}::uuid, d, ${direction}, ${dryRun} from unnest(${definitions.map((d) => d.name)}::text[]) as d`;

  const destination = direction === "push" ? production : home;
  const control: RunControl = {
    dryRun,
    full: options.full ?? false,
    batchRows: options.batchRows ?? defaultBatchRows,
    shouldStop: () => leaseLost !== undefined || (options.shouldStop?.() ?? false),
    inDestination: <T>(work: (tx: DestinationTransaction) => Promise<T>, abandon?: AbortSignal) =>
      inBatchTransaction(destination, work, { connectionWaitMs: options.connectionWaitMs, abandon }),
    afterBatch: async (name) => {
      if (Date.now() - lastRenewal > (leaseSeconds * 1000) / 4) await renewLeases();
      options.onBatch?.(tallies.get(name)!);
    },
  };

  const work = () =>
    direction === "push"
      ? pushDefinitions({ home, production, control, allDefinitions: options.allDefinitions }, definitions, tallies)
      : pullDefinitions(home, production, control, definitions, tallies);

  let result: SyncRunSummary;
  try {
    let complete: boolean;
    if (dryRun) {
      complete = false;
      try {
        await destination.begin(async (tx) => {
          control.inDestination = <T>(work: (tx: DestinationTransaction) => Promise<T>) => work({ sql: tx, ownsCommit: false });
          complete = await work();
          throw new DryRunRollback();
        });
      } catch (error) {
        if (!(error instanceof DryRunRollback)) throw error;
      }
    } else {
      complete = await work();
    }
    if (leaseLost) throw new Error(`the lease on ${leaseLost} was lost (renewed too late); stopped after the last applied batch`);
    result = summary("succeeded", complete);
  } catch (error) {
    result = summary("failed", false, error instanceof Error ? error.message : String(error));
  } finally {
    await releaseLeases(home, definitions, runId);
  }

  const failed = result.status === "failed";
  const reached = new Set<string>();
  let beforeFailure = true;
  for (const definition of definitions) {
    if (tallies.get(definition.name)!.failedHere) beforeFailure = false;
    if (beforeFailure) reached.add(definition.name);
  }
  const rows = result.tables.map((t) => ({
    definition: t.definition,
    inserted: t.inserted,
    updated: t.updated,
    deleted: t.deleted,
    bytes: t.bytes,
    status: failed && !reached.has(t.definition) ? "failed" : failed && direction === "push" ? "failed" : "succeeded",
    error: !failed ? null : t.failedHere ? result.error! : `not finished: the run stopped at ${result.tables.find((x) => x.failedHere)?.definition ?? "an error"}`,
  }));
  await home`
    update conveyor.sync_runs as r
       set finished_at = pg_catalog.clock_timestamp(),
           rows_inserted = x.inserted, rows_updated = x.updated, rows_deleted = x.deleted, bytes = x.bytes,
           status = x.status, error = x.error
      from jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb)
             as x(definition text, inserted bigint, updated bigint, deleted bigint, bytes bigint, status text, error text)
     where r.run_id = ${runId}::uuid and r.definition = x.definition`;
  return result;
}
