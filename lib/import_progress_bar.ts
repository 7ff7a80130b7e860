/**
 * Following an import job until it ends, with a progress bar on stderr (rows, bytes, rate, ETA):
 * what `deno task import --wait` and the demo show.
 */
import { finishedStatuses, type ImportProgress, importProgress, type Sql } from "./import_job.ts";
import { etaSeconds, formatBytes, formatEta, stderrProgressBar } from "./progress_bar.ts";

export interface FollowedImport {
  progress: ImportProgress;
  /** From the start of following until the job was seen finished. */
  seconds: number;
}

/**
 * Polls the job every `pollMs` until it has succeeded, failed or been cancelled; with `bar`, a
 * progress bar on stderr meanwhile. Throws after `timeoutMs` (default: never).
 */
export async function followImportJob(
  sql: Sql,
  id: number,
  options: { bar?: boolean; pollMs?: number; timeoutMs?: number } = {},
): Promise<FollowedImport> {
  const started = performance.now();
  const deadline = started + (options.timeoutMs ?? Infinity);
  const bar = options.bar
    ? stderrProgressBar("import {bar} {percentage}% | {rows} rows | {bytes} | {rate} rows/s | ETA {eta_text} | {status}", {
      withoutTerminal: true,
    })
    : undefined;
  let progress = await importProgress(sql, id);
  bar?.start(1, 0, { rows: 0, bytes: "0 B", rate: 0, eta_text: "?", status: progress.status });
  try {
    while (!finishedStatuses.has(progress.status)) {
      if (performance.now() > deadline) {
        throw new Error(`import job ${id} not finished after ${options.timeoutMs} ms: ${progress.status}, ${progress.rowsRead} rows read`);
      }
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 250));
      progress = await importProgress(sql, id);
      const seconds = (performance.now() - started) / 1000;
      const total = progress.bytesTotal ?? Math.max(progress.bytesRead, 1);
      const eta = etaSeconds(progress.bytesRead, progress.bytesTotal, seconds);
      bar?.setTotal(total);
      bar?.update(progress.bytesRead, {
        rows: progress.rowsRead,
        bytes: `${formatBytes(progress.bytesRead)}${progress.bytesTotal ? ` of ${formatBytes(progress.bytesTotal)}` : ""}`,
        rate: Math.round(progress.rowsRead / Math.max(seconds, 0.001)),
        eta_text: formatEta(eta),
        status: progress.attempts > 0 ? `${progress.status}, ${progress.attempts} retried` : progress.status,
      });
    }
  } finally {
    bar?.stop();
  }
  return { progress, seconds: (performance.now() - started) / 1000 };
}
