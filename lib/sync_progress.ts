/**
 * The progress bar of `deno task sync push|pull` (on a terminal, without --json): one bar for the
 * whole run, rows read of the rows expected, the rate, the time left, and the table at work.
 *
 * The rows expected are counted before the run, cheaply: per push definition, the source rows and
 * tombstones past its cursors at home (with --full, all of them: the table's rows); per pull
 * definition, the production table's rows (a pull reads it whole, in one batch). Rows written
 * during the run come on top: a definition's total grows to what it has read.
 */
import type postgres from "postgres";
import type { SyncDefinition, SyncDirection } from "../supabase/functions/_shared/sync/definitions.ts";
import type { DefinitionTally } from "../supabase/functions/_shared/sync/run_control.ts";
import { rowsPastCursor } from "../supabase/functions/_shared/sync/status.ts";
import { qualified } from "../supabase/functions/_shared/sync/sql_text.ts";
import { etaSeconds, formatCount, formatEta, stderrProgressBar } from "./progress_bar.ts";

type Sql = postgres.Sql;

/** Per definition name, in run order: the rows the run is expected to read. */
export type ExpectedRows = ReadonlyMap<string, number>;

/** Counts the rows each definition's run is expected to read (one query per table and stream). */
export async function expectedRows(
  home: Sql,
  production: Sql,
  definitions: readonly SyncDefinition[],
  options: { full?: boolean } = {},
): Promise<Map<string, number>> {
  const expected = new Map<string, number>();
  for (const definition of definitions) {
    if (definition.direction === "push") {
      expected.set(definition.name, (await rowsPastCursor(home, definition, { full: options.full })) ?? 0);
    } else {
      const [row] = await production.unsafe(
        `select count(*)::bigint as n from ${qualified(definition.source.schema, definition.source.table)}`,
      );
      expected.set(definition.name, Number(row.n));
    }
  }
  return expected;
}

/**
 * The rows of a definition read so far, from its tally after a batch: a push counts them; a pull
 * reports once, when it has read the whole table (its expected rows).
 */
export function rowsReadOf(tally: DefinitionTally, expected: number | undefined): number {
  return tally.direction === "pull" ? Math.max(expected ?? 0, tally.rowsRead) : tally.rowsRead;
}

export interface SyncProgressView {
  /** Rows read, and the rows expected in all (never below those read). */
  value: number;
  total: number;
  /** The bar's text fields. */
  payload: { rows: string; rate: string; eta_text: string; table: string };
}

/** What the bar shows after `elapsedSeconds`, with `read` rows per definition and `table` at work. */
export function syncProgressView(
  expected: ExpectedRows,
  read: ReadonlyMap<string, number>,
  table: string,
  elapsedSeconds: number,
): SyncProgressView {
  let value = 0;
  let total = 0;
  for (const name of new Set([...expected.keys(), ...read.keys()])) {
    const done = read.get(name) ?? 0;
    value += done;
    total += Math.max(expected.get(name) ?? 0, done);
  }
  const rate = elapsedSeconds > 0 ? value / elapsedSeconds : 0;
  return {
    value,
    total,
    payload: {
      rows: `${formatCount(value)} of ${formatCount(total)} rows`,
      rate: formatCount(rate),
      eta_text: formatEta(etaSeconds(value, total, elapsedSeconds)),
      table,
    },
  };
}

export const syncProgressFormat = "{direction} {bar} {percentage}% | {rows} | {rate} rows/s | ETA {eta_text} | {table}";

/** A sync run's bar on stderr (a terminal only): `onBatch` goes to runSync, `stop` after it. */
export function syncProgressBar(
  direction: SyncDirection,
  expected: ExpectedRows,
): { onBatch: (tally: DefinitionTally) => void; stop: () => void } {
  const bar = stderrProgressBar(syncProgressFormat);
  const started = performance.now();
  const read = new Map<string, number>();
  const seconds = () => (performance.now() - started) / 1000;
  const first = syncProgressView(expected, read, [...expected.keys()][0] ?? "", 0);
  bar.start(first.total, 0, { direction, ...first.payload });
  return {
    onBatch: (tally) => {
      read.set(tally.definition, rowsReadOf(tally, expected.get(tally.definition)));
      const view = syncProgressView(expected, read, tally.definition, seconds());
      bar.setTotal(view.total);
      bar.update(view.value, { direction, ...view.payload });
    },
    stop: () => bar.stop(),
  };
}
