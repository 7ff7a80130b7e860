/**
 * The commands' progress bars (cli-progress, on stderr) and the figures they show: bytes, counts,
 * seconds left. `deno task import --wait` and the demo follow an import job with one
 * (lib/import_progress_bar.ts), `deno task sync push|pull` a sync run (lib/sync_progress.ts).
 */
import process from "node:process";
import cliProgress from "cli-progress";

/** 1536 -> "1.5 KB". */
export function formatBytes(bytes: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** 1234567 -> "1,234,567" (rounded to a whole number). */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** Seconds left at the rate so far, or null when it cannot be told. */
export function etaSeconds(done: number, total: number | null, elapsedSeconds: number): number | null {
  if (!total || done <= 0 || elapsedSeconds <= 0 || done >= total) return done >= (total ?? Infinity) ? 0 : null;
  return Math.round((total - done) / (done / elapsedSeconds));
}

/** Seconds left as people read them: null -> "?", 42 -> "42s", 185 -> "3m 05s", 7260 -> "2h 01m". */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "?";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * A bar on stderr with `format` (cli-progress tokens: {bar}, {percentage}, {value}, {total}, and
 * the payload's names). On a terminal it redraws in place; without one it prints nothing unless
 * `withoutTerminal` asks for a line every 2 s (what a log file can keep).
 */
export function stderrProgressBar(format: string, options: { withoutTerminal?: boolean } = {}): InstanceType<typeof cliProgress.SingleBar> {
  return new cliProgress.SingleBar({
    format,
    stream: process.stderr,
    noTTYOutput: options.withoutTerminal ?? false,
    notTTYSchedule: 2000,
    hideCursor: true,
  }, cliProgress.Presets.shades_classic);
}
